import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultWorkers, parseHostPort, run, type IngressConfig } from '@flotilla/ingress';
import { createLogger } from '@flotilla/observability';
import { parsePort } from '../flags.js';
import { runComponent } from '../run-component.js';

interface IngressFlags {
  kubeconfig?: string;
  httpPort: number;
  httpsPort: number;
  bindAddress: string;
  ingressClass: string;
  controllerName: string;
  publishAddress?: string;
  metricsBindAddress: string;
  endpointsFrom: 'endpointslices' | 'endpoints';
  accessLog: boolean;
  workers?: number;
  logLevel?: string;
}

/** `host:port`, port -1 meaning "serve no metrics". */
function parseBind(value: string): string {
  try {
    const { port } = parseHostPort(value);
    if (port < -1 || port > 65535) throw new Error('port out of range');
  } catch (err) {
    throw new InvalidArgumentError(`want host:port (port -1: none): ${(err as Error).message}`);
  }
  return value;
}

/** A port, or -1 for "none". */
function parsePortOrNone(value: string): number {
  return value === '-1' ? -1 : parsePort(value);
}

/** A positive worker count. */
function parseWorkers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('want a whole number from 1 to 256');
  return n;
}

/** `flotilla ingress`: the built-in L7 ingress controller. */
export function ingressCommand(): Command {
  return new Command('ingress')
    .description('route HTTP(S) by host and path to Services (networking.k8s.io/v1 Ingress)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)')
    .option('--http-port <port>', 'plain HTTP port', parsePort, 80)
    .option('--https-port <port>', 'HTTPS port (-1: none)', parsePortOrNone, 443)
    .option('--bind-address <ip>', 'address the proxy listens on', '0.0.0.0')
    .option('--ingress-class <name>', 'serve Ingresses of this class (and IngressClasses naming --controller-name)', 'flotilla')
    .option('--controller-name <name>', 'spec.controller of the IngressClasses served', 'flotilla.dev/ingress')
    .option('--publish-address <address>', "written to Ingresses' status.loadBalancer.ingress (no status writes when unset)")
    .option('--metrics-bind-address <host:port>', 'address of /metrics and /healthz (port -1: none)', parseBind, '127.0.0.1:10254')
    .addOption(new Option('--endpoints-from <kind>', 'read backend addresses from').choices(['endpointslices', 'endpoints']).default('endpointslices'))
    .option('--no-access-log', 'do not write a JSON access-log line per request')
    .option('--workers <n>', `processes serving traffic on the same ports, fed by one set of informers (default: one per core, here ${defaultWorkers()})`, parseWorkers)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (flags: IngressFlags) => {
      const logger = createLogger('ingress', flags.logLevel ? { level: flags.logLevel } : {});
      const config: IngressConfig = {
        httpPort: flags.httpPort,
        httpsPort: flags.httpsPort,
        bindAddress: flags.bindAddress,
        ingressClass: flags.ingressClass,
        controllerName: flags.controllerName,
        metricsBindAddress: flags.metricsBindAddress,
        endpointsFrom: flags.endpointsFrom,
        accessLog: flags.accessLog,
        ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
        logger,
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.publishAddress ? { publishAddress: flags.publishAddress } : {}),
      };
      await runComponent('ingress', run, config, logger);
    });
}
