/** The agent's configuration: what `flotilla agent` flags map to, with defaults. */
import type { Logger } from '@flotilla/observability';

/** Everything an Agent is configured with. Durations are milliseconds. */
export interface AgentConfig {
  /** The Node this agent registers and whose pods it runs. */
  nodeName: string;
  /** The node's address (InternalIP, pod hostIP, where the log server is reached). */
  nodeIP: string;
  /** Written to spec.podCIDR when set (a fixed range; node IPAM allocates one otherwise). */
  podCIDR?: string;
  /**
   * Manage the pod network: realise the node's podCIDR on the runtime (pods
   * wait until it exists) and keep host-gw routes to the other nodes' ranges.
   * Default false here; `flotilla agent` turns it on unless `--pod-network docker-bridge`.
   */
  podNetwork?: boolean;
  /** Override of the host's CPU count for capacity. */
  cpus?: number;
  /** Override of the host's memory (bytes) for capacity. */
  memoryBytes?: number;
  /** Max pods (capacity `pods`). Default 110. */
  maxPods?: number;
  /**
   * Lease renewal period. Default 60 s: the Lease is the slow, truthful
   * heartbeat (5,000 nodes renew 83 times a second); the fast signal is the
   * liveness server the node-lifecycle controller pings (liveness-server.ts).
   */
  heartbeatIntervalMs?: number;
  /**
   * Lease duration written on the Lease. Default twice the renewal period
   * (at least Kubernetes' 40 s), so a tool reading renewTime + duration never
   * takes a live node's Lease for expired.
   */
  leaseDurationSeconds?: number;
  /** How often the Node status is recomputed (written only when it changed). Default 10 s. */
  nodeStatusIntervalMs?: number;
  /**
   * How often an unchanged Node status is written anyway (Kubernetes'
   * nodeStatusReportFrequency). Default 10 min: the Lease and the liveness
   * server carry the heartbeat, the status write only refreshes its times.
   */
  nodeStatusReportIntervalMs?: number;
  /** Port of the liveness server (0: any free one, advertised on the Node); unset: no liveness server. */
  livenessPort?: number;
  /** Address the liveness server binds; all addresses when unset. */
  livenessBindAddress?: string;
  /**
   * Periodic relist of containers, the backstop of the event stream: a pod
   * whose containers changed since the last relist is synced. Default 5 s.
   */
  relistIntervalMs?: number;
  /**
   * Every pod is synced at least this often even when nothing changed (the
   * kubelet's --sync-frequency). Default 1 min.
   */
  podResyncIntervalMs?: number;
  /** First crash back-off delay. Default 10 s. */
  backoffInitialMs?: number;
  /** Largest crash back-off delay. Default 5 min. */
  backoffMaxMs?: number;
  /** A container that ran this long cleanly resets its back-off. Default 10 min. */
  backoffResetMs?: number;
  /** Parallel pod workers. Default 8. */
  workers?: number;
  /** Lines kept as a dead container's termination message. Default 20 (capped at 4 KiB). */
  terminationMessageLines?: number;
  /** Cluster DNS server addresses pods with dnsPolicy ClusterFirst use (kubelet --cluster-dns). Default none: they get the host's. */
  clusterDNS?: string[];
  /** The cluster domain of pods' search path (kubelet --cluster-domain). Default `cluster.local`. */
  clusterDomain?: string;
  /** The host resolv.conf pods with dnsPolicy Default copy (kubelet --resolv-conf); '' for none. Default /etc/resolv.conf. */
  resolvConf?: string;
  /** Where pods' configMap and secret volume files are written; a directory under the OS temp dir by default. */
  stateDir?: string;
  logger?: Logger;
}

/** AgentConfig with every default filled in. */
export type ResolvedAgentConfig = Required<Omit<AgentConfig, OptionalKeys>> & Pick<AgentConfig, OptionalKeys>;
type OptionalKeys = 'podCIDR' | 'cpus' | 'memoryBytes' | 'logger' | 'stateDir' | 'livenessPort' | 'livenessBindAddress';

/** The Lease duration that stays truthful for a renewal period: twice it, and never under Kubernetes' 40 s. */
export function leaseDurationFor(heartbeatIntervalMs: number): number {
  return Math.max(40, Math.ceil((2 * heartbeatIntervalMs) / 1000));
}

/** Fills in the defaults of an AgentConfig. */
export function resolveConfig(c: AgentConfig): ResolvedAgentConfig {
  const heartbeatIntervalMs = c.heartbeatIntervalMs ?? 60_000;
  return {
    maxPods: 110,
    heartbeatIntervalMs,
    leaseDurationSeconds: leaseDurationFor(heartbeatIntervalMs),
    nodeStatusIntervalMs: 10_000,
    nodeStatusReportIntervalMs: 600_000,
    relistIntervalMs: 5_000,
    podResyncIntervalMs: 60_000,
    backoffInitialMs: 10_000,
    backoffMaxMs: 300_000,
    backoffResetMs: 600_000,
    workers: 8,
    terminationMessageLines: 20,
    clusterDNS: [],
    clusterDomain: 'cluster.local',
    resolvConf: '/etc/resolv.conf',
    ...stripUndefined(c),
  } as ResolvedAgentConfig;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
