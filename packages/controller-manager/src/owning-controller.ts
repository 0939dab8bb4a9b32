/**
 * The frame every controller that owns dependents shares (ReplicaSet →
 * Pods, Deployment → ReplicaSets, DaemonSet → Pods, Job → Pods, CronJob →
 * Jobs), as Kubernetes' controllers share it: one base class with the
 * clock, logger and Event sink and a harness over the informers the
 * reconcile reads, owner events that queue the owner, and dependent events
 * mapped back to their controlling owner — counting the owner's
 * expectations, and queueing the owners that may adopt an orphan.
 */
import { controllerRef, isReason, jsonEqual, objectKey, type KubeObject, type OwnerReference, type Pod, type Selector } from '@flotilla/api';
import {
  Controller,
  realClock,
  silentLogger,
  type ApiClient,
  type Clock,
  type EventRecorder,
  type Informer,
  type InformerFactory,
  type Logger,
  type ReadonlyStore,
  type ReconcileFunc,
  type ReconcileResult,
  type ResourceClient,
} from '@flotilla/client';
import { errMessage } from './context.js';
import type { ControllerMetrics } from './controller-metrics.js';
import { informersSynced, resolveControllerRef, startInformers } from './owner-lookup.js';
import type { Expectations } from './replicaset/expectations.js';

/** Where controllers send Events: an EventRecorder, or anything with the same `event` method (tests). */
export type EventSink = Pick<EventRecorder, 'event'>;

/** The sink of a controller built without a recorder. */
export const noEvents: EventSink = { event: () => {} };

/** What the owning controllers are constructed with (the manager passes its ControllerDeps). */
export interface OwningControllerOptions {
  client: ApiClient;
  /** Shared informers; run() starts the ones the controller reads if nobody has. */
  informers: InformerFactory;
  recorder?: EventSink;
  logger?: Logger;
  /** Parallel reconciles (each controller has its Kubernetes default). */
  workers?: number;
  clock?: Clock;
}

/** What an owning controller's queue is built over (OwningController.initQueue). */
export interface OwnerQueueOptions<O extends KubeObject> {
  /** The controller's name: in logs and, with `metrics`, the metric label. */
  name: string;
  workers: number;
  /** The owners' informer: every change queues the owner. */
  owners: Informer<O>;
  /** The other informers the reconcile reads: waited for before the first reconcile, started by run() if nobody has. */
  reads: ReadonlyArray<Informer<KubeObject>>;
  /** Reconcile counts, durations and queue depth; none recorded when unset. */
  metrics?: ControllerMetrics;
  /** Forgotten when an owner is deleted. */
  expectations?: Expectations;
  /** Called when an owner is deleted, before its key is queued: drop per-owner state. */
  onOwnerDeleted?(owner: O): void;
}

/** The queue and workers of an owning controller, and every informer they wait for. */
interface Harness {
  controller: Controller;
  informers: ReadonlyArray<Informer<KubeObject>>;
}

/**
 * The base of an owning controller: its clock, logger and Event sink, and
 * the harness — queue and workers over its informers, owner events
 * queueing the owner — that the subclass builds with initQueue() once it
 * has requested its informers (in its own order, which the shared factory
 * keeps).
 */
export abstract class OwningController<O extends KubeObject> {
  protected readonly clock: Clock;
  protected readonly log: Logger;
  protected readonly recorder: EventSink;
  private harness?: Harness;

  protected constructor(options: OwningControllerOptions) {
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
    this.recorder = options.recorder ?? noEvents;
  }

  /** The work queue and workers (key: the owner's namespace/name); exposed so tests and the process can enqueue and inspect. */
  get controller(): Controller {
    return this.queue.controller;
  }

  private get queue(): Harness {
    if (!this.harness) throw new Error(`${this.constructor.name}: initQueue() was not called`);
    return this.harness;
  }

  /** Reconciles one owner by key (`namespace/name`); exposed for tests. */
  abstract reconcile(key: string): Promise<ReconcileResult | void>;

  /** Builds the harness over `options.owners` and `options.reads`; called once, from the subclass's constructor. */
  protected initQueue(options: OwnerQueueOptions<O>): void {
    const { name, metrics, expectations } = options;
    const reconcile: ReconcileFunc = (key) => this.reconcile(key);
    const informers = [options.owners, ...options.reads];
    const controller = new Controller({
      name,
      workers: options.workers,
      reconcile: metrics ? metrics.instrument(name, reconcile) : reconcile,
      informers,
      logger: this.log,
      clock: this.clock,
    });
    this.harness = { controller, informers };
    metrics?.watchQueue(name, controller.queue);
    options.owners.addEventHandler({
      onAdd: (o) => controller.enqueue(o),
      onUpdate: (_old, o) => controller.enqueue(o),
      onDelete: (o) => {
        expectations?.delete(objectKey(o));
        options.onOwnerDeleted?.(o);
        controller.enqueue(o);
      },
    });
  }

  /** Starts the informers unless something (the manager's factory) already runs them, then reconciles until `signal` aborts (in-flight keys finish). */
  async run(signal: AbortSignal): Promise<void> {
    startInformers(this.queue.informers, signal);
    await this.queue.controller.run(signal);
  }

