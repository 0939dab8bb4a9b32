/**
 * The scheduler as a process: client from a kubeconfig, the /metrics and
 * /healthz server, optional leader election, and the Scheduler itself.
 * `flotilla scheduler` only parses flags into a SchedulerConfig and calls run().
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { EventRecorder, RestClient, runWithLeaderElection, type ApiClient, type Logger } from '@flotilla/client';
import { createLogger, Registry, startStatusServer } from '@flotilla/observability';
import { Scheduler, DEFAULT_SCHEDULER_NAME } from './scheduler.js';

/** Everything `flotilla scheduler` can set. */
export interface SchedulerConfig {
  /** kubeconfig path; $KUBECONFIG or ~/.kube/config when unset. */
  kubeconfig?: string;
  /** Only the holder of the `flotilla-scheduler` Lease in kube-system schedules. Default false. */
  leaderElect?: boolean;
  /** This instance's name in the Lease; `<hostname>_<uuid>` when unset. */
  identity?: string;
  /** Port of /metrics and /healthz; 0 picks a free one; -1 serves none. Default 10251. */
  metricsPort?: number;
  /** Address the metrics server binds. Default 127.0.0.1. */
  metricsHost?: string;
  /** Decisions + bindings in flight at once. Default 16. */
  concurrency?: number;
  /** Pods naming this scheduler are ours. Default `default-scheduler`. */
  schedulerName?: string;
  /** Backstop retry of unschedulable pods, ms. Default 30 s. */
  flushIntervalMs?: number;
  /** Lease namespace and name. Defaults kube-system / flotilla-scheduler. */
  leaseNamespace?: string;
  leaseName?: string;
  /** Leader-election timing in seconds (LeaderElector's defaults when unset: 15 / 10 / 2). */
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  /** An ApiClient to use instead of one built from the kubeconfig (tests, benchmarks). */
  client?: ApiClient;
  logger?: Logger;
  /** Told once the metrics server listens (the port matters when metricsPort is 0). */
  onListening?: (port: number) => void;
  /** Told once the Scheduler exists, before it runs: tests and benchmarks read its snapshot and metrics. */
  onScheduler?: (scheduler: Scheduler) => void;
}

/** Runs the scheduler until `signal` aborts; rejects if it cannot start. */
export async function run(config: SchedulerConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('scheduler');
  const identity = config.identity ?? `${hostname()}_${randomUUID()}`;
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-scheduler' });
  const registry = new Registry();
  const scheduler = new Scheduler({
    client,
    concurrency: config.concurrency ?? 16,
    schedulerName: config.schedulerName ?? DEFAULT_SCHEDULER_NAME,
    flushIntervalMs: config.flushIntervalMs,
    logger: log,
    metrics: registry,
    // Deduplicated, bounded and written in the background: never in the way of a binding.
    events: new EventRecorder(client, { component: DEFAULT_SCHEDULER_NAME, instance: identity, logger: log }),
  });
  config.onScheduler?.(scheduler);

  const port = config.metricsPort ?? 10251;
  const server = port >= 0 ? await startStatusServer({ registry, port, host: config.metricsHost ?? '127.0.0.1', logger: log }) : undefined;
  if (server) config.onListening?.(server.port);
  try {
    if (config.leaderElect) {
      const lease = {
        namespace: config.leaseNamespace ?? 'kube-system',
        name: config.leaseName ?? 'flotilla-scheduler',
        identity,
        logger: log,
        leaseDurationSeconds: config.leaseDurationSeconds,
        renewDeadlineSeconds: config.renewDeadlineSeconds,
        retryPeriodSeconds: config.retryPeriodSeconds,
      };
      await runWithLeaderElection(client, lease, signal, (leading) => {
        log.info({ identity, concurrency: config.concurrency ?? 16 }, 'scheduler starting as leader');
        return scheduler.run(leading);
      });
    } else {
      log.info({ identity, concurrency: config.concurrency ?? 16 }, 'scheduler starting');
      await scheduler.run(signal);
    }
  } finally {
    await server?.close();
    log.info({ identity }, 'scheduler stopped');
  }
}
