/**
 * The controller-manager's small HTTP side door: `/metrics` for Prometheus
 * and `/healthz` (`/livez`, `/readyz`) for supervisors. node:http is enough.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METRICS_CONTENT_TYPE } from '@flotilla/observability';

/** A running metrics/health server. */
export interface StatusServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` from `render()` and the health paths from `healthy()` on `host`:`port`. */
export async function startStatusServer(render: () => string, port: number, host: string, healthy: () => boolean = () => true): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(render());
    } else if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 500, { 'content-type': 'text/plain; charset=utf-8' }).end(ok ? 'ok' : 'unhealthy');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
