/**
 * The controller-manager as a process: client from a kubeconfig, the
 * /metrics and /healthz server, optional leader election, and the
 * ControllerManager. `flotilla controller-manager` only parses flags into a
 * ControllerManagerConfig and calls run().
 *
 * With leader election only the holder of the Lease runs controllers. When
 * leadership is lost (not handed back on shutdown) the controllers stop and
 * run() rejects, so the process exits non-zero and its supervisor restarts
 * it as a fresh candidate, as kube-controller-manager does.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { RestClient, runWithLeaderElection, type ApiClient, type Clock, type Logger } from '@flotilla/client';
import { createLogger, startStatusServer } from '@flotilla/observability';
import { ControllerManager } from './controller-manager.js';
import { ControllerMetrics } from './controller-metrics.js';

/** Everything `flotilla controller-manager` can set. */
export interface ControllerManagerConfig {
  /** kubeconfig path; $KUBECONFIG or ~/.kube/config when unset. */
  kubeconfig?: string;
  /** Controllers to run: names, `*`, `-name`. Default all. */
  controllers?: string[];
  /** Only the holder of the Lease runs controllers. Default false. */
  leaderElect?: boolean;
  /** This instance's name in the Lease; `<hostname>_<uuid>` when unset. */
  identity?: string;
  /** Lease namespace and name. Defaults kube-system / flotilla-controller-manager. */
  leaseNamespace?: string;
  leaseName?: string;
  /** Leader election timings in seconds. Defaults 15 / 10 / 2 (Kubernetes'). */
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  /** Port of /metrics and /healthz; 0 picks a free one; -1 serves none. Default 10257. */
  metricsPort?: number;
  /** Address the metrics server binds. Default 127.0.0.1. */
  metricsHost?: string;
  /** Lease silence before a node is Unknown, seconds. Default 8 (Kubernetes: 40). */
  nodeMonitorGracePeriodSeconds?: number;
  /** Default toleration of the unreachable taint, seconds. Default 1 (Kubernetes: 300). */
  defaultUnreachableTolerationSeconds?: number;
  /** PING period of each node's liveness server, seconds. Default 0.5. */
  nodeProbeIntervalSeconds?: number;
  /** Silence of a probed node before it is Unknown, seconds. Default 3. */
  nodeProbeGracePeriodSeconds?: number;
  /** Probe nodes' liveness servers (false: Lease only). Default true. */
  nodeProbes?: boolean;
  /** Give Nodes pod ranges (node-ipam controller). Default true. */
  allocateNodeCIDRs?: boolean;
  /** Cluster pod range the node ranges come from. Default 10.244.0.0/16. */
  clusterCIDR?: string;
  /** Prefix length of each node's pod range. Default 24. */
  nodeCIDRMaskSize?: number;
  /** Endpoints per EndpointSlice. Default 100. */
  maxEndpointsPerSlice?: number;
  /** The CA that signs node client certificates (--cluster-signing-cert-file / --cluster-signing-key-file); csr-signing is off without them. */
  clusterSigningCertFile?: string;
  clusterSigningKeyFile?: string;
  /** Longest validity of a signed node certificate, seconds (--cluster-signing-duration). Default 365 days. */
  clusterSigningDurationSeconds?: number;
  /** An ApiClient to use instead of one built from the kubeconfig (tests). */
  client?: ApiClient;
  logger?: Logger;
  clock?: Clock;
  /** Informer watch timeout in seconds (tests use short ones). */
  watchTimeoutSeconds?: number;
  /** Told once the metrics server listens (the port matters when metricsPort is 0). */
  onListening?: (port: number) => void;
  /** Told each time this instance starts leading (or at start without leader election). */
  onStartedLeading?: (manager: ControllerManager) => void;
}

/** Runs the controller-manager until `signal` aborts; rejects if it cannot start or loses leadership. */
export async function run(config: ControllerManagerConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('controller-manager');
  const identity = config.identity ?? `${hostname()}_${randomUUID()}`;
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-controller-manager' });
  const metrics = new ControllerMetrics();
  const leaderGauge = metrics.registry.gauge('leader_election_master_status', '1 while this instance holds the leader Lease.');
  const leaseName = config.leaseName ?? 'flotilla-controller-manager';
  const manager = () =>
    new ControllerManager({
      client,
      controllers: config.controllers,
      logger: log,
      clock: config.clock,
      metrics,
      nodeMonitorGracePeriodMs: config.nodeMonitorGracePeriodSeconds !== undefined ? config.nodeMonitorGracePeriodSeconds * 1000 : undefined,
      defaultUnreachableTolerationSeconds: config.defaultUnreachableTolerationSeconds,
      nodeProbeIntervalMs: config.nodeProbeIntervalSeconds !== undefined ? config.nodeProbeIntervalSeconds * 1000 : undefined,
      nodeProbeGracePeriodMs: config.nodeProbeGracePeriodSeconds !== undefined ? config.nodeProbeGracePeriodSeconds * 1000 : undefined,
      nodeProbes: config.nodeProbes,
      watchTimeoutSeconds: config.watchTimeoutSeconds,
      allocateNodeCIDRs: config.allocateNodeCIDRs,
      clusterCIDR: config.clusterCIDR,
      nodeCIDRMaskSize: config.nodeCIDRMaskSize,
      maxEndpointsPerSlice: config.maxEndpointsPerSlice,
      clusterSigningCertFile: config.clusterSigningCertFile,
      clusterSigningKeyFile: config.clusterSigningKeyFile,
      clusterSigningDurationSeconds: config.clusterSigningDurationSeconds,
    });
  // Validate --controllers before anything starts.
  manager();

  const port = config.metricsPort ?? 10257;
  // ControllerMetrics.render() refreshes the queue depths before each scrape.
  const server = port >= 0 ? await startStatusServer({ registry: metrics, port, host: config.metricsHost ?? '127.0.0.1', logger: log }) : undefined;
  if (server) config.onListening?.(server.port);
  try {
    if (!config.leaderElect) {
      const m = manager();
      log.info({ identity, controllers: m.controllers }, 'controller-manager starting');
      config.onStartedLeading?.(m);
      await m.run(signal);
      return;
    }
    const lease = {
      namespace: config.leaseNamespace ?? 'kube-system',
      name: leaseName,
      identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.renewDeadlineSeconds,
      retryPeriodSeconds: config.retryPeriodSeconds,
      clock: config.clock,
      logger: log,
      onStoppedLeading: () => leaderGauge.set(0, { name: leaseName }),
    };
    await runWithLeaderElection(client, lease, signal, async (leading) => {
      leaderGauge.set(1, { name: leaseName });
      const m = manager();
      config.onStartedLeading?.(m);
      await m.run(leading);
    });
  } finally {
    await server?.close();
    const closable = client as ApiClient & { close?: () => Promise<void> };
    if (!config.client) await closable.close?.();
    log.info({ identity }, 'controller-manager stopped');
  }
}
