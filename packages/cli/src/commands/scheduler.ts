import { Command, InvalidArgumentError } from 'commander';
import { run, type SchedulerConfig } from '@flotilla/scheduler';
import { createLogger } from '@flotilla/observability';
import { parseBool, parsePositiveInt, parseSeconds } from '../flags.js';
import { runComponent } from '../run-component.js';

interface SchedulerFlags {
  kubeconfig?: string;
  leaderElect: boolean;
  identity?: string;
  metricsPort: number;
  metricsHost: string;
  concurrency: number;
  schedulerName: string;
  flushIntervalMs?: number;
  leaseNamespace: string;
  leaseName: string;
  leaderElectLeaseDuration: number;
  leaderElectRenewDeadline: number;
  leaderElectRetryPeriod: number;
  logLevel?: string;
}

/** Parses a port, with -1 meaning "serve no metrics". */
function parseMetricsPort(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < -1 || n > 65535) throw new InvalidArgumentError('want a port number 0-65535, or -1 for none');
  return n;
}

/** `flotilla scheduler`: binds pending pods to nodes. */
export function schedulerCommand(): Command {
  return new Command('scheduler')
    .description('assign pending pods to nodes (filter, score, bind)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)')
    .option('--leader-elect [bool]', 'only the holder of the Lease schedules, so several can run (on by default, as in Kubernetes; --leader-elect=false for a lone instance that must act the moment it restarts)', parseBool, true)
    .option('--identity <name>', 'this instance in the Lease (default: <hostname>_<uuid>)')
    .option('--metrics-port <port>', 'port of /metrics and /healthz (0: any free port, -1: none)', parseMetricsPort, 10251)
    .option('--metrics-host <ip>', 'address of /metrics and /healthz', '127.0.0.1')
    .option('--concurrency <n>', 'scheduling decisions and bindings in flight', parsePositiveInt, 16)
    .option('--scheduler-name <name>', 'schedule pods whose spec.schedulerName is this', 'default-scheduler')
    .option('--flush-interval-ms <ms>', 'backstop retry of unschedulable pods (default: 30000)', parsePositiveInt)
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease', 'kube-system')
    .option('--lease-name <name>', 'name of the leader-election Lease', 'flotilla-scheduler')
    .option('--leader-elect-lease-duration <duration>', 'how long a silent leader keeps the Lease', parseSeconds, 15)
    .option('--leader-elect-renew-deadline <duration>', 'a leader that cannot renew this long steps down', parseSeconds, 10)
    .option('--leader-elect-retry-period <duration>', 'pause between attempts to acquire or renew', parseSeconds, 2)
    .option('--log-level <level>', 'pino log level (default: $FLOTILLA_LOG_LEVEL or info)')
    .action(async (flags: SchedulerFlags) => {
      const logger = createLogger('scheduler', flags.logLevel ? { level: flags.logLevel } : {});
      const config: SchedulerConfig = {
        leaderElect: flags.leaderElect,
        metricsPort: flags.metricsPort,
        metricsHost: flags.metricsHost,
        concurrency: flags.concurrency,
        schedulerName: flags.schedulerName,
        leaseNamespace: flags.leaseNamespace,
        leaseName: flags.leaseName,
        leaseDurationSeconds: Math.max(1, Math.round(flags.leaderElectLeaseDuration)),
        renewDeadlineSeconds: flags.leaderElectRenewDeadline,
        retryPeriodSeconds: flags.leaderElectRetryPeriod,
        logger,
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.identity ? { identity: flags.identity } : {}),
        ...(flags.flushIntervalMs ? { flushIntervalMs: flags.flushIntervalMs } : {}),
      };
      await runComponent('scheduler', run, config, logger);
    });
}
