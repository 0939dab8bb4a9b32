/** Reading a standard kubeconfig file into what the REST client needs. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';

/** Where and how to reach the apiserver. */
export interface ClientConfig {
  /** Base URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the cluster CA that signed the server certificate. */
  ca?: string;
  /** Bearer token. */
  token?: string;
  /** PEM client certificate and key (TLS client authentication), e.g. a node's credential. */
  clientCert?: string;
  clientKey?: string;
  /** Skip server certificate verification (tests only). */
  insecureSkipTlsVerify?: boolean;
  /** The namespace of the current context, if it names one. */
  namespace?: string;
}

interface NamedCluster {
  name: string;
  cluster?: {
    server?: string;
    'certificate-authority-data'?: string;
    'certificate-authority'?: string;
    'insecure-skip-tls-verify'?: boolean;
  };
}
interface NamedUser {
  name: string;
  user?: {
    token?: string;
    tokenFile?: string;
    'client-certificate-data'?: string;
    'client-certificate'?: string;
    'client-key-data'?: string;
    'client-key'?: string;
  };
}
interface NamedContext {
  name: string;
  context?: { cluster?: string; user?: string; namespace?: string };
}
interface KubeconfigFile {
  'current-context'?: string;
  clusters?: NamedCluster[];
  users?: NamedUser[];
  contexts?: NamedContext[];
}

/** Options of loadKubeconfig. */
export interface LoadKubeconfigOptions {
  /** Use this context instead of current-context. */
  context?: string;
}

/** The kubeconfig path to use: the argument, else the first existing file of $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPath(path?: string): string {
  if (path) return path;
  const env = process.env.KUBECONFIG;
  if (env) {
    const candidates = env.split(':').filter(Boolean);
    return candidates.find((p) => existsSync(p)) ?? candidates[0] ?? join(homedir(), '.kube', 'config');
  }
  return join(homedir(), '.kube', 'config');
}

/**
 * Loads the current context of a kubeconfig: the cluster's server and CA
 * (inline data or a file relative to the kubeconfig's directory) and the
 * user's token (inline or tokenFile). Errors name the file and the entry.
 */
export function loadKubeconfig(path?: string, options: LoadKubeconfigOptions = {}): ClientConfig {
  const file = resolve(kubeconfigPath(path));
  const fail = (why: string): never => {
    throw new Error(`kubeconfig ${file}: ${why}`);
  };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return fail(`cannot read: ${(err as Error).message}`);
  }
  let doc: KubeconfigFile;
  try {
    doc = (parse(text) ?? {}) as KubeconfigFile;
  } catch (err) {
    return fail(`not valid YAML: ${(err as Error).message}`);
  }
  const base = dirname(file);
  const readRelative = (p: string, what: string): string => {
    const full = isAbsolute(p) ? p : join(base, p);
    try {
      return readFileSync(full, 'utf8');
    } catch (err) {
      return fail(`cannot read ${what} ${full}: ${(err as Error).message}`);
    }
  };

  const contextName = options.context ?? doc['current-context'];
  if (!contextName) fail('no current-context set');
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) fail(`context "${contextName}" not found`);
  const cluster = doc.clusters?.find((c) => c.name === context!.cluster)?.cluster;
  if (!cluster) fail(`cluster "${context!.cluster ?? ''}" of context "${contextName}" not found`);
  if (!cluster!.server) fail(`cluster "${context!.cluster}" has no server`);

  const config: ClientConfig = { server: cluster!.server!.replace(/\/+$/, '') };
  if (cluster!['certificate-authority-data']) {
    config.ca = Buffer.from(cluster!['certificate-authority-data'], 'base64').toString('utf8');
  } else if (cluster!['certificate-authority']) {
    config.ca = readRelative(cluster!['certificate-authority'], 'certificate-authority');
  }
  if (cluster!['insecure-skip-tls-verify']) config.insecureSkipTlsVerify = true;

  if (context!.user) {
    const user = doc.users?.find((u) => u.name === context!.user)?.user;
    if (!user) fail(`user "${context!.user}" of context "${contextName}" not found`);
    if (user!.token) config.token = user!.token;
    else if (user!.tokenFile) config.token = readRelative(user!.tokenFile, 'tokenFile').trim();
    const pem = (data: string | undefined, file: string | undefined, what: string) =>
      data ? Buffer.from(data, 'base64').toString('utf8') : file ? readRelative(file, what) : undefined;
    const cert = pem(user!['client-certificate-data'], user!['client-certificate'], 'client-certificate');
    const key = pem(user!['client-key-data'], user!['client-key'], 'client-key');
    if ((cert === undefined) !== (key === undefined)) fail(`user "${context!.user}" needs both a client certificate and its key`);
    if (cert && key) {
      config.clientCert = cert;
      config.clientKey = key;
    }
  }
  if (context!.namespace) config.namespace = context!.namespace;
  return config;
}