  /** Resolves true once every cache has synced (false if `signal` aborts first). */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    return informersSynced(this.queue.informers, signal);
  }

  /**
   * Deletes one of `owner`'s pods whose deletion `expectations` awaits (under
   * the owner's key): SuccessfulDelete, or FailedDelete with the error pushed
   * to `errors`. A pod already gone counts as deleted. A failed delete is
   * observed at once: its delete event will never come.
   */
  protected async deleteDependentPod(owner: O, pod: Pod, pods: ResourceClient<Pod>, expectations: Expectations, errors: unknown[]): Promise<void> {
    try {
      await pods.delete(pod.metadata.namespace, pod.metadata.name!);
      this.recorder.event(owner, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
    } catch (err) {
      expectations.deletionObserved(objectKey(owner), objectKey(pod));
      if (!isReason(err, 'NotFound')) {
        this.recorder.event(owner, 'Warning', 'FailedDelete', `Error deleting: ${errMessage(err)}`);
        errors.push(err);
      }
    }
  }
}

/** The objects in `store` that `owner` controls (by uid), in its namespace. */
export function ownedBy<T extends KubeObject>(store: Pick<ReadonlyStore<T>, 'byControllerUid'>, owner: KubeObject): T[] {
  return store.byControllerUid(owner.metadata.uid ?? '').filter((o) => o.metadata.namespace === owner.metadata.namespace);
}

/** Which informer event a dependent handler saw. */
export type DependentEvent = 'add' | 'update' | 'delete';

/** Options of watchDependents(). */
export interface DependentEventsOptions<O extends KubeObject, D extends KubeObject> {
  /** The dependents' informer (pods, ReplicaSets, Jobs). */
  dependents: Informer<D>;
  /** The owners' cache, where controller refs are resolved. */
  owners: Pick<ReadonlyStore<O>, 'get' | 'byNamespace'>;
  /** The owners' kind: controller refs of other kinds are not ours. */
  ownerKind: string;
  controller: Pick<Controller, 'enqueue'>;
  /** The owners' outstanding creations and deletions, observed here; none when unset. */
  expectations?: Expectations;
  /** The owner's selector, for adoption: an orphan queues every owner in its namespace that selects it. Without it orphans are ignored. */
  selectorOf?(owner: O): Selector | null;
  /** A controlled dependent changed and is not being deleted (its owner was queued). */
  onControlledUpdate?(owner: O, old: D, cur: D): void;
  /** A dependent's controller ref names an owner of this kind that is not in the cache (or has another uid). */
  onOwnerMissing?(dependent: D, event: DependentEvent): void;
}

function sameRef(a: OwnerReference | undefined, b: OwnerReference | undefined): boolean {
  return a?.uid === b?.uid && a?.name === b?.name && a?.kind === b?.kind;
}

/**
 * Maps dependent events to their owners, as Kubernetes' ReplicaSet
 * controller does (addPod/updatePod/deletePod): a creation or deletion is
 * observed against the controlling owner's expectations and the owner is
 * queued; a dependent seen already terminating counts as deleted; when the
 * controller ref moves, the old owner is queued too; an orphan (or one whose
 * labels changed) queues the owners that may adopt it.
 */
export function watchDependents<O extends KubeObject, D extends KubeObject>(options: DependentEventsOptions<O, D>): void {
  const { owners, ownerKind, controller, expectations, selectorOf } = options;
  const resolve = (d: D, ref = controllerRef(d)) => resolveControllerRef(owners, ownerKind, d.metadata.namespace, ref);
  const missing = (d: D, event: DependentEvent) => {
    if (controllerRef(d)?.kind === ownerKind) options.onOwnerMissing?.(d, event);
  };
  const enqueueAdopters = (d: D) => {
    if (!selectorOf || !d.metadata.namespace) return;
    for (const o of owners.byNamespace(d.metadata.namespace)) {
      const s = selectorOf(o);
      if (s !== null && !s.empty && s.matches(d.metadata.labels)) controller.enqueue(o);
    }
  };
  const deleted = (d: D, event: DependentEvent) => {
    const owner = resolve(d);
    if (!owner) return missing(d, event);
    const key = objectKey(owner);
    expectations?.deletionObserved(key, objectKey(d));
    controller.enqueue(key);
  };
  options.dependents.addEventHandler({
    onAdd: (d) => {
      // Seen for the first time already terminating (e.g. after a restart): a deletion, not a creation.
      if (d.metadata.deletionTimestamp) return deleted(d, 'add');
      const ref = controllerRef(d);
      if (!ref) return enqueueAdopters(d);
      const owner = resolve(d, ref);
      if (!owner) return missing(d, 'add');
      const key = objectKey(owner);
      expectations?.creationObserved(key);
      controller.enqueue(key);
    },
    onUpdate: (old, cur) => {
      if (old.metadata.resourceVersion === cur.metadata.resourceVersion) return;
      const labelChanged = !jsonEqual(old.metadata.labels ?? {}, cur.metadata.labels ?? {});
      if (cur.metadata.deletionTimestamp) {
        // Graceful deletion started: count it now so a replacement is made without waiting for the grace period.
        deleted(cur, 'update');
        if (labelChanged) deleted(old, 'update');
        return;
      }
      const curRef = controllerRef(cur);
      const oldRef = controllerRef(old);
      const refChanged = !sameRef(curRef, oldRef);
      if (refChanged && oldRef) {
        const prev = resolve(old, oldRef);
        if (prev) controller.enqueue(prev);
      }
      if (curRef) {
        const owner = resolve(cur, curRef);
        if (!owner) return missing(cur, 'update');
        controller.enqueue(owner);
        options.onControlledUpdate?.(owner, old, cur);
        return;
      }
      if (labelChanged || refChanged) enqueueAdopters(cur);
    },
    onDelete: (d) => deleted(d, 'delete'),
  });
}
