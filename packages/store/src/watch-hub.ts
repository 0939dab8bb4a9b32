/**
 * In-process fan-out of etcd watches: ONE shared watch per resource feeds
 * every watcher of that resource, with a bounded history of recent changes so
 * a watcher resuming from a recent revision is served from memory. The
 * shared watch is the read cache's (startFromCache: etcd sends each change
 * once, and the previous value comes from the cache), or an etcd watch of
 * its own with previous values when there is no read cache.
 */
import { ApiError, gone, type KubeObject } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { prefixRangeEnd } from './keys.js';
import { IDENTITY_TRANSFORMER, type ValueTransformer } from './encryption.js';
import type { StoreWatchEvent, StoreWatchIndex } from './storage.js';
import type { WatchStream } from './watch-stream.js';
import { rememberJson, spliceRevision } from './object-json.js';
import type { WatchEvent } from './etcd-proto.js';
import type { ReadCache } from './read-cache.js';

/** Freezes a parsed object all the way down: watch objects are shared by every watcher, so a mutation must fail loudly. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    // Indexed and for-in walks, not Object.values: no array per node (half the time on a pod).
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === 'object' && v !== null) deepFreeze(v);
      }
    } else {
      for (const k in value) {
        const v: unknown = value[k];
        if (typeof v === 'object' && v !== null) deepFreeze(v);
      }
    }
  }
  return value;
}

/** A shared, frozen watch object; its stored text (revision spliced in) is kept as its JSON, so watch lines need no JSON.stringify. */
function parseStamped(buf: Buffer, rev: number): KubeObject {
  const text = buf.toString('utf8');
  const obj = JSON.parse(text) as KubeObject;
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {};
  obj.metadata.resourceVersion = String(rev);
  return deepFreeze(rememberJson(obj, spliceRevision(text, obj, rev)));
}

/**
 * One change read from etcd, decoded lazily, shared read-only by every
 * watcher it is offered to in one fan-out, then released (see release).
 */
export class Change {
  /** Full etcd key. */
  readonly key: string;
  /** The etcd revision of the change (the object's new resourceVersion). */
  readonly rev: number;
  readonly deleted: boolean;
  /** True for the first version of a key (ADDED rather than MODIFIED). */
  readonly created: boolean;
  // The stored bytes are kept for the history's life (the read cache holds the same buffers), the decoded objects only
  // until release: a watch history of 10,000 decoded objects per resource lived ~45 s at 150,000 pods, long enough for
  // every one to be promoted and left for a major GC of the apiserver's 2 GiB heap to trace and free.
  private readonly value: Buffer | undefined;
  private readonly prevValue: Buffer | undefined;
  private parsed: KubeObject | undefined;
  private parsedPrev: KubeObject | null | undefined;
  /** [index name, value now, value before]… as the hub's indexes saw this change (see noteIndex). */
  private indexed: Array<string | undefined> | undefined;

  constructor(ev: WatchEvent, private readonly transformer: ValueTransformer = IDENTITY_TRANSFORMER) {
    this.key = ev.kv.key.toString('utf8');
    this.rev = Number(ev.kv.mod_revision);
    this.deleted = ev.type === 'Delete';
    this.created = !this.deleted && ev.kv.version === '1';
    this.value = this.deleted ? undefined : ev.kv.value;
    this.prevValue = ev.prev_kv?.value && ev.prev_kv.value.length > 0 ? ev.prev_kv.value : undefined;
  }

  /** The new state; for a deletion, the last state stamped with the deletion revision. */
  get object(): KubeObject {
    if (!this.parsed) this.parsed = this.value ? parseStamped(this.transformer.fromStorage(this.key, this.value), this.rev) : (this.previous ?? this.placeholder());
    return this.parsed;
  }

  /** The state before this change, stamped with this change's revision (Kubernetes' convention), if etcd still had it. */
  get previous(): KubeObject | undefined {
    if (this.parsedPrev === undefined) this.parsedPrev = this.prevValue ? parseStamped(this.transformer.fromStorage(this.key, this.prevValue), this.rev) : null;
    return this.parsedPrev ?? undefined;
  }

