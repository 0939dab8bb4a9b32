import { mkdir, rename, writeFile, chmod } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { stringify } from 'yaml';

/** What a single-cluster, single-user kubeconfig holds. */
export interface KubeconfigSpec {
  /** `https://host:port` of the apiserver. */
  server: string;
  /** Base64 of the cluster CA PEM (`certificate-authority-data`). */
  caData: string;
  token: string;
  user: string;
  /** Name of the cluster entry; `flotilla` by default. */
  cluster?: string;
  /** Name of the context; `<user>@<cluster>` by default. */
  context?: string;
  /** Namespace of the context, if any. */
  namespace?: string;
}

/** The kubeconfig document (apiVersion v1, kind Config) that kubectl and @flotilla/client read. */
export function buildKubeconfig(spec: KubeconfigSpec): Record<string, unknown> {
  let url: URL;
  try {
    url = new URL(spec.server);
  } catch {
    throw new Error(`--server ${JSON.stringify(spec.server)} is not a URL (want https://host:port)`);
  }
  // kubectl refuses to send a bearer token over plain HTTP, and the apiserver serves HTTPS only.
  if (url.protocol !== 'https:') throw new Error(`--server ${spec.server} must be an https:// URL`);
  if (spec.token === '' || /[\s,]/.test(spec.token)) throw new Error('--token must be non-empty, without whitespace or commas');
  if (spec.user === '') throw new Error('--user must not be empty');
  const cluster = spec.cluster ?? 'flotilla';
  const context = spec.context ?? `${spec.user}@${cluster}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: cluster, cluster: { server: spec.server.replace(/\/+$/, ''), 'certificate-authority-data': spec.caData } }],
    users: [{ name: spec.user, user: { token: spec.token } }],
    contexts: [{ name: context, context: { cluster, user: spec.user, ...(spec.namespace ? { namespace: spec.namespace } : {}) } }],
    'current-context': context,
  };
}

/** The kubeconfig as YAML text. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  return stringify(buildKubeconfig(spec));
}

/** Writes a kubeconfig atomically with mode 0600: it carries a bearer token. */
export async function writeKubeconfig(path: string, text: string): Promise<string> {
  const file = resolve(path);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}
