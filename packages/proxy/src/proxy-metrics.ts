/** The proxy's Prometheus metrics, named as kube-proxy's where they mean the same. */
import { Registry } from '@flotilla/observability';

const SYNC_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Metrics of one proxy process. */
export class ProxyMetrics {
  readonly registry = new Registry();
  /** Duration of a sync (rule generation + restore), by `mode` full|partial. */
  readonly syncDuration = this.registry.histogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds (label mode: full or partial).', SYNC_BUCKETS);
  /** When the last successful sync finished. */
  readonly lastSync = this.registry.gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'The last time proxy rules were successfully synced.');
  /** Rules in the desired state, by table. */
  readonly rulesTotal = this.registry.gauge('kubeproxy_sync_proxy_rules_iptables_total', 'Total number of iptables rules owned by the proxy, by table.');
  /** Rules written by restores, by table. */
  readonly rulesWritten = this.registry.counter('kubeproxy_sync_proxy_rules_iptables_written_total', 'Rules written by iptables-restore, by table (only changed chains are written).');
  /** Chains written per sync, last sync. */
  readonly chainsWritten = this.registry.gauge('kubeproxy_sync_proxy_rules_iptables_last_chains_written', 'Chains rewritten by the last sync, by table.');
  /** Failed restores. */
  readonly restoreFailures = this.registry.counter('kubeproxy_sync_proxy_rules_iptables_restore_failures_total', 'iptables-restore failures.');
  /** EndpointSlice changes seen and not yet applied. */
  readonly endpointChangesPending = this.registry.gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'EndpointSlice changes not yet applied.');
  /** Service changes seen and not yet applied. */
  readonly serviceChangesPending = this.registry.gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Service changes not yet applied.');
  /** EndpointSlice changes applied. */
  readonly endpointChanges = this.registry.counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'EndpointSlice changes applied.');
  /** Stale conntrack entries deleted (label protocol: udp, tcp). */
  readonly conntrackDeleted = this.registry.counter('kubeproxy_conntrack_stale_flows_deleted_total', 'Conntrack entries deleted as stale: UDP flows whose endpoint left the Service, TCP flows to a Service address never NATed.');
  /** Failed conntrack deletions. */
  readonly conntrackFailures = this.registry.counter('kubeproxy_conntrack_delete_failures_total', 'conntrack deletions that failed.');
  /** The EndpointSlice revision the rules reflect. */
  readonly appliedRevision = this.registry.gauge('flotilla_proxy_applied_endpointslice_resource_version', 'Highest EndpointSlice resourceVersion whose state the rules reflect.');

  render(): string {
    return this.registry.render();
  }
}
