/**
 * Per-controller metrics, named like Kubernetes' workqueue and
 * controller-runtime ones: queue depth, reconciles by result, reconcile
 * duration. Controllers wrap their reconcile function with instrument().
 */
import type { ReconcileFunc, WorkQueue } from '@flotilla/client';
import { Registry, type Counter, type Gauge, type Histogram } from '@flotilla/observability';

/** The metric families every controller reports into. */
export class ControllerMetrics {
  /** controller_reconcile_total{controller,result="success|error|requeue"} */
  readonly reconciles: Counter;
  /** controller_reconcile_errors_total{controller} */
  readonly errors: Counter;
  /** controller_reconcile_duration_seconds{controller} */
  readonly duration: Histogram;
  /** workqueue_depth{name} */
  readonly depth: Gauge;
  private readonly queues = new Map<string, Pick<WorkQueue<string>, 'len'>>();

  constructor(readonly registry: Registry = new Registry()) {
    this.reconciles = registry.counter('controller_reconcile_total', 'Reconciles per controller and result.');
    this.errors = registry.counter('controller_reconcile_errors_total', 'Reconciles that failed (retried with back-off).');
    this.duration = registry.histogram('controller_reconcile_duration_seconds', 'Time one reconcile took.');
    this.depth = registry.gauge('workqueue_depth', 'Keys waiting in a controller work queue.');
  }

  /** Wraps a reconcile so every call is counted and timed under `controller`. */
  instrument(controller: string, reconcile: ReconcileFunc): ReconcileFunc {
    return async (key, signal) => {
      const started = performance.now();
      try {
        const result = await reconcile(key, signal);
        this.reconciles.inc({ controller, result: result && typeof result.requeueAfter === 'number' ? 'requeue' : 'success' });
        return result;
      } catch (err) {
        this.reconciles.inc({ controller, result: 'error' });
        this.errors.inc({ controller });
        throw err;
      } finally {
        this.duration.observe((performance.now() - started) / 1000, { controller });
      }
    };
  }

  /** Reports the depth of `queue` under `name` (read at every scrape). */
  watchQueue(name: string, queue: Pick<WorkQueue<string>, 'len'>): void {
    this.queues.set(name, queue);
  }

  /** Refreshes the queue depth gauges; call before rendering. */
  refresh(): void {
    for (const [name, q] of this.queues) this.depth.set(q.len(), { name });
  }

  /** The exposition text with fresh queue depths. */
  render(): string {
    this.refresh();
    return this.registry.render();
  }
}