  /** Records the values of index `name` for this change (see HubIndex.offer), so a replay can skip it without decoding. */
  noteIndex(name: string, now: string, before: string | undefined): void {
    (this.indexed ??= []).push(name, now, before);
  }

  /** Whether this change can concern a watcher of `value` on index `name`: true when unknown (the index did not exist then). */
  mayConcern(name: string, value: string): boolean {
    const m = this.indexed;
    if (!m) return true;
    for (let i = 0; i < m.length; i += 3) if (m[i] === name) return m[i + 1] === value || m[i + 2] === value;
    return true;
  }

  /**
   * Drops the decoded objects once every watcher has been offered the change:
   * those that took it hold the object (and its watch line) until they have
   * written it, and a watcher resuming from the history later decodes the
   * stored bytes again. Objects then die young, in the scavenger.
   */
  release(): void {
    this.parsed = undefined;
    this.parsedPrev = undefined;
  }

  // Only when etcd lost the previous value (compacted): still tell watchers which object went away.
  private placeholder(): KubeObject {
    const parts = this.key.split('/');
    return deepFreeze({ metadata: { name: parts[parts.length - 1], resourceVersion: String(this.rev) } });
  }
}

/** Options of one watcher. */
export interface SubscriptionOptions {
  /** Only keys under this prefix (a namespace, or the whole resource). */
  keyPrefix: string;
  /** Deliver changes with a revision strictly greater than this. */
  afterRevision: number;
  predicate?: (obj: KubeObject) => boolean;
  /** An equality the predicate implies: the hub offers this watcher only the changes of objects with (or that had) that value. */
  index?: StoreWatchIndex;
  /** Undelivered events allowed before the watcher is ended with 410. */
  bufferSize: number;
}

/** One caller's watch: filters changes, converts them to events and queues them for its async iterator. */
export class Subscription {
  /** Highest revision this subscription has looked at (delivered or filtered out). */
  cursor: number;
  private queue: StoreWatchEvent[] = [];
  /** The revision of the change behind each queued event (a DELETED for leaving a selection carries an older object). */
  private revs: number[] = [];
  private head = 0;
  /** The revision the hub this subscription is attached to has processed. */
  private hubRevision: (() => number) | undefined;
  private wake: (() => void) | undefined;
  private finished = false;
  private error: ApiError | undefined;
  private readonly cleanups: Array<() => void> = [];
  private cleanedUp = false;

  constructor(private readonly opts: SubscriptionOptions) {
    this.cursor = opts.afterRevision;
  }

  /**
   * The revision up to which this watcher has been handed every event it
   * will get. With nothing queued, every change its hub has processed has
   * been offered to it (a hub offers synchronously, in order), so that is
   * the hub's revision, whether or not the change concerned this watcher
   * (an indexed watcher is not even offered the others). With events
   * queued, just short of the first of them.
   */
  progress(): number {
    if (this.head < this.queue.length) return this.revs[this.head]! - 1;
    return Math.max(this.cursor, this.hubRevision?.() ?? 0);
  }

  /** Called by the hub that feeds this subscription from now on. */
  follow(hubRevision: () => number): void {
    this.hubRevision = hubRevision;
  }

  /** The index this watcher's predicate implies, if any. */
  get index(): StoreWatchIndex | undefined {
    return this.opts.index;
  }

  /** Registers work to undo when the watcher ends (detach from the hub, cancel an etcd watch, ...). */
  onEnd(fn: () => void): void {
    if (this.cleanedUp) fn();
    else this.cleanups.push(fn);
  }

  /** True once ended or failed. */
  get closed(): boolean {
    return this.finished;
  }

