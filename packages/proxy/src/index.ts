export { AppliedReporter, type AppliedReporterOptions } from './applied-reporter.js';
export { ExecIptables, type ExecIptablesOptions, type Iptables } from './iptables.js';
export { Proxier, type ProxierOptions, type SyncResult } from './proxier.js';
export { ProxyMetrics } from './proxy-metrics.js';
export { chainsWithPrefix, DEFAULT_MAX_CHAINS_PER_RESTORE, planRestore, type PlanOptions, type RestorePlan } from './restore-plan.js';
export {
  buildRules,
  externalAddresses,
  chainName,
  countRules,
  endpointsFor,
  jumpRules,
  RuleCache,
  serviceRules,
  servicePortName,
  slicesByService,
  topChains,
  usableEndpoints,
  type ChainSet,
  type JumpRule,
  type RuleOptions,
  type RuleSet,
  type ServiceRules,
  type ServiceEndpoint,
  type ServicePortFlows,
} from './rules.js';
export { DEFAULT_CLUSTER_CIDR, run, type ProxyConfig } from './run.js';
export { cleanupRules } from './cleanup.js';
export { conntrackArgs, ExecConntrack, staleFlows, type Conntrack, type ConntrackFilter, type ExecConntrackOptions } from './conntrack.js';
