import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { superviseProcess } from './child-process.js';
import { deleteEtcdPrefix } from './etcd.js';
import { etcdEndpoints, flotillaBin } from './env.js';
import { freePort } from './free-port.js';
import { apiRequest, type Endpoint } from './https.js';
import { writeKubeconfig } from './kubeconfig.js';

/** Node names that get a token in every test apiserver's token file. */
export const TEST_NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'] as const;

/** Options of startApiServer. */
export interface StartApiServerOptions {
  /** etcd key prefix; a fresh `/e2e-<random>` by default. Pass another server's prefix to share its data. */
  prefix?: string;
  /** More `flotilla apiserver` flags. */
  extraArgs?: string[];
  /** How long to wait for /readyz (default 30 s). */
  readyTimeout?: number;
  /** etcd endpoints; the test etcd (FLOTILLA_ETCD_ENDPOINTS) by default. */
  etcd?: string[];
  /** More node names that get a `system:node:<name>` token (besides TEST_NODES), e.g. a unique name per test. */
  extraNodes?: string[];
  /**
   * Address to listen on and to reach it by (default 127.0.0.1). A host
   * cluster's gateway (createHosts().gateway) lets agents inside the hosts'
   * network namespaces reach it.
   */
  bindAddress?: string;
  /**
   * Another apiserver of the same cluster: this one shares its etcd prefix,
   * certificates (CA, serving certificate, encryption key) and tokens, as
   * apiservers behind one load balancer do. Its stop() leaves the data.
   */
  peerOf?: TestApiServer;
}

/** A running `flotilla apiserver` process and everything needed to talk to it. */
export interface TestApiServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The etcd key prefix it stores under. */
  prefix: string;
  /** The generated cluster CA (ca.crt in the cert dir) and its PEM. */
  caFile: string;
  caPem: string;
  certDir: string;
  /** Token of user `admin`, group system:masters. */
  adminToken: string;
  /** Token of user `system:node:<name>`, group system:nodes (node-1 … node-5). */
  nodeToken(name: string): string;
  /** A kubeconfig for the admin (server, embedded CA, token). */
  kubeconfigPath: string;
  /** Endpoint for apiRequest/openWatch as the admin, or with another token. */
  endpoint(token?: string): Endpoint;
  /** PID of the current process (changes on restart). */
  pid(): number | undefined;
  /** Sends a signal and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again (stopping it first if it still runs): same port, certs, tokens and prefix. */
  restart(): Promise<void>;
  /** SIGTERM (SIGKILL after 15 s), then deletes the etcd prefix and the temporary files. */
  stop(): Promise<void>;
  /** Everything the process (all its incarnations) wrote to stdout and stderr. */
  logs(): string;
}

const token = () => randomBytes(24).toString('base64url');

/**
 * Spawns the real `flotilla apiserver` (packages/cli/dist) on a free port
 * against the test etcd, with a token file for an admin and five nodes,
 * waits until /readyz answers over HTTPS with the generated CA, and writes
 * an admin kubeconfig.
 */
export async function startApiServer(options: StartApiServerOptions = {}): Promise<TestApiServer> {
  const bin = flotillaBin();
  const endpoints = options.etcd ?? etcdEndpoints();
  const peer = options.peerOf;
  const prefix = peer?.prefix ?? options.prefix ?? `/e2e-${randomBytes(6).toString('hex')}`;
  const ownsData = !peer && !options.prefix;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-e2e-'));
  const certDir = peer?.certDir ?? join(dir, 'certs');
  const tokenFile = peer ? join(dirname(peer.certDir), 'tokens.csv') : join(dir, 'tokens.csv');
  const kubeconfigPath = join(dir, 'kubeconfig');
  const caFile = join(certDir, 'ca.crt');
  const port = await freePort();
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  const url = `https://${bindAddress}:${port}`;

  const adminToken = peer?.adminToken ?? token();
  const nodeTokens = new Map<string, string>([...TEST_NODES, ...(options.extraNodes ?? [])].map((n) => [n, peer ? peer.nodeToken(n) : token()]));
  if (!peer) {
    const lines = [`${adminToken},admin,admin-uid,"system:masters"`];
    for (const [name, t] of nodeTokens) lines.push(`${t},system:node:${name},node-uid-${name},"system:nodes"`);
    await writeFile(tokenFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  }

  const args = [
    bin,
    'apiserver',
    '--etcd-servers', endpoints.join(','),
    '--etcd-prefix', prefix,
    '--bind-address', bindAddress,
    '--secure-port', String(port),
    '--cert-dir', certDir,
    '--token-auth-file', tokenFile,
    ...(options.extraArgs ?? []),
  ];

  let caPem = '';
  const adminEndpoint = (t: string | undefined = adminToken): Endpoint => ({ url, ca: caPem, ...(t ? { token: t } : {}) });
  const proc = superviseProcess({
    name: 'apiserver',
    readyMessage: `flotilla apiserver on ${url} to be ready`,
    readyTimeout: options.readyTimeout ?? 30_000,
    stopGraceMs: 15_000,
    incarnation: async () => ({
      args,
      command: `node ${args.slice(1).join(' ')}`,
      ready: async () => {
        if (!caPem) caPem = await readFile(caFile, 'utf8');
        const res = await apiRequest(adminEndpoint(), 'GET', '/readyz');
        if (res.status !== 200) throw new Error(`/readyz answered ${res.status}: ${res.text.slice(0, 200)}`);
        return true;
      },
    }),
  });

  try {
    await proc.launch();
    await writeKubeconfig(kubeconfigPath, { server: url, caPem, token: adminToken, user: 'admin', cluster: 'flotilla-e2e' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (ownsData) await deleteEtcdPrefix(endpoints, `${prefix}/`).catch(() => undefined);
    throw err;
  }

  return {
    url,
    port,
    prefix,
    caFile,
    caPem,
    certDir,
    adminToken,
    kubeconfigPath,
    nodeToken(name: string) {
      const t = nodeTokens.get(name);
      if (!t) throw new Error(`no token for node ${name}; the test apiserver knows ${[...nodeTokens.keys()].join(', ')}`);
      return t;
    },
    endpoint: adminEndpoint,
    pid: proc.pid,
    kill: proc.kill,
    async restart() {
      await proc.stop();
      await proc.launch();
    },
    async stop() {
      await proc.stop();
      if (!peer) await deleteEtcdPrefix(endpoints, `${prefix}/`);
      await rm(dir, { recursive: true, force: true });
    },
    logs: proc.logs,
  };
}
