import { Command, InvalidArgumentError } from 'commander';
import { parseUpstream, run, type DnsConfig } from '@flotilla/dns';
import { createLogger } from '@flotilla/observability';
import { parseIp, parsePort, parsePositiveInt, parseSeconds } from '../flags.js';
import { runComponent } from '../run-component.js';

/** The parsed flags of `flotilla dns`. */
export interface DnsFlags {
  kubeconfig?: string;
  clusterDomain: string;
  clusterDns: string;
  ttl: number;
  bindAddress: string;
  port: number;
  advertiseAddress?: string;
  upstream?: string[];
  forwardTimeout: number;
  forward: boolean;
  registerService: boolean;
  metricsPort: number;
  metricsHost: string;
  identity?: string;
  logLevel?: string;
}

/** Parses a port, with -1 meaning "serve no metrics". */
function parseMetricsPort(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < -1 || n > 65535) throw new InvalidArgumentError('want a port number 0-65535, or -1 for none');
  return n;
}

/** Collects repeated or comma-separated --upstream values. */
function collectUpstream(value: string, prev: string[] = []): string[] {
  const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    try {
      parseUpstream(p);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }
  return [...prev, ...parts];
}

/** `flotilla dns`: the cluster DNS server (the kube-dns Service's endpoint). */
export function dnsCommand(): Command {
  return new Command('dns')
    .description('cluster DNS: answer <svc>.<ns>.svc.<domain> from the API, forward the rest, keep the kube-dns Service')
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)')
    .option('--cluster-domain <domain>', 'the zone to serve', 'cluster.local')
    .option('--cluster-dns <ip>', 'ClusterIP of the kube-dns Service (10th address of the service range by default)', parseIp, '10.96.0.10')
    .option('--ttl <duration>', 'TTL of the zone\'s records', parseSeconds, 30)
    .option('--bind-address <ip>', 'address to answer on, UDP and TCP', parseIp, '0.0.0.0')
    .option('--port <port>', 'port to answer on (0: any free port)', parsePort, 53)
    .option('--advertise-address <ip>', 'address the proxies reach this server at (default: --bind-address)', parseIp)
    .option('--upstream <ip[:port]>', 'resolver for names outside the zone, repeatable (default: nameservers of /etc/resolv.conf)', collectUpstream)
    .option('--no-forward', 'answer only the cluster zone: SERVFAIL for other names (where no resolver may be asked)')
    .option('--forward-timeout <duration>', 'timeout of a forwarded query, per upstream', parseSeconds, 2)
    .option('--no-register-service', 'do not keep the kube-dns Service or join its endpoints')
    .option('--metrics-port <port>', 'port of /metrics and /healthz (0: any free port, -1: none)', parseMetricsPort, 9153)
    .option('--metrics-host <ip>', 'address of /metrics and /healthz', '127.0.0.1')
    .option('--identity <name>', 'this server in the kube-dns endpoints (default: <hostname>-<address>:<port>)')
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (flags: DnsFlags) => {
      const logger = createLogger('dns', flags.logLevel ? { level: flags.logLevel } : {});
      await runComponent('dns', run, { ...dnsConfigFromFlags(flags), logger }, logger);
    });
}

/** The DnsConfig the parsed flags ask for (without a logger). */
export function dnsConfigFromFlags(flags: DnsFlags): DnsConfig {
  const ttl = Math.round(flags.ttl);
  if (ttl < 0) throw new InvalidArgumentError('--ttl must not be negative');
  return {
    clusterDomain: flags.clusterDomain.replace(/\.$/, ''),
    clusterDns: flags.clusterDns,
    ttlSeconds: ttl,
    bindAddress: flags.bindAddress,
    port: flags.port,
    registerService: flags.registerService,
    forwardTimeoutMs: Math.max(1, Math.round(flags.forwardTimeout * 1000)),
    metricsPort: flags.metricsPort,
    metricsHost: flags.metricsHost,
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.advertiseAddress ? { advertiseAddress: flags.advertiseAddress } : {}),
    ...(!flags.forward ? { upstreams: [] } : flags.upstream?.length ? { upstreams: flags.upstream.map(parseUpstream) } : {}),
    ...(flags.identity ? { identity: flags.identity } : {}),
  };
}
