/**
 * The scheduler process logic: informers on nodes and pods keep a Snapshot
 * current, unscheduled pods' keys go through a work queue, and N workers
 * each take a key, decide against the snapshot, assume the pod on the chosen
 * node at once (so concurrent decisions never double-book) and hand the
 * binding POST to a bounded in-flight pool, taking the next pod at once (as
 * Kubernetes' binding cycle runs apart from the scheduling cycle). Pods that
 * fit nowhere are parked until the cluster changes.
 */
import { ApiError, getCondition, isReason, nowTimestamp, objectKey, setCondition, deepCopy, type KubeObject, type Node, type Pod } from '@flotilla/api';
import { Controller, defaultControllerRateLimiter, Informer, StopGrace, realClock, type RateLimiter, silentLogger, WorkQueue, type ApiClient, type Clock, type Logger, type TimerHandle } from '@flotilla/client';
import { Registry, type Counter, type Gauge, type Histogram } from '@flotilla/observability';
import { schedule, type ScheduleOptions } from './schedule.js';
import { podInfo, Snapshot } from './snapshot.js';

/** The scheduler name pods get by default; pods naming another scheduler are left alone. */
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

/** Name of the pod informer index of unassigned pods that this scheduler owns. */
export const UNASSIGNED_INDEX = 'unassigned';

/** How long bindings in flight may go on after the stop before they are given up. */
export const BINDING_GRACE_MS = 1_000;

