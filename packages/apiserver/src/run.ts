import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createLogger, Registry, type Logger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';
import { DefaultAuthorizer } from './auth/authorizer.js';
import { NodeGraph } from './auth/node-graph.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BootstrapTokenAuthenticator } from './auth/bootstrap-token.js';
import { TokenAuthenticator } from './auth/token-file.js';
import { ClientCertAuthenticator, UnionAuthenticator } from './auth/x509.js';
import { loadEncryptionConfig } from './encryption-config.js';
import { KubernetesServiceReconciler } from './kubernetes-service.js';
import { MetricsApi } from './metrics-api.js';
import { registerNodeCertificates } from './node-certificate-endpoint.js';
import { createPodLogProxy, registerTokenReview } from './pod-log-proxy.js';
import { createApiServer, type ApiServer } from './server.js';
import { ensureKubeletClientCert } from './tls/node-certs.js';
import { CERT_FILES, ensureServingCerts } from './tls/serving-certs.js';
import { apiServerWorkerNumber, joinApiServerWorkers } from './workers.js';

/** Everything `flotilla apiserver` is configured with (flags named as kube-apiserver's). */
export interface ApiServerConfig {
  /** etcd client URLs (--etcd-servers). */
  etcdServers: string[];
  /** Root of every key in etcd (--etcd-prefix), `/registry` by default. */
  etcdPrefix: string;
  /** Compact etcd's history this often, keeping one interval of it (--etcd-compaction-interval); 0 never. Default 5 min. */
  etcdCompactionIntervalMs?: number;
  /** How long an Event lives after its last write (--event-ttl); 0 for ever. Default 1 h, as kube-apiserver's. */
  eventTtlMs?: number;
  /** Address to listen on (--bind-address). */
  bindAddress: string;
  /** HTTPS port (--secure-port); 0 lets the kernel choose, and the `listening` log line says which. */
  securePort: number;
  /** Where the CA and serving cert are created and reused (--cert-dir). */
  certDir: string;
  /** Serve this pair instead (--tls-cert-file, --tls-private-key-file). */
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** Static token file (--token-auth-file). */
  tokenAuthFile: string;
  /** The address clients use (--advertise-address); added to the serving cert and the logged URL. */
  advertiseAddress?: string;
  /** More names and IPs for the serving cert (--tls-san). */
  extraSans?: string[];
  logger?: Logger;
  /** How long open requests (watches) get to finish on shutdown before their connections are cut. Default 5 s. */
  shutdownGraceMs?: number;
  /** Cluster IPs of Services (--service-cluster-ip-range), 10.96.0.0/16 by default; its first address is the `kubernetes` Service's. */
  serviceClusterIPRange?: string;
  /** Node ports of Services (--service-node-port-range), 30000-32767 by default. */
  serviceNodePortRange?: string;
  /** Kubernetes EncryptionConfiguration file (--encryption-provider-config); default: generated in the cert dir, encrypting Secrets. */
  encryptionProviderConfig?: string;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** `https://host:port`, bracketing IPv6. */
function httpsUrl(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** The address the `kubernetes` Endpoints carry: as kube-apiserver, the advertise address, else the bind address, else the host's first non-loopback IPv4. */
function endpointAddress(config: ApiServerConfig): string {
  if (config.advertiseAddress) return config.advertiseAddress;
  if (!WILDCARDS.has(config.bindAddress)) return config.bindAddress;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/**
 * The files an apiserver reads at start, created when missing: the serving
 * certificate (and the cluster CA), the client certificate for agents, the
 * encryption configuration. Run once before several workers start, so they
 * do not race to create them.
 */
export async function prepareApiServerFiles(config: ApiServerConfig, log: Logger) {
  const hosts = [...(config.extraSans ?? [])];
  if (config.advertiseAddress) hosts.push(config.advertiseAddress);
  if (!WILDCARDS.has(config.bindAddress)) hosts.push(config.bindAddress);
  const certs = await ensureServingCerts({
    certDir: config.certDir,
    hosts,
    ...(config.tlsCertFile ? { tlsCertFile: config.tlsCertFile } : {}),
    ...(config.tlsPrivateKeyFile ? { tlsPrivateKeyFile: config.tlsPrivateKeyFile } : {}),
  });
  log.info({ action: certs.action, reason: certs.reason, certFile: certs.certFile, caFile: certs.caFile, hosts: certs.hosts }, 'serving certificate');
  // The apiserver → agent channel: our client certificate, signed by the cluster CA (which also signs the agents').
  const nodeTls = await ensureKubeletClientCert(config.certDir).catch((err: unknown) => {
    // An operator-supplied serving pair without the CA key: the API works, node streams (logs, exec) do not.
    log.warn({ err: (err as Error).message }, 'no client certificate for agents: pods/log, exec, attach and port-forward are unavailable');
    return undefined;
  });
  const encryption = await loadEncryptionConfig({ certDir: config.certDir, ...(config.encryptionProviderConfig ? { file: config.encryptionProviderConfig } : {}) });
  log.info({ file: encryption.file, generated: encryption.generated, encrypted: encryption.encrypted }, 'encryption at rest');
  return { certs, nodeTls, encryption };
}

/**
 * Runs the apiserver until `signal` aborts: loads the token file, makes sure
 * the serving certificate exists, connects the etcd storage, listens over
 * HTTPS and logs `listening` with the URL. On abort it stops accepting,
 * ends watches, closes the etcd client and resolves. In an apiserver worker
 * (`--workers`), /metrics serves every worker's figures.
 */
export async function run(config: ApiServerConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('apiserver');
  const tokenFile = await TokenAuthenticator.fromFile(config.tokenAuthFile);
  log.info({ file: config.tokenAuthFile, users: tokenFile.size }, 'loaded token file');
  const { certs, nodeTls, encryption } = await prepareApiServerFiles(config, log);
  if (signal.aborted) return;
  const registry = new Registry();
  const metricsText = apiServerWorkerNumber() ? joinApiServerWorkers(() => registry.render()) : undefined;

  // FLOTILLA_READ_CACHE=false sends every get to etcd (an escape hatch, and the benchmark's A/B switch).
  // FLOTILLA_ETCD_WATCH=etcd3 watches through etcd3's grpc-js stream instead of the lean one (the same kind of switch).
  const storage = new EtcdStorage({
    endpoints: config.etcdServers,
    prefix: config.etcdPrefix,
    logger: log,
    readCache: process.env.FLOTILLA_READ_CACHE !== 'false',
    watchClient: process.env.FLOTILLA_ETCD_WATCH === 'etcd3' ? 'etcd3' : 'lean',
    compactionIntervalMs: config.etcdCompactionIntervalMs ?? 5 * 60_000,
    transformer: encryption.transformer,
    objectTtlSeconds: { events: Math.ceil((config.eventTtlMs ?? 60 * 60_000) / 1000) },
  });
  // The cluster CA also vouches for client certificates (nodes that joined with a bootstrap token); tokens are checked after them.
  const clientCa = certs.ca ?? (await readFile(join(config.certDir, CERT_FILES.caCert), 'utf8').catch(() => undefined));
  const authenticator = new UnionAuthenticator([
    ...(clientCa ? [new ClientCertAuthenticator(clientCa)] : []),
    tokenFile,
    new BootstrapTokenAuthenticator(storage, { onReject: (id, why) => log.info({ tokenId: id, why }, 'bootstrap token refused') }),
  ]);
  let server: ApiServer | undefined;
  const stopReconciler = new AbortController();
  // Which Secrets and ConfigMaps each node may read: kept from a watch on pods until shutdown.
  const nodeGraph = new NodeGraph(storage, log);
  const graphRun = nodeGraph.run(stopReconciler.signal);
  let reconciler: Promise<void> | undefined;
  try {
    server = createApiServer({
      storage,
      registry,
      ...(metricsText ? { metricsText } : {}),
      authenticator,
      authorizer: new DefaultAuthorizer({
        nodeGraph,
        csrRequester: async (name) => {
          const csr = await storage.get('certificatesigningrequests', undefined, name).catch(() => undefined);
          return (csr?.spec as { username?: string } | undefined)?.username;
        },
      }),
      logger: log,
      // The chain carries the CA so a joining node can pin it by hash (--discovery-token-ca-cert-hash) before it trusts anything.
      https: { key: certs.key, cert: certs.ca ? `${certs.cert.trimEnd()}\n${certs.ca}` : certs.cert, ...(clientCa ? { clientCa } : {}) },
      // Agents are reached over mutual TLS (node-client.ts): no token of ours ever goes to a node.
      ...(nodeTls ? { podLogHandler: createPodLogProxy({ storage, nodeTls, logger: log }), nodeTls, metricsApi: new MetricsApi(storage, nodeTls, log) } : {}),
      ...(config.serviceClusterIPRange ? { serviceClusterIPRange: config.serviceClusterIPRange } : {}),
      ...(config.serviceNodePortRange ? { serviceNodePortRange: config.serviceNodePortRange } : {}),
    });
    registerTokenReview(server, new UnionAuthenticator([tokenFile, new BootstrapTokenAuthenticator(storage)]));
    registerNodeCertificates(server, storage, config.certDir);
    await server.listen({ host: config.bindAddress, port: config.securePort });
    const port = (server.server.address() as AddressInfo).port;
    const host = config.advertiseAddress ?? (WILDCARDS.has(config.bindAddress) ? '127.0.0.1' : config.bindAddress);
    log.info({ url: httpsUrl(host, port), port, bindAddress: config.bindAddress, etcd: config.etcdServers, prefix: config.etcdPrefix }, 'listening');
    reconciler = new KubernetesServiceReconciler(storage, server.serviceAllocator, { address: endpointAddress(config), port, logger: log }).run(stopReconciler.signal);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    // First out of the kubernetes Endpoints (needs the store), then close.
    stopReconciler.abort();
    await reconciler;
    await graphRun;
    await shutdown(log, server, storage, config.shutdownGraceMs ?? 5_000);
  }
}

/**
 * Stops accepting, lets fastify end the watches (its preClose hook) and the
 * open requests, then closes the etcd client; connections still open after
 * the grace period are cut so a stuck client cannot hold the process.
 */
async function shutdown(log: Logger, server: ApiServer | undefined, storage: EtcdStorage, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  if (server) {
    const closing = server.close();
    // Node closes only the connections idle at close(); a watch that fastify ends afterwards
    // leaves a keep-alive socket that would hold the process for the keep-alive timeout.
    const sweeper = setInterval(() => server.server.closeIdleConnections?.(), 50);
    void closing.finally(() => clearInterval(sweeper));
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    if ((await Promise.race([closing.then(() => 'closed' as const), grace])) === 'timeout') {
      log.warn({ graceMs }, 'requests still open after the grace period; closing their connections');
      server.server.closeAllConnections?.();
      await closing;
    }
    clearTimeout(timer);
  }
  await storage.close().catch((err: unknown) => log.warn({ err }, 'closing the etcd client failed'));
}
