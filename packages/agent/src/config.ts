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
   * Lease renewal period. Default 2 s: the controller-manager's default grace
   * (8 s) then tolerates three missed renewals before it marks the node NotReady.
   */
  heartbeatIntervalMs?: number;
  /** Lease duration written on the Lease. Default 40 s. */
  leaseDurationSeconds?: number;
  /** How often Node status is refreshed even without change. Default 10 s. */
  nodeStatusIntervalMs?: number;
  /** Periodic relist of pods and containers, the backstop of the event stream. Default 5 s. */
  relistIntervalMs?: number;
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
export type ResolvedAgentConfig = Required<Omit<AgentConfig, 'podCIDR' | 'cpus' | 'memoryBytes' | 'logger' | 'stateDir'>> & Pick<AgentConfig, 'podCIDR' | 'cpus' | 'memoryBytes' | 'logger' | 'stateDir'>;

/** Fills in the defaults of an AgentConfig. */
export function resolveConfig(c: AgentConfig): ResolvedAgentConfig {
  return {
    maxPods: 110,
    heartbeatIntervalMs: 2_000,
    leaseDurationSeconds: 40,
    nodeStatusIntervalMs: 10_000,
    relistIntervalMs: 5_000,
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