/** The part of an event recorder the scheduler needs (FailedScheduling, Scheduled). */
export interface SchedulerEventSink {
  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** What a Scheduler is built from; everything but the client has a default. */
export interface SchedulerOptions {
  client: ApiClient;
  /** Decisions in progress at once (workers). Default 16. */
  concurrency?: number;
  /** Bindings in flight at once; a worker waits for a slot only when all are taken. Default 64. */
  maxBindingsInFlight?: number;
  schedulerName?: string;
  /** Backstop: parked (unschedulable) pods are retried at least this often, in ms. Default 30 s. */
  flushIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
  events?: SchedulerEventSink;
  /** Where the scheduler's metrics go; a private registry when unset. */
  metrics?: Registry;
  /** Informers to share with the rest of the process; made (and started by run()) when unset. */
  nodeInformer?: Informer<Node>;
  podInformer?: Informer<Pod>;
  /** Plugins for schedule(). */
  scheduleOptions?: ScheduleOptions;
}

/** The metrics the scheduler reports. */
export interface SchedulerMetrics {
  attempts: Counter;
  duration: Histogram;
  algorithmDuration: Histogram;
  pending: Gauge;
}

/** Registers the scheduler's metrics (names as kube-scheduler's) on a registry. */
export function schedulerMetrics(registry: Registry): SchedulerMetrics {
  return {
    attempts: registry.counter('scheduler_schedule_attempts_total', 'Scheduling attempts by result (scheduled, unschedulable, error).'),
    duration: registry.histogram('scheduler_scheduling_duration_seconds', 'Time of one attempt: decision plus binding.'),
    algorithmDuration: registry.histogram('scheduler_scheduling_algorithm_duration_seconds', 'Time of the filter and score pass alone.', [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]),
    pending: registry.gauge('scheduler_pending_pods', 'Unscheduled pods by queue: active (queued or in flight) or unschedulable (parked).'),
  };
}

/** True when the pod has finished. */
function isTerminal(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Only what filters and scores read of a node; heartbeats do not change it, so they do not flush the parked pods. */
function nodeSchedulingView(node: Node): string {
  const ready = getCondition(node.status?.conditions, 'Ready')?.status;
  return JSON.stringify([node.metadata.labels, node.spec?.unschedulable, node.spec?.taints, node.status?.allocatable ?? node.status?.capacity, ready]);
}

/** Schedules pods onto nodes; one per process, or one active per cluster under leader election. */
export class Scheduler {
  readonly snapshot = new Snapshot();
  readonly nodeInformer: Informer<Node>;
  readonly podInformer: Informer<Pod>;
  readonly controller: Controller;
  readonly metrics: SchedulerMetrics;
  readonly registry: Registry;
  private readonly client: ApiClient;
  private readonly schedulerName: string;
  private readonly flushIntervalMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly events: SchedulerEventSink | undefined;
  private readonly scheduleOptions: ScheduleOptions;
  private readonly ownInformers: boolean;
  /** Keys of pods no node could take, waiting for a cluster change. */
  private readonly parked = new Set<string>();
  /** Keys of unassigned pods of this scheduler (queued, in flight or parked), for the pending gauge. */
  private readonly pending = new Set<string>();
  private flushTimer: TimerHandle | undefined;
  private readonly maxBindings: number;
  /** What bindings are posted through: their requests are given up BINDING_GRACE_MS after a stop. */
  private readonly bindingRequests: StopGrace;
  /** Bindings posted and not yet answered. */
  private readonly bindings = new Set<Promise<void>>();
  /** Workers waiting for a binding slot. */
  private readonly slotWaiters: Array<() => void> = [];
  /**
   * Back-off of failed bindings. The worker's attempt succeeded when the POST
   * went out (and the controller forgot the key), so the binding keeps its own
   * history to make repeated failures wait longer.
   */
  private readonly bindRetry: RateLimiter<string>;

  constructor(options: SchedulerOptions) {
    this.client = options.client;
    this.bindingRequests = new StopGrace(options.client, BINDING_GRACE_MS);
    this.schedulerName = options.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.flushIntervalMs = options.flushIntervalMs ?? 30_000;
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
    this.events = options.events;
    this.maxBindings = Math.max(1, options.maxBindingsInFlight ?? 64);
    this.bindRetry = defaultControllerRateLimiter(this.clock);
    // One cursor for the scheduler's lifetime: successive decisions start where the last one stopped, as in Kubernetes.
    this.scheduleOptions = { cursor: { next: 0 }, ...options.scheduleOptions };
    this.registry = options.metrics ?? new Registry();
    this.metrics = schedulerMetrics(this.registry);
    this.ownInformers = !options.nodeInformer && !options.podInformer;
    this.nodeInformer = options.nodeInformer ?? new Informer<Node>(this.client, 'nodes', { clock: this.clock, logger: this.log });
    this.podInformer = options.podInformer ?? new Informer<Pod>(this.client, 'pods', { clock: this.clock, logger: this.log });
    this.podInformer.addIndexer(UNASSIGNED_INDEX, (p) => (this.isOurs(p as Pod) ? [this.schedulerName] : []));
    this.controller = new Controller({
      name: 'scheduler',
      workers: options.concurrency ?? 16,
      reconcile: (key) => this.scheduleOne(key),
      informers: [this.nodeInformer, this.podInformer],
      logger: this.log,
      clock: this.clock,
      // Higher pod priority first (spec.priority, resolved from the PriorityClass at admission), as Kubernetes' active queue.
      queue: new WorkQueue<string>({ name: 'scheduler', clock: this.clock, priority: (key) => this.podInformer.store.get(key)?.spec?.priority ?? 0 }),
    });
    this.wireHandlers();
  }

  /** Starts the informers (if this scheduler made them), the backstop flush and the workers; resolves when `signal` aborts and in-flight bindings finished. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.ownInformers) {
      this.nodeInformer.start(signal);
      this.podInformer.start(signal);
    }
    this.scheduleFlush();
    // The bindings in flight are waited for on stop, but not for the client's response timeout
    // (60 s) when the apiserver stopped answering.
    const disarm = this.bindingRequests.arm(signal);
    try {
      await this.controller.run(signal);
    } finally {
      if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      while (this.bindings.size > 0) await Promise.allSettled([...this.bindings]);
      disarm();
    }
  }

  /** Bindings posted and not yet answered. */
  get bindingsInFlight(): number {
    return this.bindings.size;
  }

  /** Keys of pods currently parked as unschedulable. */
  unschedulablePods(): string[] {
    return [...this.parked];
  }

  /** Moves every parked pod back to the queue: something changed that may let it fit. */
  flushUnschedulable(why: string): void {
    if (this.parked.size === 0) return;
    this.log.debug({ count: this.parked.size, why }, 'requeueing unschedulable pods');
    for (const key of this.parked) this.controller.queue.add(key);
    this.parked.clear();
    this.updatePendingGauge();
  }

  /** True for a pod this scheduler should place: unassigned, not finished or being deleted, and naming this scheduler. */
  isOurs(pod: Pod): boolean {
    if (pod.spec?.nodeName || isTerminal(pod) || pod.metadata.deletionTimestamp) return false;
    return (pod.spec?.schedulerName || DEFAULT_SCHEDULER_NAME) === this.schedulerName;
  }

  private wireHandlers(): void {
    this.nodeInformer.addEventHandler({
      onAdd: (node) => {
        this.snapshot.upsertNode(node);
        this.flushUnschedulable('node added');
      },
      onUpdate: (old, node) => {
        this.snapshot.upsertNode(node);
        if (nodeSchedulingView(old) !== nodeSchedulingView(node)) this.flushUnschedulable('node changed');
      },
      onDelete: (node) => this.snapshot.removeNode(node.metadata.name ?? ''),
    });
    this.podInformer.addEventHandler({
      onAdd: (pod) => this.onPod(undefined, pod),
      onUpdate: (old, pod) => this.onPod(old, pod),
      onDelete: (pod) => {
        const key = objectKey(pod);
        const wasCounted = this.snapshot.nodeOf(key) !== undefined && !this.snapshot.isAssumed(key);
        this.snapshot.removePod(key);
        this.parked.delete(key);
        this.pending.delete(key);
        this.updatePendingGauge();
        // A deleted pod frees its node's resources and ports.
        if (wasCounted) this.flushUnschedulable('pod deleted');
      },
    });
  }

  private onPod(old: Pod | undefined, pod: Pod): void {
    const key = objectKey(pod);
    const wasCounted = this.snapshot.nodeOf(key) !== undefined && !this.snapshot.isAssumed(key);
    this.snapshot.upsertPod(pod);
    if (this.isOurs(pod)) {
      this.pending.add(key);
      if (!this.parked.has(key)) this.controller.queue.add(key);
      else if (old && JSON.stringify(old.spec) !== JSON.stringify(pod.spec)) {
        // The pod's own requirements changed: worth another try. (Our status writes do not get here.)
        this.parked.delete(key);
        this.controller.queue.add(key);
      }
    } else {
      this.pending.delete(key);
      this.parked.delete(key);
      // A pod that finished on its node frees what it requested.
      if (wasCounted && this.snapshot.nodeOf(key) === undefined) this.flushUnschedulable('pod finished');
    }
    this.updatePendingGauge();
  }

  private updatePendingGauge(): void {
    this.metrics.pending.set(this.parked.size, { queue: 'unschedulable' });
    this.metrics.pending.set(this.pending.size - this.parked.size, { queue: 'active' });
  }

  private scheduleFlush(): void {
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushUnschedulable('periodic flush');
      this.scheduleFlush();
    }, this.flushIntervalMs);
  }