  /** Offers a change in revision order; ignored if already seen or outside the prefix. */
  offer(change: Change): void {
    if (this.finished || change.rev <= this.cursor) return;
    this.cursor = change.rev;
    if (!change.key.startsWith(this.opts.keyPrefix)) return;
    const event = this.toEvent(change);
    if (!event) return;
    if (this.queue.length - this.head >= this.opts.bufferSize) {
      this.fail(gone(`watch of ${this.opts.keyPrefix} fell too far behind (more than ${this.opts.bufferSize} undelivered events); relist and watch again`));
      return;
    }
    this.queue.push(event);
    this.revs.push(change.rev);
    this.notify();
  }

  // Kubernetes semantics with a predicate: leaving the selection is DELETED, entering it is ADDED.
  private toEvent(change: Change): StoreWatchEvent | undefined {
    const pred = this.opts.predicate;
    if (change.deleted) {
      if (pred && !pred(change.object)) return undefined;
      return { type: 'DELETED', object: change.object };
    }
    if (!pred) return { type: change.created ? 'ADDED' : 'MODIFIED', object: change.object };
    const now = pred(change.object);
    const prev = change.created ? undefined : change.previous;
    const before = prev ? pred(prev) : false;
    if (now && before) return { type: 'MODIFIED', object: change.object };
    if (now) return { type: 'ADDED', object: change.object };
    if (before && prev) return { type: 'DELETED', object: prev };
    return undefined;
  }

