import { Command, InvalidArgumentError } from 'commander';
import { parseCidr, runHostRoutes, type HostRoutesConfig } from '@flotilla/network';
import { createLogger } from '@flotilla/observability';
import { runComponent } from '../run-component.js';

interface HostRoutesFlags {
  kubeconfig?: string;
  nodeName?: string;
  within?: string;
  sink: boolean;
  sinkCidr: string[];
  metricsPort: number;
  logLevel?: string;
}

function parseCidrFlag(value: string, previous: string[] = []): string[] {
  if (!parseCidr(value)) throw new InvalidArgumentError('want an IPv4 CIDR like 10.244.0.0/16');
  return [...previous, value];
}

function parseMetricsPort(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < -1 || n > 65535) throw new InvalidArgumentError('want a port number 0-65535, or -1 for none');
  return n;
}

/** `flotilla host-routes`: host-gw routes to every Node's pod range (and the route sink) on a machine without an agent. */
export function hostRoutesCommand(): Command {
  return new Command('host-routes')
    .description('keep a route to every Node\'s pod range via its InternalIP (host-gw), after routing the cluster ranges to a local sink; for machines without an agent, e.g. the control plane\'s')
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)')
    .option('--node-name <name>', 'this machine\'s Node, if it is one (its own range is not routed)')
    .option('--within <cidr>', 'manage only routes inside this range (another cluster on the machine keeps its own)', (v: string) => parseCidrFlag(v)[0])
    .option('--no-sink', 'do not create the route sink')
    .option('--sink-cidr <cidr>', 'a range routed to the sink (repeatable; default 10.96.0.0/12 and 10.244.0.0/16)', parseCidrFlag)
    .option('--metrics-port <port>', 'port of /metrics and /healthz (0: any free port, -1: none)', parseMetricsPort, 10260)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (f: HostRoutesFlags) => {
      const logger = createLogger('host-routes', f.logLevel ? { level: f.logLevel } : {});
      const config: HostRoutesConfig = {
        sink: f.sink,
        metricsPort: f.metricsPort,
        logger,
        ...(f.kubeconfig ? { kubeconfig: f.kubeconfig } : {}),
        ...(f.nodeName ? { nodeName: f.nodeName } : {}),
        ...(f.within ? { within: f.within } : {}),
        ...(f.sinkCidr?.length ? { sinkCIDRs: f.sinkCidr } : {}),
      };
      await runComponent('host-routes', runHostRoutes, config, logger);
    });
}