  /** One attempt for one pod key: decide, assume, bind; or record why it cannot be placed. */
  async scheduleOne(key: string): Promise<void> {
    const pod = this.podInformer.store.get(key);
    if (!pod || !this.isOurs(pod)) return;
    // A binding for it is in flight or waiting for the informer to show it: nothing to do.
    if (this.snapshot.isAssumed(key)) return;

    const start = performance.now();
    const pi = podInfo(pod);
    const result = schedule(pi, this.snapshot, this.scheduleOptions);
    this.metrics.algorithmDuration.observe((performance.now() - start) / 1000);

    if (result.unschedulable) {
      // Parked before any await, so a node event arriving while we write the status still requeues it.
      this.parked.add(key);
      this.updatePendingGauge();
      this.metrics.attempts.inc({ result: 'unschedulable' });
      this.metrics.duration.observe((performance.now() - start) / 1000, { result: 'unschedulable' });
      this.log.info({ pod: key, reasons: result.reasons }, result.message);
      this.events?.event(pod, 'Warning', 'FailedScheduling', result.message);
      await this.recordUnschedulable(pod, result.message);
      return;
    }

    const node = result.node;
    this.snapshot.assume(pi, node);
    // The assumption holds the node's room; the worker is free once the POST is out.
    while (this.bindings.size >= this.maxBindings) await new Promise<void>((r) => this.slotWaiters.push(r));
    const binding = this.bind(pod, key, node, start).finally(() => {
      this.bindings.delete(binding);
      this.slotWaiters.shift()?.();
    });
    this.bindings.add(binding);
  }

  /**
   * POSTs one binding. A 409 or 404 drops the pod (already bound, or gone:
   * the informer tells the rest); any other failure forgets the assumption
   * and re-queues the pod with back-off. Never rejects.
   */
  private async bind(pod: Pod, key: string, node: string, start: number): Promise<void> {
    const { namespace, name } = pod.metadata;
    try {
      await this.bindingRequests.client.bind(namespace ?? 'default', name ?? '', node);
    } catch (err) {
      this.snapshot.forget(key);
      if (isReason(err, 'Conflict') || isReason(err, 'NotFound')) {
        this.metrics.attempts.inc({ result: 'dropped' });
        // Rare (another scheduler bound it, or it was deleted), and it records no Scheduled event: worth a line.
        this.log.info({ pod: key, node, err: (err as Error).message }, 'binding not needed');
        return;
      }
      this.metrics.attempts.inc({ result: 'error' });
      this.metrics.duration.observe((performance.now() - start) / 1000, { result: 'error' });
      this.log.error({ pod: key, node, retries: this.bindRetry.numRequeues(key), err: (err as Error)?.message ?? String(err) }, 'binding failed; retrying with back-off');
      this.controller.queue.addAfter(key, this.bindRetry.when(key));
      return;
    }
    this.bindRetry.forget(key);
    this.metrics.attempts.inc({ result: 'scheduled' });
    this.metrics.duration.observe((performance.now() - start) / 1000, { result: 'scheduled' });
    this.log.debug({ pod: key, node }, 'bound');
    this.events?.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${node}`);
  }

  /** Sets PodScheduled=False/Unschedulable with the message, through pods/status, unless it already says so. */
  private async recordUnschedulable(pod: Pod, message: string): Promise<void> {
    const cur = getCondition(pod.status?.conditions, 'PodScheduled');
    if (cur && cur.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message) return;
    const next = deepCopy(pod);
    next.status ??= {};
    next.status.conditions = setCondition(next.status.conditions, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null }, nowTimestamp(new Date(this.clock.now())));
    try {
      await this.client.resource<Pod>('pods').updateStatus(next);
    } catch (err) {
      // Stale cache (409) or gone (404): the next event brings the pod back if it still matters.
      if (isReason(err, 'Conflict') || isReason(err, 'NotFound')) return;
      throw wrap(err, `updating status of pod ${objectKey(pod)}`);
    }
  }
}

function wrap(err: unknown, what: string): Error {
  if (err instanceof ApiError) return err;
  const e = new Error(`${what}: ${(err as Error)?.message ?? String(err)}`);
  (e as Error & { cause?: unknown }).cause = err;
  return e;
}
