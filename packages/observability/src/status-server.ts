/**
 * The small HTTP side door every Flotilla process serves: `/metrics` for
 * Prometheus and `/healthz` (`/livez`, `/readyz`) for supervisors. node:http
 * is enough; nothing else is served. Servers with more routes (the agent's
 * log server) answer these paths with serveStatus().
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METRICS_CONTENT_TYPE, type Registry } from './metrics.js';

/** What the status paths answer from. */
export interface StatusHandlerOptions {
  /** Rendered on every scrape; a Registry, or anything that refreshes its gauges before rendering. */
  registry: Pick<Registry, 'render'>;
  /** Whether the health paths answer 200; always healthy when unset. */
  healthz?: () => boolean | Promise<boolean>;
}

/** Options of startStatusServer(). */
export interface StatusServerOptions extends StatusHandlerOptions {
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Address to bind. Default 0.0.0.0. */
  host?: string;
  /** Told the bound port once the server listens. */
  logger?: { info(fields: object, msg?: string): void };
}

/** A running metrics/health server. */
export interface StatusServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);
const TEXT = 'text/plain; charset=utf-8';

/** Answers `/metrics` and the health paths on `res`; returns false (untouched) for any other path. */
export function serveStatus(req: IncomingMessage, res: ServerResponse, options: StatusHandlerOptions): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path !== '/metrics' && !HEALTH_PATHS.has(path)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
  } else if (path === '/metrics') {
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(options.registry.render());
  } else {
    Promise.resolve()
      .then(() => options.healthz?.() ?? true)
      .catch(() => false)
      .then((ok) => res.writeHead(ok ? 200 : 500, { 'content-type': TEXT }).end(ok ? 'ok' : 'unhealthy'));
  }
  return true;
}

/** Serves `/metrics` and the health paths on `host`:`port` until close(). */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    if (!serveStatus(req, res, options)) res.writeHead(404, { 'content-type': TEXT }).end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger?.info({ port }, 'serving /metrics and /healthz');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