  /** Ends the stream after the queued events (abort, close). */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.notify();
    this.runCleanups();
  }

  /** Ends the stream now with an error; queued events are dropped because the caller must relist anyway. */
  fail(err: ApiError): void {
    if (this.finished) return;
    this.error = err;
    this.finished = true;
    this.dropQueue();
    this.notify();
    this.runCleanups();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private runCleanups(): void {
    this.finished = true;
    this.cleanedUp = true;
    // Detached from its hub: everything it processed so far was offered here (or concerned another index value), nothing later will be.
    if (this.hubRevision) this.cursor = Math.max(this.cursor, this.hubRevision());
    this.hubRevision = undefined;
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // cleanup is best effort; the watcher is gone either way
      }
    }
  }

  /** Forgets the queued events and their revisions together. */
  private dropQueue(): void {
    this.queue = [];
    this.revs = [];
    this.head = 0;
  }

  private take(): StoreWatchEvent {
    const e = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as StoreWatchEvent;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.revs = this.revs.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  /**
   * The next event (async-iterator protocol, one caller at a time): resolves
   * at once when one is queued; rejects once with the ApiError the watch
   * failed with; then `done`. A hand-written iterator, not an async
   * generator, because this is the hot path of the 1,000-watcher fan-out.
   */
  next(): Promise<IteratorResult<StoreWatchEvent, undefined>> {
    if (this.head < this.queue.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.error) {
      const err = this.error;
      this.error = undefined;
      this.runCleanups();
      return Promise.reject(err);
    }
    if (this.finished) {
      this.runCleanups();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.wake = () => this.next().then(resolve, reject);
    });
  }

  /** Stops the watch early (a `break` out of `for await`). */
  return(): Promise<IteratorResult<StoreWatchEvent, undefined>> {
    this.end();
    this.dropQueue();
    this.error = undefined;
    this.runCleanups();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This subscription as an async iterator of its events. */
  events(): AsyncIterableIterator<StoreWatchEvent, undefined> {
    const iterator: AsyncIterableIterator<StoreWatchEvent, undefined> = {
      next: () => this.next(),
      return: () => this.return(),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}

/** Options of a hub. */
export interface HubOptions {
  stream: WatchStream;
  /** Key prefix of the resource, e.g. `/registry/pods/`. */
  resourcePrefix: string;
  /** Changes kept in memory for watchers that resume from a recent revision. */
  historySize: number;
  log: Logger;
  /** Called once when the hub can no longer serve (its etcd watch was cancelled, e.g. compacted while etcd was away). */
  onBroken: () => void;
  /** Decrypts stored values (identity by default). */
  transformer?: ValueTransformer;
}

/**
 * The shared watch of one resource. Holds changes with revision in
 * (historyStart, lastRevision] in memory and fans each new change out to
 * every attached subscription synchronously, in revision order.
 */
export class ResourceHub {
  /** Every change with a revision above this is in `history` (or was never made). */
  historyStart = 0;
  /** The revision of the last change this hub has processed. */
  lastRevision = 0;
  /** When fed by the read cache: the revision up to which it has fed this hub every change (it moves with every resource). */
  private fedUpTo: (() => number) | undefined;
  private history: Change[] = [];
  private historyHead = 0;
  /** Watchers without an index: offered every change. */
  private readonly subs = new Set<Subscription>();
  /** Watchers with an index, by index name and value: offered only the changes of objects with (or that had) their value. */
  private readonly indexes = new Map<string, HubIndex>();
  private cancelWatch: (() => void) | undefined;
  private broken = false;
  /** A move onto the read cache's feed under way (see moveToCache). */
  private moving: { until: number; finish: () => void; abandon: (why: string) => void } | undefined;

  constructor(private readonly opts: HubOptions) {}

  /** Starts the etcd watch right after revision `startRevision` and resolves once etcd has accepted it. */
  start(startRevision: number): Promise<void> {
    this.historyStart = startRevision;
    this.lastRevision = startRevision;
    const { stream, resourcePrefix, log } = this.opts;
    return new Promise<void>((resolve, reject) => {
      let created = false;
      this.cancelWatch = stream.watch(
        { key: Buffer.from(resourcePrefix), rangeEnd: prefixRangeEnd(resourcePrefix), startRevision: startRevision + 1 },
        {
          onCreated: () => {
            if (!created) {
              created = true;
              resolve();
            } else {
              log.info({ prefix: resourcePrefix, revision: this.lastRevision }, 'shared watch re-established');
            }
          },
          onEvents: (events) => this.ownEvents(events),
          onCanceled: (compactRevision, reason) => {
            log.warn({ prefix: resourcePrefix, revision: this.lastRevision, compactRevision, reason }, 'shared watch cancelled by etcd');
            const err = gone(`too old resource version: ${this.lastRevision} (${compactRevision})`);
            this.breakDown(err);
            if (!created) reject(err);
          },
        },
      );
    });
  }

  /**
   * Fed by the read cache instead of an etcd watch of its own, from the
   * cache's revision on: etcd then sends each change once, without its
   * previous value (the cache has it). False when the cache is not loaded.
   */
  startFromCache(cache: Pick<ReadCache, 'feed'>): boolean {
    const started = cache.feed(this.opts.resourcePrefix, { onEvents: (events) => this.onEvents(events), onReset: () => this.cacheReset() });
    if (!started) return false;
    // Nothing of this resource changed between quietSince and now: a watch from there on finds all it needs in the history to come.
    this.historyStart = started.quietSince;
    this.lastRevision = started.revision;
    this.fedUpTo = started.current;
    this.cancelWatch = started.cancel;
    return true;
  }

  /**
   * Moves a hub that started on an etcd watch of its own (the read cache was
   * still loading: seconds at 150,000 pods) onto the cache's feed, so that
   * etcd does not send every change of the resource twice for good. The
   * feed brings the changes after the cache's revision C, and the resource
   * did not change between `quietSince` (Q) and C; so once the own watch
   * has delivered everything up to Q, the feed takes over with nothing
   * missed: its changes wait until then, and those the own watch already
   * delivered are skipped by revision. A resource that stays quiet keeps
   * its own (idle) watch until its next change. False when the cache is
   * not loaded or the hub is not on a watch of its own.
   */
  moveToCache(cache: Pick<ReadCache, 'feed'>): boolean {
    if (this.broken || this.fedUpTo || this.moving || !this.cancelWatch) return false;
    const { resourcePrefix, log, historySize } = this.opts;
    let state: 'waiting' | 'moved' | 'abandoned' = 'waiting';
    let waiting: WatchEvent[] = [];
    let feed: ReturnType<ReadCache['feed']>;
    const abandon = (why: string): void => {
      if (state !== 'waiting') return;
      state = 'abandoned';
      this.moving = undefined;
      waiting = [];
      feed?.cancel();
      log.info({ prefix: resourcePrefix, revision: this.lastRevision, why }, 'shared watch stays on its own etcd watch');
    };
    const finish = (): void => {
      if (state !== 'waiting' || !feed) return;
      state = 'moved';
      this.moving = undefined;
      const own = this.cancelWatch;
      this.cancelWatch = feed.cancel;
      this.fedUpTo = feed.current;
      own?.();
      const held = waiting;
      waiting = [];
      if (held.length) this.onEvents(held);
    };
    feed = cache.feed(resourcePrefix, {
      onEvents: (events) => {
        if (state === 'moved') this.onEvents(events);
        else if (state === 'waiting') {
          for (const ev of events) waiting.push(ev);
          // The own watch is far behind: the hub stays on it rather than hold more.
          if (waiting.length > historySize) abandon(`more than ${historySize} changes waited for the watch of its own to catch up`);
        }
      },
      onReset: () => (state === 'moved' ? this.cacheReset() : abandon('the read cache was reset')),
    });
    if (!feed) return false;
    this.moving = { until: feed.quietSince, finish, abandon };
    if (this.lastRevision >= feed.quietSince) finish();
    return true;
  }

  /** The read cache feeding this hub was dropped: it can no longer vouch for what follows, so its watchers relist. */
  private cacheReset(): void {
    this.opts.log.warn({ prefix: this.opts.resourcePrefix, revision: this.lastRevision }, 'read cache feeding the shared watch was reset');
    this.breakDown(gone(`too old resource version: ${this.lastRevision} (the shared watch was reset)`));
  }

  /** The hub's own etcd watch: ignored once the read cache feeds the hub (its late events are the feed's too). */
  private ownEvents(events: WatchEvent[]): void {
    if (this.fedUpTo) return;
    this.onEvents(events);
    if (this.moving && this.lastRevision >= this.moving.until) this.moving.finish();
  }

  private onEvents(events: WatchEvent[]): void {
    try {
      for (const ev of events) {
        const change = new Change(ev, this.opts.transformer);
        if (change.rev <= this.lastRevision) continue; // replay after a reconnect
        this.lastRevision = change.rev;
        this.remember(change);
        for (const sub of this.subs) sub.offer(change);
        for (const index of this.indexes.values()) index.offer(change);
        change.release();
      }
    } catch (err) {
      // Never let a bad value take the shared watch (and every watcher) down.
      this.opts.log.error({ prefix: this.opts.resourcePrefix, err: (err as Error).message }, 'failed to process watch event');
    }
  }

  private remember(change: Change): void {
    this.history.push(change);
    if (this.history.length - this.historyHead > this.opts.historySize) {
      const evicted = this.history[this.historyHead]!;
      this.history[this.historyHead++] = undefined as unknown as Change;
      this.historyStart = evicted.rev;
      if (this.historyHead > 4096 && this.historyHead * 2 > this.history.length) {
        this.history = this.history.slice(this.historyHead);
        this.historyHead = 0;
      }
    }
  }

  /** Every change of the resource up to this revision has been offered to the attached subscriptions. */
  processedRevision(): number {
    return Math.max(this.lastRevision, this.fedUpTo?.() ?? 0);
  }

  /** True when a watch from `revision` can be served from memory. */
  canServe(revision: number): boolean {
    return !this.broken && revision >= this.historyStart;
  }

  /** Number of attached subscriptions. */
  get size(): number {
    let n = this.subs.size;
    for (const index of this.indexes.values()) n += index.size;
    return n;
  }

  /** Replays remembered changes after the subscription's cursor, then keeps it fed. Synchronous, so nothing falls in between. */
  attach(sub: Subscription): void {
    if (!this.canServe(sub.cursor)) throw new Error(`hub cannot serve revision ${sub.cursor}`);
    // Binary search for the first remembered change after the cursor.
    let lo = this.historyHead;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.rev <= sub.cursor) lo = mid + 1;
      else hi = mid;
    }
    const spec = sub.index;
    for (let i = lo; i < this.history.length && !sub.closed; i++) {
      const change = this.history[i]!;
      // A node's pod watch resuming after its timeout: only its own pods' changes are decoded again.
      if (spec && !change.mayConcern(spec.name, spec.value)) continue;
      sub.offer(change);
      change.release();
    }
    if (sub.closed) return;
    sub.follow(() => this.processedRevision());
    if (!spec) {
      this.subs.add(sub);
      sub.onEnd(() => this.subs.delete(sub));
      return;
    }
    let index = this.indexes.get(spec.name);
    if (!index) this.indexes.set(spec.name, (index = new HubIndex(spec.name, spec.valueOf)));
    index.add(spec.value, sub);
    sub.onEnd(() => {
      index.remove(spec.value, sub);
      if (index.size === 0 && this.indexes.get(spec.name) === index) this.indexes.delete(spec.name);
    });
  }

  private forEachSub(fn: (sub: Subscription) => void): void {
    for (const sub of this.subs) fn(sub);
    for (const index of this.indexes.values()) index.forEach(fn);
  }

  private breakDown(err: ApiError): void {
    if (this.broken) return;
    this.broken = true;
    this.moving?.abandon('the shared watch broke down');
    this.forEachSub((sub) => sub.fail(err));
    this.subs.clear();
    this.indexes.clear();
    this.opts.onBroken();
  }

  /** Ends every subscription and cancels the etcd watch. */
  async close(): Promise<void> {
    this.moving?.abandon('closed');
    this.broken = true;
    this.forEachSub((sub) => sub.end());
    this.subs.clear();
    this.indexes.clear();
    this.cancelWatch?.();
  }
}

