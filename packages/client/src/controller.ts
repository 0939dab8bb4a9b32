/**
 * The controller harness shared by the scheduler, every controller, the
 * agent and the proxy: informers → handlers enqueue `namespace/name` keys →
 * workers pop a key → reconcile(key) → forget, requeue after a delay, or
 * retry with back-off on error. Workers start only after the caches synced.
 */
import { isReason, objectKey, type KubeObject } from '@flotilla/api';
import { onAbort, realClock, type Clock } from './clock.js';
import type { Informer } from './informer.js';
import { silentLogger, type Logger } from './logger.js';
import { WorkQueue } from './workqueue.js';

/** What a reconcile asks for besides success: look again after a while. */
export interface ReconcileResult {
  requeueAfter?: number;
}

/** A level-triggered reconcile of one key; throw to retry with back-off. */
export type ReconcileFunc = (key: string, signal: AbortSignal) => Promise<ReconcileResult | void>;

/** Options of a Controller. */
export interface ControllerOptions {
  /** Used in logs (`controller` field). */
  name: string;
  /** Number of parallel workers. Default 1. */
  workers?: number;
  reconcile: ReconcileFunc;
  /** Informers that must have synced before the first reconcile. The harness does not start them. */
  informers?: Array<Pick<Informer<KubeObject>, 'waitForSync'>>;
  logger?: Logger;
  /** A queue of your own (e.g. with a custom rate limiter); a default one otherwise. */
  queue?: WorkQueue<string>;
  clock?: Clock;
}

/** Runs reconcile workers over a work queue of object keys. */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  private readonly workers: number;
  private readonly reconcile: ReconcileFunc;
  private readonly informers: Array<Pick<Informer<KubeObject>, 'waitForSync'>>;
  private readonly log: Logger;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.workers = Math.max(1, options.workers ?? 1);
    this.reconcile = options.reconcile;
    this.informers = options.informers ?? [];
    this.log = options.logger ?? silentLogger;
    this.queue = options.queue ?? new WorkQueue<string>({ name: options.name, clock: options.clock ?? realClock });
  }

  /** Queues an object's key (`namespace/name`), or a key given as a string. */
  enqueue(objOrKey: KubeObject | string): void {
    this.queue.add(typeof objOrKey === 'string' ? objOrKey : objectKey(objOrKey));
  }

  /** Queues an object's key after `ms`. */
  enqueueAfter(objOrKey: KubeObject | string, ms: number): void {
    this.queue.addAfter(typeof objOrKey === 'string' ? objOrKey : objectKey(objOrKey), ms);
  }

  /**
   * Queues the key of the object's controller owner (same namespace), e.g.
   * a pod's ReplicaSet. With `kind`, only owners of that kind are queued.
   */
  enqueueOwner(obj: KubeObject, kind?: string): void {
    const ref = obj.metadata?.ownerReferences?.find((r) => r.controller === true);
    if (!ref || (kind && ref.kind !== kind)) return;
    const ns = obj.metadata.namespace;
    this.queue.add(ns ? `${ns}/${ref.name}` : ref.name);
  }

  /**
   * Waits for the informers to sync, then runs the workers until `signal`
   * aborts; in-flight reconciles finish before this resolves.
   */
  async run(signal: AbortSignal): Promise<void> {
    // Through the shared registry: a process runs many controllers (a thousand hollow nodes' agents) on one signal.
    const forget = onAbort(signal, () => this.queue.shutDown());
    try {
      if (signal.aborted) return;
      this.log.info({ controller: this.name }, 'waiting for caches to sync');
      const synced = (await Promise.all(this.informers.map((i) => i.waitForSync(signal)))).every(Boolean);
      if (!synced || signal.aborted) return;
      this.log.info({ controller: this.name, workers: this.workers }, 'caches synced; starting workers');
      await Promise.all(Array.from({ length: this.workers }, () => this.worker(signal)));
      this.log.info({ controller: this.name }, 'workers stopped');
    } finally {
      forget();
      this.queue.shutDown();
    }
  }

  private async worker(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.processOne(key, signal);
    }
  }

  /** Reconciles one key and decides what happens to it next. */
  private async processOne(key: string, signal: AbortSignal): Promise<void> {
    try {
      const result = await this.reconcile(key, signal);
      this.queue.forget(key);
      if (result && typeof result.requeueAfter === 'number' && result.requeueAfter >= 0) this.queue.addAfter(key, result.requeueAfter);
    } catch (err) {
      if (signal.aborted) return;
      const fields = { controller: this.name, key, retries: this.queue.numRequeues(key), err: (err as Error)?.message ?? String(err) };
      // A 409 is the normal outcome of a stale cache: retry quietly.
      if (isReason(err, 'Conflict')) this.log.debug(fields, 'conflict; retrying');
      else this.log.error(fields, 'reconcile failed; retrying with back-off');
      this.queue.addRateLimited(key);
    } finally {
      this.queue.done(key);
    }
  }
}
