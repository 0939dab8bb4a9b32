/**
 * Recording core/v1 Events about objects, deduplicated as Kubernetes does:
 * the same object, type, reason and message within a window bumps `count`
 * and `lastTimestamp` of the existing Event instead of creating another.
 * Repeats that arrive while an identical event is still waiting to be
 * written are folded into that write (one API call for a burst). Writes for
 * different events run in the background with bounded concurrency.
 * Recording never blocks nor throws. A write the apiserver could not take
 * (unreachable, 5xx, 429) is tried again, as Kubernetes' event broadcaster
 * does (12 tries, 10 s apart); other failures, and the last try, are
 * logged. Events beyond the pending cap are dropped and counted in `dropped`.
 */
import { ApiError, groupVersion, isReason, nowTimestamp, type Event, type KubeObject } from '@flotilla/api';
import { resolveResource, type ApiClient, type ResourceClient } from './api-client.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { silentLogger, type Logger } from './logger.js';

/** Options of an EventRecorder. */
export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`, e.g. `replicaset-controller`. */
  component: string;
  /** `source.host`, set by agents (the node name). */
  host?: string;
  /** `reportingInstance`; defaults to the host or component. */
  instance?: string;
  /** Events repeated within this window are merged (Kubernetes: 10 minutes). */
  dedupeWindowMs?: number;
  /** Distinct events waiting or being written beyond this are dropped (and counted), so a storm cannot grow memory. */
  maxPending?: number;
  /** Writes in flight at once; different events do not wait for each other beyond this. */
  maxInFlight?: number;
  /** Drops are logged at most once per this interval, with the count since the last log. */
  dropLogIntervalMs?: number;
  /** Writes of one event before it is given up when the apiserver cannot take it (Kubernetes: 12). */
  maxTries?: number;
  /** Wait between tries (Kubernetes: 10 s; the first wait is a random share of it, so clients do not retry in step). */
  retryDelayMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** The event types Kubernetes defines. */
export type EventType = 'Normal' | 'Warning';

interface Seen {
  namespace: string;
  name: string;
  count: number;
  lastSeen: number;
}

/** One distinct event waiting for (or in) its write; repeats meanwhile add to `hits`. */
interface Job {
  key: string;
  obj: KubeObject;
  type: EventType;
  reason: string;
  message: string;
  /** Occurrences not yet written; 0 while a write carries them all. */
  hits: number;
  firstAt: number;
  lastAt: number;
  /** Writes tried so far. */
  tries: number;
  /** The Event's name once a create was tried: a retried create whose first answer was lost finds it (AlreadyExists) instead of making a second. */
  name?: string;
  /** Set by flush: one more try, now, and no retry after it. */
  final?: boolean;
}

const CACHE_LIMIT = 4096;

/** Records Events for involved objects in the background. */
export class EventRecorder {
  /** Events dropped because `maxPending` distinct events were already waiting (monotonic, for metrics). */
  dropped = 0;
  /** Occurrences folded into an event already waiting to be written instead of costing a write of their own. */
  aggregated = 0;
  private readonly events: ResourceClient<Event>;
  private readonly opts: Required<Pick<EventRecorderOptions, 'component' | 'dedupeWindowMs' | 'maxPending' | 'maxInFlight' | 'dropLogIntervalMs' | 'maxTries' | 'retryDelayMs'>> &
    EventRecorderOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly seen = new Map<string, Seen>();
  /** Waiting or in-flight events by dedupe key. */
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  /** Jobs waiting to be tried again, with their timers. */
  private readonly retries = new Map<Job, TimerHandle>();
  private inFlight = 0;
  private pumpScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private droppedSinceLog = 0;
  private lastDropLog: number | undefined;
  private seq = 0;

  constructor(client: ApiClient, options: EventRecorderOptions) {
    this.events = client.resource<Event>({ apiVersion: 'v1', kind: 'Event' });
    this.opts = { dedupeWindowMs: 10 * 60_000, maxPending: 1000, maxInFlight: 16, dropLogIntervalMs: 10_000, maxTries: 12, retryDelayMs: 10_000, ...options };
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
  }

  /** Records an event about `obj`. Returns at once; the write happens in the background. */
  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    const md = obj.metadata ?? {};
    const key = [obj.apiVersion, obj.kind, md.namespace ?? '', md.name, md.uid ?? '', type, reason, message].join('\u0000');
    const at = this.clock.now();
    const job = this.jobs.get(key);
    if (job) {
      // The same event is already on its way: fold this occurrence into it.
      if (job.hits === 0) job.firstAt = at;
      job.hits++;
      job.lastAt = at;
      this.aggregated++;
      return;
    }
    if (this.jobs.size >= this.opts.maxPending) {
      this.drop(obj, reason, at);
      return;
    }
    const fresh: Job = { key, obj, type, reason, message, hits: 1, firstAt: at, lastAt: at, tries: 0 };
    this.jobs.set(key, fresh);
    this.queue.push(fresh);
    this.schedulePump();
  }

  // Writes start on a microtask: never inside the caller's own synchronous
  // work (its writes go first), and a same-tick burst folds into one write.
  private schedulePump(): void {
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      queueMicrotask(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
  }

  /**
   * Resolves when every event recorded so far has been written or has
   * failed: one waiting for a retry is tried once more at once, and not
   * again (a component stopping does not wait out the retries).
   */
  flush(): Promise<void> {
    if (this.jobs.size === 0) return Promise.resolve();
    for (const job of this.jobs.values()) job.final = true;
    for (const [job, timer] of this.retries) {
      this.clock.clearTimeout(timer);
      this.retries.delete(job);
      this.queue.push(job);
    }
    this.pump();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drop(obj: KubeObject, reason: string, at: number): void {
    this.dropped++;
    this.droppedSinceLog++;
    if (this.lastDropLog !== undefined && at - this.lastDropLog < this.opts.dropLogIntervalMs) return;
    this.log.warn(
      { object: describe(obj), reason, droppedSinceLastLog: this.droppedSinceLog, droppedTotal: this.dropped, maxPending: this.opts.maxPending },
      'events dropped: too many pending',
    );
    this.lastDropLog = at;
    this.droppedSinceLog = 0;
  }

  /** Starts waiting writes up to the in-flight bound. */
  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.inFlight++;
      void this.run(job).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.jobs.size === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  /**
   * Writes a job, then again while repeats arrived during the write (they
   * must follow the create in order); on a failure the apiserver may get
   * over, schedules the next try with every occurrence not yet written.
   */
  private async run(job: Job): Promise<void> {
    let hits = 0;
    try {
      while (job.hits > 0) {
        hits = job.hits;
        job.hits = 0;
        job.tries++;
        await this.write(job, hits, job.firstAt, job.lastAt);
        job.tries = 0;
        hits = 0;
      }
    } catch (err) {
      const fields = { object: describe(job.obj), reason: job.reason, tries: job.tries, err: (err as Error)?.message ?? String(err) };
      if (!job.final && job.tries < this.opts.maxTries && mayTryAgain(err)) {
        job.hits += hits;
        this.log.debug(fields, 'could not record event; trying again');
        const delay = job.tries === 1 ? Math.random() * this.opts.retryDelayMs : this.opts.retryDelayMs;
        this.retries.set(
          job,
          this.clock.setTimeout(() => {
            this.retries.delete(job);
            this.queue.push(job);
            this.schedulePump();
          }, delay),
        );
        return;
      }
      this.log.warn(fields, 'could not record event');
    }
    this.jobs.delete(job.key);
  }

  private async write(job: Job, hits: number, firstAt: number, lastAt: number): Promise<void> {
    const { obj, type, reason, message, key } = job;
    const md = obj.metadata ?? {};
    // Cluster-scoped objects (nodes) get their events in `default`, as in Kubernetes.
    const namespace = md.namespace || 'default';
    const prev = this.seen.get(key);
    if (prev && firstAt - prev.lastSeen < this.opts.dedupeWindowMs) {
      try {
        const count = prev.count + hits;
        await this.events.patch(prev.namespace, prev.name, { count, lastTimestamp: nowTimestamp(new Date(lastAt)), message }, 'merge');
        this.remember(key, { ...prev, count, lastSeen: lastAt });
        return;
      } catch (err) {
        // Deleted or expired meanwhile: fall through and create a fresh one.
        if (!isReason(err, 'NotFound')) throw err;
      }
    }
    const name = (job.name ??= `${md.name ?? 'unknown'}.${this.suffix(firstAt)}`);
    const ev: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion ?? groupVersionOf(obj),
        kind: obj.kind,
        namespace: md.namespace,
        name: md.name,
        uid: md.uid,
        resourceVersion: md.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: this.opts.component, ...(this.opts.host ? { host: this.opts.host } : {}) },
      firstTimestamp: nowTimestamp(new Date(firstAt)),
      lastTimestamp: nowTimestamp(new Date(lastAt)),
      count: hits,
      reportingComponent: this.opts.component,
      reportingInstance: this.opts.instance ?? this.opts.host ?? this.opts.component,
    };
    try {
      await this.events.create(ev);
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
    this.remember(key, { namespace, name, count: hits, lastSeen: lastAt });
  }

  /** Kubernetes names events `<object>.<unix nanoseconds in hex>`; a counter keeps same-ms names apart. */
  private suffix(at: number): string {
    const nanos = BigInt(at) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    return nanos.toString(16);
  }

  private remember(key: string, s: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, s);
    if (this.seen.size > CACHE_LIMIT) this.seen.delete(this.seen.keys().next().value as string);
  }
}

/** A failure the apiserver may get over: unreachable, 5xx, 429. Not a stop (AbortError) nor a refusal of the Event itself. */
function mayTryAgain(err: unknown): boolean {
  if ((err as Error)?.name === 'AbortError') return false;
  if (err instanceof ApiError) return err.status.code >= 500 || err.status.code === 429;
  return true;
}

function describe(obj: KubeObject): string {
  return `${obj.kind ?? '?'} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '?'}`;
}

function groupVersionOf(obj: KubeObject): string | undefined {
  try {
    return obj.kind ? groupVersion(resolveResource(obj.kind)) : undefined;
  } catch {
    return undefined;
  }
}
