/**
 * `flotilla ingress` as a process: client from a kubeconfig, the
 * IngressController feeding the data plane (ProxyServer and the HTTP and
 * HTTPS listeners, in this process or in `--workers` worker processes), and
 * the /metrics + /healthz server. The CLI only parses flags into an
 * IngressConfig and calls run().
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, hostname } from 'node:os';
import { EventRecorder, RestClient, type ApiClient } from '@flotilla/client';
import { createLogger, mergeExpositions, METRICS_CONTENT_TYPE, serveStatus, type Logger } from '@flotilla/observability';
import { AppliedReporter } from '@flotilla/proxy';
import { startDataPlane, type DataPlane } from './data-plane.js';
import { IngressController, type EndpointsFrom } from './ingress-controller.js';
import { IngressMetrics } from './metrics.js';
import type { WireSnapshot } from './snapshot-wire.js';
import { selfSignedPair, TlsStore } from './tls-store.js';
import { WorkerPool } from './worker-pool.js';

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
  /**
   * Processes serving traffic. Default: one per core (os.availableParallelism()),
   * like nginx's `worker_processes auto`. 1 serves in this process; more fork
   * worker processes sharing the ports, fed by this one's informers.
   */
  workers?: number;
  /**
   * Keep a proxy Lease reporting the EndpointSlice revision every worker
   * serves by, so agents hold a deleted pod's SIGTERM until the ingress
   * stopped sending it requests (as they do for flotilla proxy). Default
   * true; only with endpointsFrom `endpointslices`.
   */
  reportApplied?: boolean;
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

/** The default of `--workers`: one per core, as nginx's `worker_processes auto`. */
export function defaultWorkers(): number {
  return availableParallelism();
}

/** Runs the ingress until `signal` aborts; rejects if it cannot start. */
export async function run(config: IngressConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('ingress');
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-ingress' });
  const workers = config.workers ?? defaultWorkers();
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`workers must be a positive integer, got ${workers}`);
  const metrics = new IngressMetrics();
  const identity = hostname();
  const httpsPort = config.httpsPort ?? 443;
  const defaultPair = httpsPort >= 0 ? await selfSignedPair() : undefined;
  const bind = config.bindAddress ?? '0.0.0.0';
  const accessLog = config.accessLog ?? true;
  const graceMs = 5_000;

  // One process (workers 1): the data plane beside the controller. Otherwise a pool of
  // worker processes, each with a data plane, fed by this one over IPC.
  let plane: DataPlane | undefined;
  const slices = (config.endpointsFrom ?? 'endpointslices') === 'endpointslices';
  // Named by host and port: stable across restarts, distinct for several ingresses on one machine.
  const reporter = config.reportApplied !== false && slices ? new AppliedReporter({ client, name: `ingress-${identity.toLowerCase()}-${config.httpPort ?? 80}`, logger: log }) : undefined;
  let pool: WorkerPool | undefined;
  let ports: { http: number; https?: number };
  // The controller's TlsStore parses the Secrets to report bad ones; with workers, they serve.
  const tls = defaultPair ? new TlsStore(defaultPair) : undefined;
  if (workers === 1) {
    plane = await startDataPlane({ logger: log, metrics, httpPort: config.httpPort ?? 80, httpsPort, bindAddress: bind, accessLog, ...(defaultPair ? { defaultPair } : {}) });
    ports = plane.ports;
  } else {
    pool = new WorkerPool(workers, { httpPort: config.httpPort ?? 80, httpsPort, bindAddress: bind, accessLog, logLevel: log.level, graceMs, ...(defaultPair ? { defaultPair } : {}) }, log, (rv) => reporter?.report(rv));
    try {
      ports = await pool.start();
    } catch (err) {
      await pool.stop(0);
      throw err;
    }
  }
  const controller = new IngressController({
    client,
    logger: log,
    metrics,
    events: new EventRecorder(client, { component: 'flotilla-ingress', instance: identity, logger: log }),
    className: config.ingressClass ?? 'flotilla',
    controllerName: config.controllerName ?? 'flotilla.dev/ingress',
    publishAddress: config.publishAddress,
    endpointsFrom: config.endpointsFrom,
    onSnapshot: (s) => plane?.proxy.setSnapshot(s),
    // One process: the snapshot serves as soon as it is set. Workers report back what they applied.
    ...(pool ? {} : { onBuilt: (rv: string | undefined) => reporter?.report(rv) }),
    ...(pool ? { onWire: (w: WireSnapshot) => pool.broadcast(w) } : {}),
    tls: plane ? plane.tls : tls,
  });

  let synced = false;
  const ready = () => synced && (!pool || pool.ready());
  const metricsAddr = parseHostPort(config.metricsBindAddress ?? '127.0.0.1:10254');
  // With workers, a scrape sums their counters (the request metrics live there) with ours.
  const render = pool ? async () => mergeExpositions([metrics.render(), ...(await pool.metrics())]) : () => metrics.render();
  const status = metricsAddr.port >= 0 ? await startIngressStatusServer({ render, port: metricsAddr.port, host: metricsAddr.host, healthz: ready }) : undefined;
  log.info({ port: ports.http, httpsPort: ports.https, bind, workers, metricsPort: status?.port, ingressClass: config.ingressClass ?? 'flotilla' }, 'serving HTTP');
  const controllerDone = controller.run(signal, () => {
    synced = true;
  });
  const reporterDone = reporter?.run(signal);
  try {
    // Traffic before the first route table would all be 404: tell the caller only once routes exist everywhere.
    while (!ready() && !signal.aborted) await new Promise((r) => setTimeout(r, 20));
    if (!signal.aborted) config.onReady?.({ ...ports, metrics: status?.port });
    await controllerDone;
  } finally {
    await reporterDone;
    await plane?.close(graceMs);
    await pool?.stop(graceMs);
    log.debug('closing the status server');
    await status?.close();
    log.info('ingress stopped');
  }
}

/** /metrics (rendered by `render`, possibly asynchronously) and the health paths. */
async function startIngressStatusServer(o: { render: () => string | Promise<string>; port: number; host: string; healthz: () => boolean }): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      Promise.resolve()
        .then(o.render)
        .then(
          (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`rendering metrics: ${(err as Error).message}\n`),
        );
      return;
    }
    if (!serveStatus(req, res, { registry: { render: () => '' }, healthz: o.healthz })) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
