import { Command, InvalidArgumentError } from 'commander';
import { runLoadBalancer, type Backend, type LoadBalancerConfig } from '@flotilla/lb';
import { createLogger } from '@flotilla/observability';
import { parseDuration } from '../flags.js';
import { runComponent } from '../run-component.js';

interface LbFlags {
  listen: Backend;
  backend?: Backend[];
  caFile?: string;
  healthPath: string;
  healthInterval: number;
  metricsBindAddress: Backend;
  logLevel?: string;
}

/** `HOST:PORT` (`[v6]:PORT`) → Backend. */
export function parseHostPort(value: string): Backend {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(-?\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < -1 || port > 65535) throw new InvalidArgumentError(`want HOST:PORT, got '${value}'`);
  return { host: m[1]!, port };
}

/** `flotilla lb`: one address in front of several apiservers (the highly available control plane). */
export function lbCommand(): Command {
  return new Command('lb')
    .description('a health-checked TCP load balancer: one address for several apiservers (clients keep one kubeconfig server)')
    .requiredOption('--listen <host:port>', 'where clients connect, e.g. 10.0.0.10:6443', parseHostPort)
    .option('--backend <host:port>', 'an apiserver (repeatable)', (v: string, acc: Backend[] = []) => [...acc, parseHostPort(v)])
    .option('--ca-file <file>', "the cluster CA: health checks verify the apiservers' certificates")
    .option('--health-path <path>', "HTTPS path of the health check ('' for none)", '/readyz')
    .option('--health-interval <duration>', 'time between two checks of a backend', parseDuration, 1000)
    .option('--metrics-bind-address <host:port>', 'address of /metrics and /healthz (port -1: none)', parseHostPort, { host: '127.0.0.1', port: 10262 })
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (f: LbFlags) => {
      if (!f.backend?.length) throw new InvalidArgumentError('at least one --backend is needed');
      const logger = createLogger('lb', f.logLevel ? { level: f.logLevel } : {});
      const config: LoadBalancerConfig = {
        listen: f.listen,
        backends: f.backend,
        healthPath: f.healthPath,
        healthIntervalMs: f.healthInterval,
        metrics: f.metricsBindAddress,
        logger,
        ...(f.caFile ? { caFile: f.caFile } : {}),
      };
      await runComponent('lb', runLoadBalancer, config, logger);
    });
}