/**
 * The watchers of one index, bucketed by value. A change goes to the bucket
 * of the object's value and, when it changed, to the bucket of its previous
 * value (so a watcher sees the object leave its selection). The last value
 * of every key seen is remembered, so the previous version is parsed only
 * for keys not seen since the hub started.
 */
class HubIndex {
  private readonly buckets = new Map<string, Set<Subscription>>();
  private readonly lastValue = new Map<string, string>();
  private count = 0;

  constructor(
    private readonly name: string,
    private readonly valueOf: (obj: KubeObject) => string,
  ) {}

  get size(): number {
    return this.count;
  }

  add(value: string, sub: Subscription): void {
    let bucket = this.buckets.get(value);
    if (!bucket) this.buckets.set(value, (bucket = new Set()));
    if (!bucket.has(sub)) this.count++;
    bucket.add(sub);
  }

  remove(value: string, sub: Subscription): void {
    const bucket = this.buckets.get(value);
    if (!bucket?.delete(sub)) return;
    this.count--;
    if (bucket.size === 0) this.buckets.delete(value);
  }

  forEach(fn: (sub: Subscription) => void): void {
    for (const bucket of this.buckets.values()) for (const sub of bucket) fn(sub);
  }

  offer(change: Change): void {
    // A deletion's object is already the last state, so its value is the "before" one.
    const now = this.valueOf(change.object);
    let before: string | undefined;
    if (this.lastValue.has(change.key)) before = this.lastValue.get(change.key);
    else if (!change.created && !change.deleted) {
      const prev = change.previous;
      before = prev ? this.valueOf(prev) : undefined;
    }
    if (change.deleted) this.lastValue.delete(change.key);
    else this.lastValue.set(change.key, now);
    change.noteIndex(this.name, now, before);
    this.buckets.get(now)?.forEach((sub) => sub.offer(change));
    if (before !== undefined && before !== now) this.buckets.get(before)?.forEach((sub) => sub.offer(change));
  }
}
