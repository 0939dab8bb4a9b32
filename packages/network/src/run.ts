/**
 * `flotilla host-routes`: the route sync as a process of its own, for a
 * machine that runs no agent but must reach pods — the control plane's (the
 * apiserver proxies to pods, tests and DNS talk to them). It makes the route
 * sink first (so nothing leaks while the routes are missing), then keeps one
 * route per Node's pod range via the Node's InternalIP. Once `flotilla proxy`
 * runs on every machine it can embed HostGatewayRoutes and this process goes.
 */
import { RestClient, type ApiClient } from '@flotilla/client';
import { createLogger, Registry, startStatusServer, type Logger } from '@flotilla/observability';
import { runHostGatewayRoutes } from './host-gw-routes.js';
import { IpRouteTable } from './route-table.js';
import { DEFAULT_SINK_CIDRS, ensureSink } from './sink.js';

/** Everything `flotilla host-routes` is configured with. */
export interface HostRoutesConfig {
  kubeconfig?: string;
  /** This machine's Node, whose own range is not routed; unset when it runs no pods. */
  nodeName?: string;
  /** Only routes inside this range are managed (several clusters on one machine). */
  within?: string;
  /** Make the route sink first (device `sinkDevice`, ranges `sinkCIDRs`). Default true. */
  sink?: boolean;
  sinkDevice?: string;
  sinkCIDRs?: string[];
  /** Port of /metrics and /healthz; -1: none. Default 10260. */
  metricsPort?: number;
  metricsHost?: string;
  client?: ApiClient;
  logger?: Logger;
}

/** Runs the sink set-up and the route sync until `signal` aborts. */
export async function runHostRoutes(config: HostRoutesConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('host-routes');
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-host-routes' });
  if (config.sink !== false) {
    const cidrs = config.sinkCIDRs ?? DEFAULT_SINK_CIDRS;
    await ensureSink({ ...(config.sinkDevice ? { device: config.sinkDevice } : {}), cidrs });
    log.info({ device: config.sinkDevice ?? 'flotsink', cidrs }, 'route sink ready');
  }
  const registry = new Registry();
  const port = config.metricsPort ?? 10260;
  const server = port >= 0 ? await startStatusServer({ registry, port, host: config.metricsHost ?? '127.0.0.1', logger: log }) : undefined;
  try {
    log.info({ nodeName: config.nodeName, within: config.within }, 'host-gw route sync starting');
    await runHostGatewayRoutes(
      { client, routes: new IpRouteTable(), logger: log, registry, ...(config.nodeName ? { nodeName: config.nodeName } : {}), ...(config.within ? { within: config.within } : {}) },
      signal,
    );
  } finally {
    await server?.close();
    if (!config.client) await (client as RestClient).close();
  }
}
