import { Command, InvalidArgumentError } from 'commander';
import { cleanupRules, DEFAULT_CLUSTER_CIDR, ExecIptables, run, type ProxyConfig } from '@flotilla/proxy';
import { createLogger } from '@flotilla/observability';
import { parseIp, parseSeconds } from '../flags.js';
import { runComponent } from '../run-component.js';

interface ProxyFlags {
  kubeconfig?: string;
  hostnameOverride?: string;
  nodeIp?: string;
  clusterCidr: string;
  nodeportAddresses?: string[];
  chainPrefix: string;
  metricsBindAddress: string;
  minSyncPeriod: number;
  syncPeriod: number;
  fullSyncPeriod: number;
  reportApplied: boolean;
  conntrack: boolean;
  cleanup: boolean;
  logLevel?: string;
}

/** Parses an IPv4 CIDR. */
function parseCidr(value: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw new InvalidArgumentError('want an IPv4 CIDR such as 10.244.0.0/16');
  return value.trim();
}

/** Parses a comma-separated list of IPv4 CIDRs. */
function parseCidrList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean).map(parseCidr);
}

/** Parses `host:port` (port 0: any free port), or '' for none. */
function parseBindAddress(value: string): string {
  if (value === '') return '';
  const m = /^(.*):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError('want host:port, e.g. 127.0.0.1:10249 (empty: no metrics server)');
  return value;
}

/** `flotilla proxy`: the service dataplane of one host (flags named as kube-proxy's). */
export function proxyCommand(): Command {
  return new Command('proxy')
    .description('program this host\'s iptables so Service ClusterIPs and NodePorts reach their ready endpoints (kube-proxy iptables mode)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)')
    .option('--hostname-override <name>', 'this host\'s node name: which endpoints are local (default: the hostname)')
    .option('--node-name <name>', 'alias of --hostname-override')
    .option('--node-ip <ip>', 'this host\'s address', parseIp)
    .option('--cluster-cidr <cidr>', 'pod range: ClusterIP traffic from outside it is masqueraded', parseCidr, DEFAULT_CLUSTER_CIDR)
    .option('--nodeport-addresses <cidrs>', 'answer NodePorts only on local addresses in these CIDRs (default: every local address but loopback)', parseCidrList)
    .option('--chain-prefix <prefix>', 'prefix of the iptables chains (tests use their own to share a namespace)', 'KUBE')
    .option('--metrics-bind-address <host:port>', 'address of /metrics and /healthz (port 0: any free port; empty: none)', parseBindAddress, '127.0.0.1:10249')
    .option('--min-sync-period <duration>', 'least time between two syncs of the rules', parseSeconds, 0.05)
    .option('--sync-period <duration>', 'period of the routine sync and check of the jumps from the built-in chains', parseSeconds, 30)
    .option('--full-sync-period <duration>', 'period of the full rewrite of every chain (also on start and after a failure)', parseSeconds, 3600)
    .option('--no-report-applied', 'do not publish the applied EndpointSlice revision in a Lease (agents then do not wait for this proxy)')
    .option('--no-conntrack', 'do not delete the UDP conntrack flows of endpoints that left a Service (default: deleted with conntrack(8) when installed)')
    .option('--cleanup', 'remove the jumps and chains of --chain-prefix from this namespace, then exit', false)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (flags: ProxyFlags & { nodeName?: string }) => {
      const logger = createLogger('proxy', flags.logLevel ? { level: flags.logLevel } : {});
      if (!/^[A-Z][A-Z0-9]{0,4}$/.test(flags.chainPrefix)) throw new InvalidArgumentError('--chain-prefix must be 1-5 upper-case letters or digits, starting with a letter');
      if (flags.cleanup) {
        const removed = await cleanupRules(new ExecIptables(), flags.chainPrefix);
        logger.info({ prefix: flags.chainPrefix, ...removed }, 'proxy rules removed');
        return;
      }
      const nodeName = flags.hostnameOverride ?? flags.nodeName;
      const config: ProxyConfig = {
        clusterCIDR: flags.clusterCidr,
        chainPrefix: flags.chainPrefix,
        metricsBindAddress: flags.metricsBindAddress,
        minSyncPeriodMs: Math.round(flags.minSyncPeriod * 1000),
        syncPeriodMs: Math.round(flags.syncPeriod * 1000),
        fullSyncPeriodMs: Math.round(flags.fullSyncPeriod * 1000),
        reportApplied: flags.reportApplied,
        ...(flags.conntrack ? {} : { conntrack: false as const }),
        logger,
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(nodeName ? { nodeName } : {}),
        ...(flags.nodeIp ? { nodeIP: flags.nodeIp } : {}),
        ...(flags.nodeportAddresses?.length ? { nodePortAddresses: flags.nodeportAddresses } : {}),
      };
      await runComponent('proxy', run, config, logger);
    });
}
