/** The agent's Prometheus metrics, served on the log server's /metrics. */
import { Registry, type Counter, type Histogram } from '@flotilla/observability';

/** Counters and histograms every pod sync updates. Hollow nodes in one process share one set. */
export class AgentMetrics {
  readonly registry: Registry;
  /** Pods whose containers were started for the first time. */
  readonly podStarts: Counter;
  /** Containers restarted after they died or failed liveness. */
  readonly containerRestarts: Counter;
  /** Duration of one pod sync. */
  readonly syncDuration: Histogram;
  /** Pod status writes. */
  readonly statusWrites: Counter;
  /** Seconds from a pod being seen to all its containers running. */
  readonly podStartLatency: Histogram;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.podStarts = registry.counter('agent_pod_starts_total', 'Pods whose containers were started for the first time.');
    this.containerRestarts = registry.counter('agent_container_restarts_total', 'Containers restarted by the agent.');
    this.syncDuration = registry.histogram('agent_sync_duration_seconds', 'Duration of one pod sync.');
    this.statusWrites = registry.counter('agent_pod_status_writes_total', 'Pod status writes through pods/status.');
    this.podStartLatency = registry.histogram('agent_pod_start_latency_seconds', 'From first sync of a pod to all of its containers started.');
  }
}
