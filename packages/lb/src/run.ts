/** `flotilla lb`: the TcpBalancer as a process, with /metrics and /healthz. */
import { readFile } from 'node:fs/promises';
import { createLogger, Registry, startStatusServer, type Logger } from '@flotilla/observability';
import { TcpBalancer, type Backend } from './tcp-balancer.js';

/** Everything `flotilla lb` is configured with. */
export interface LoadBalancerConfig {
  listen: Backend;
  backends: Backend[];
  /** The cluster CA file: health checks verify the apiservers' certificates with it. */
  caFile?: string;
  healthPath?: string;
  healthIntervalMs?: number;
  /** /metrics and /healthz; port -1: none. */
  metrics?: Backend;
  logger?: Logger;
}

/** Runs the balancer until `signal` aborts. */
export async function runLoadBalancer(config: LoadBalancerConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('lb');
  const registry = new Registry();
  const balancer = new TcpBalancer({
    listen: config.listen,
    backends: config.backends,
    registry,
    logger: log,
    ...(config.caFile ? { ca: await readFile(config.caFile) } : {}),
    ...(config.healthPath !== undefined ? { healthPath: config.healthPath } : {}),
    ...(config.healthIntervalMs !== undefined ? { healthIntervalMs: config.healthIntervalMs } : {}),
  });
  await balancer.start();
  const status =
    config.metrics && config.metrics.port >= 0
      ? await startStatusServer({ port: config.metrics.port, host: config.metrics.host, registry, healthz: () => balancer.healthy().length > 0, logger: log })
      : undefined;
  try {
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    await status?.close();
    await balancer.close();
  }
}
