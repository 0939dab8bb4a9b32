/** What every controller of the controller-manager is built from. */
import type { ApiClient, Clock, EventRecorder, InformerFactory, Logger } from '@flotilla/client';
import type { ControllerMetrics } from './controller-metrics.js';

/** The shared dependencies a controller is constructed with (same shape for every controller). */
export interface ControllerDeps {
  client: ApiClient;
  /** The process's shared informers; the controller requests what it needs, the manager starts them. */
  informers: InformerFactory;
  recorder: EventRecorder;
  logger: Logger;
  /** Parallel reconcile workers. */
  workers?: number;
  clock?: Clock;
  /** Reconcile counts, errors, durations and queue depth; none recorded when unset. */
  metrics?: ControllerMetrics;
}

/** The message of an unknown thrown value. */
export function errMessage(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
