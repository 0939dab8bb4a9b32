/**
 * `flotilla ingress` as a process: client from a kubeconfig, the
 * IngressController feeding the ProxyServer, the HTTP (and HTTPS) listeners
 * and the /metrics + /healthz server. The CLI only parses flags into an
 * IngressConfig and calls run().
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { EventRecorder, RestClient, type ApiClient } from '@flotilla/client';
import { createLogger, startStatusServer, type Logger } from '@flotilla/observability';
import { createAccessLog } from './access-log.js';
import { IngressController, type EndpointsFrom } from './ingress-controller.js';
import { IngressMetrics } from './metrics.js';
import { ProxyServer } from './proxy-server.js';
import { RouteTable } from './route-table.js';
import { selfSignedPair, TlsStore } from './tls-store.js';

/** Everything `flotilla ingress` can set. */
export interface IngressConfig {
  kubeconfig?: string;
  /** Plain HTTP port. Default 80; 0 picks a free one. */
  httpPort?: number;
  /** HTTPS port. Default 443; -1 serves no HTTPS. */
  httpsPort?: number;
  /** Address the proxy listens on. Default 0.0.0.0. */
  bindAddress?: string;
  /** Default `flotilla`. */
  ingressClass?: string;
  /** Default `flotilla.dev/ingress`. */
  controllerName?: string;
  /** Written to status.loadBalancer.ingress; no status writes when unset. */
  publishAddress?: string;
  /** `host:port` of /metrics and /healthz; port -1 serves none. Default 127.0.0.1:10254. */
  metricsBindAddress?: string;
  endpointsFrom?: EndpointsFrom;
  /** One JSON line per request. Default true. */
  accessLog?: boolean;
  client?: ApiClient;
  logger?: Logger;
  /** Told the bound ports once everything listens and the first route table is built. */
  onReady?: (ports: { http: number; https?: number; metrics?: number }) => void;
}

/** Splits `host:port` (IPv6 in brackets). */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(-?\d+)$/.exec(value);
  if (!m) throw new Error(`want host:port, got "${value}"`);
  return { host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
async function drain(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}

/** Runs the ingress until `signal` aborts; rejects if it cannot start. */
export async function run(config: IngressConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('ingress');
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-ingress' });
  const metrics = new IngressMetrics();
  const access = config.accessLog ?? true ? createAccessLog('ingress') : undefined;
  const proxy = new ProxyServer({ table: new RouteTable([]), backends: new Map(), tlsHosts: new Set() }, { logger: log, metrics, accessLog: !!access, ...(access ? { accessLogger: access.logger } : {}) });
  const identity = hostname();
  const httpsPort = config.httpsPort ?? 443;
  const tls = httpsPort >= 0 ? new TlsStore(await selfSignedPair()) : undefined;
  const controller = new IngressController({
    client,
    logger: log,
    metrics,
    events: new EventRecorder(client, { component: 'flotilla-ingress', instance: identity, logger: log }),
    className: config.ingressClass ?? 'flotilla',
    controllerName: config.controllerName ?? 'flotilla.dev/ingress',
    publishAddress: config.publishAddress,
    endpointsFrom: config.endpointsFrom,
    onSnapshot: (s) => proxy.setSnapshot(s),
    tls,
  });

  const bind = config.bindAddress ?? '0.0.0.0';
  // Node's defaults close idle client connections after 5 s; nginx keeps them 75 s.
  const http = createServer({ keepAliveTimeout: 75_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => proxy.handle(req, res, 'http'));
  http.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head, 'http'));
  const servers: Server[] = [http];
  let https: Server | undefined;
  if (tls) {
    // The default certificate answers handshakes without SNI or for hosts without a Secret.
    https = createHttpsServer({ SNICallback: tls.sniCallback, ...tls.defaultPair, keepAliveTimeout: 75_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => proxy.handle(req, res, 'https'));
    https.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head, 'https'));
    servers.push(https);
  }
  for (const s of servers) {
    s.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  let ready = false;
  const metricsAddr = parseHostPort(config.metricsBindAddress ?? '127.0.0.1:10254');
  const status = metricsAddr.port >= 0 ? await startStatusServer({ registry: metrics.registry, port: metricsAddr.port, host: metricsAddr.host, logger: log, healthz: () => ready }) : undefined;
  const controllerDone = controller.run(signal, () => {
    ready = true;
  });
  try {
    const httpPort = await listen(http, config.httpPort ?? 80, bind);
    const boundHttps = https ? await listen(https, httpsPort, bind) : undefined;
    log.info({ port: httpPort, httpsPort: boundHttps, bind, ingressClass: config.ingressClass ?? 'flotilla' }, 'serving HTTP');
    // Traffic before the first route table would all be 404: tell the caller only once routes exist.
    while (!ready && !signal.aborted) await new Promise((r) => setTimeout(r, 20));
    if (!signal.aborted) config.onReady?.({ http: httpPort, https: boundHttps, metrics: status?.port });
    await controllerDone;
  } finally {
    log.debug('draining listeners');
    await Promise.all(servers.map((s) => drain(s, 5_000)));
    log.debug('closing backend pools');
    await proxy.close();
    access?.close();
    log.debug('closing the status server');
    await status?.close();
    log.info('ingress stopped');
  }
}
