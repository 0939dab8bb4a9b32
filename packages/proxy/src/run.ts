/**
 * `flotilla proxy` as a process: a client from a kubeconfig, informers on
 * Services and EndpointSlices, the Proxier over the real iptables, the Lease
 * that reports what it applied, and /metrics + /healthz. The command only
 * parses flags into a ProxyConfig and calls run().
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { InformerFactory, RestClient, type ApiClient, type Clock, type Logger } from '@flotilla/client';
import { createLogger, startStatusServer } from '@flotilla/observability';
import { AppliedReporter } from './applied-reporter.js';
import { ExecConntrack, type Conntrack } from './conntrack.js';
import { ExecIptables, type Iptables } from './iptables.js';
import { Proxier } from './proxier.js';
import { ProxyMetrics } from './proxy-metrics.js';

/** Everything `flotilla proxy` can set. */
export interface ProxyConfig {
  /** kubeconfig path; $KUBECONFIG or ~/.kube/config when unset. */
  kubeconfig?: string;
  /** This host's node name (which endpoints are local); the machine's hostname when unset. */
  nodeName?: string;
  /** This host's address (logged; NodePorts answer on every local address unless nodePortAddresses narrows them). */
  nodeIP?: string;
  /** The pod range; ClusterIP traffic from outside it is masqueraded. Default 10.244.0.0/16. */
  clusterCIDR?: string;
  /** CIDRs NodePorts answer on; every local address but loopback when empty. */
  nodePortAddresses?: string[];
  /** Chain name prefix. Default KUBE. */
  chainPrefix?: string;
  /** host:port of /metrics and /healthz; port 0 picks one; empty serves none. Default 127.0.0.1:10249. */
  metricsBindAddress?: string;
  /** Least time between syncs, ms. Default 50. */
  minSyncPeriodMs?: number;
  /** Routine check period (a sync plus a check of the built-in jumps), ms. Default 30 000. */
  syncPeriodMs?: number;
  /** Full rewrite period, ms. Default 3 600 000. */
  fullSyncPeriodMs?: number;
  /** Report the applied EndpointSlice revision in a Lease (agents wait on it before stopping pods). Default true. */
  reportApplied?: boolean;
  /** An ApiClient instead of one from the kubeconfig (tests). */
  client?: ApiClient;
  /** The iptables driver (tests pass a fake). */
  iptables?: Iptables;
  /** Deletes stale UDP flows; default the `conntrack` tool when it is installed; false: never. */
  conntrack?: Conntrack | false;
  logger?: Logger;
  clock?: Clock;
  /** Informer watch timeout in seconds (tests use short ones). */
  watchTimeoutSeconds?: number;
  /** Told once the metrics server listens. */
  onListening?: (port: number) => void;
  /** Told the Proxier once built. */
  onStarted?: (proxier: Proxier) => void;
}

/** Default pod range, as the controller manager's --cluster-cidr. */
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';

/** Splits `host:port` (IPv4 or a name). */
function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid bind address "${s}": want host:port`);
  return { host: s.slice(0, i) || '0.0.0.0', port };
}

/** Whether the `conntrack` tool runs here. */
function conntrackInstalled(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('conntrack', ['--version'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

/** Runs the proxy until `signal` aborts. Stopping leaves every rule in place. */
export async function run(config: ProxyConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('proxy');
  const nodeName = config.nodeName ?? hostname();
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-proxy' });
  const metrics = new ProxyMetrics();
  const informers = new InformerFactory(client, { clock: config.clock, logger: log, watchTimeoutSeconds: config.watchTimeoutSeconds });
  let conntrack = config.conntrack === false ? undefined : config.conntrack;
  if (config.conntrack === undefined) {
    if (await conntrackInstalled()) conntrack = new ExecConntrack();
    else log.warn({}, 'conntrack(8) not found: UDP flows to removed endpoints are not deleted (apt-get install conntrack)');
  }
  const reporter = config.reportApplied === false ? undefined : new AppliedReporter({ client, name: nodeName, clock: config.clock, logger: log });
  const proxier = new Proxier({
    informers,
    iptables: config.iptables ?? new ExecIptables(),
    ...(conntrack ? { conntrack } : {}),
    rules: {
      prefix: config.chainPrefix ?? 'KUBE',
      nodeName,
      clusterCIDR: config.clusterCIDR ?? DEFAULT_CLUSTER_CIDR,
      nodePortAddresses: config.nodePortAddresses,
    },
    minSyncPeriodMs: config.minSyncPeriodMs,
    syncPeriodMs: config.syncPeriodMs,
    fullSyncPeriodMs: config.fullSyncPeriodMs,
    metrics,
    logger: log,
    clock: config.clock,
    onApplied: (rv) => reporter?.report(rv),
  });
  config.onStarted?.(proxier);
  const startedAt = Date.now();
  const bind = config.metricsBindAddress ?? '127.0.0.1:10249';
  const server = bind ? await startStatusServer({ registry: metrics, ...splitHostPort(bind), logger: log, healthz: () => proxier.healthy(startedAt) }) : undefined;
  if (server) config.onListening?.(server.port);
  log.info({ node: nodeName, nodeIP: config.nodeIP, prefix: config.chainPrefix ?? 'KUBE', clusterCIDR: config.clusterCIDR ?? DEFAULT_CLUSTER_CIDR }, 'proxy starting');
  try {
    informers.start(signal);
    await Promise.all([proxier.run(signal), reporter?.run(signal)]);
  } finally {
    await server?.close();
    if (!config.client) await (client as ApiClient & { close?: () => Promise<void> }).close?.();
    log.info({ node: nodeName }, 'proxy stopped; rules left in place');
  }
}
