/**
 * A rate-limited work queue with client-go semantics: an item is queued at
 * most once, never handed to two workers at a time, and an item re-added
 * while it is being processed is queued again when the worker calls done().
 */
import type { Clock, TimerHandle } from './clock.js';
import { realClock } from './clock.js';
import type { RateLimiter } from './rate-limiter.js';
import { defaultControllerRateLimiter } from './rate-limiter.js';

/** Options of a WorkQueue. */
export interface WorkQueueOptions<K> {
  /** Used in logs and metrics. */
  name?: string;
  clock?: Clock;
  rateLimiter?: RateLimiter<K>;
  /**
   * When set, items are handed out highest priority first, and in the order
   * they were queued among equals (the scheduler's active queue, ordered by
   * pod priority); read once, when the item is queued. Default: FIFO.
   */
  priority?: (item: K) => number;
}

/** A queued item of a priority queue: its priority when queued and its arrival order. */
interface Ranked<K> {
  item: K;
  priority: number;
  seq: number;
}

/** A binary max-heap on (priority, then earlier arrival). */
class RankedHeap<K> {
  private readonly a: Ranked<K>[] = [];
  private seq = 0;

  get size(): number {
    return this.a.length;
  }

  push(item: K, priority: number): void {
    this.a.push({ item, priority, seq: this.seq++ });
    let i = this.a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): K {
    const top = this.a[0]!;
    const last = this.a.pop()!;
    if (this.a.length > 0) {
      this.a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.a.length && this.before(l, best)) best = l;
        if (r < this.a.length && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top.item;
  }

  private before(i: number, j: number): boolean {
    const x = this.a[i]!;
    const y = this.a[j]!;
    return x.priority !== y.priority ? x.priority > y.priority : x.seq < y.seq;
  }

  private swap(i: number, j: number): void {
    const t = this.a[i]!;
    this.a[i] = this.a[j]!;
    this.a[j] = t;
  }
}

/** The work queue every controller's workers pull keys from. */
export class WorkQueue<K = string> {
  readonly name: string;
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter<K>;
  // FIFO as an array plus a head index: shift() is O(n) on large queues.
  private queue: K[] = [];
  private head = 0;
  /** The queue instead, when items have priorities. */
  private readonly ranked: RankedHeap<K> | undefined;
  private readonly priorityOf: ((item: K) => number) | undefined;
  /** Items that need processing (queued, or re-added while processing). */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiters: Array<(item: K | undefined) => void> = [];
  /** Items waiting for addAfter, with the time they become ready. */
  private readonly delayed = new Map<K, { readyAt: number; handle: TimerHandle }>();
  private shuttingDown = false;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.name = options.name ?? 'queue';
    this.clock = options.clock ?? realClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(this.clock);
    this.priorityOf = options.priority;
    this.ranked = options.priority ? new RankedHeap<K>() : undefined;
  }

  /** Queues `item` unless it is already queued; if it is being processed it is re-queued on done(). */
  add(item: K): void {
    if (this.shuttingDown || this.dirty.has(item)) return;
    this.dirty.add(item);
    if (this.processing.has(item)) return;
    this.push(item);
  }

  /** Queues `item` after `ms`; an earlier pending addAfter of the same item wins. */
  addAfter(item: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(item);
    const readyAt = this.clock.now() + ms;
    const pending = this.delayed.get(item);
    if (pending) {
      if (pending.readyAt <= readyAt) return;
      this.clock.clearTimeout(pending.handle);
    }
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(item);
      this.add(item);
    }, ms);
    this.delayed.set(item, { readyAt, handle });
  }

  /** Queues `item` after the rate limiter's delay: per-item back-off combined with the global bucket. */
  addRateLimited(item: K): void {
    this.addAfter(item, this.rateLimiter.when(item));
  }

  /** Clears the back-off history of `item`; call after it was processed successfully. */
  forget(item: K): void {
    this.rateLimiter.forget(item);
  }

  /** How many times `item` was re-queued with addRateLimited since its last forget(). */
  numRequeues(item: K): number {
    return this.rateLimiter.numRequeues(item);
  }

  /**
   * The next item, marked as processing until done(item). Waits while the
   * queue is empty; resolves with undefined once the queue is shut down.
   */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    if (this.len() > 0) return Promise.resolve(this.take());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `item` as no longer processing; re-queues it if it was added meanwhile. */
  done(item: K): void {
    if (!this.processing.delete(item)) return;
    if (this.dirty.has(item) && !this.shuttingDown) this.push(item);
  }

  /** Number of items waiting to be handed out (not counting delayed or processing ones). */
  len(): number {
    return this.ranked ? this.ranked.size : this.queue.length - this.head;
  }

  /** True after shutDown(). */
  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops the queue: waiting and future get()s resolve with undefined, delayed adds are dropped. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.clock.clearTimeout(handle);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private push(item: K): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      // Hand it straight to a waiting worker, keeping the processing invariant.
      this.dirty.delete(item);
      this.processing.add(item);
      waiter(item);
      return;
    }
    if (this.ranked) this.ranked.push(item, this.priorityOf!(item));
    else this.queue.push(item);
  }

  private take(): K {
    if (this.ranked) return this.claim(this.ranked.pop());
    const item = this.queue[this.head] as K;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return this.claim(item);
  }

  private claim(item: K): K {
    this.dirty.delete(item);
    this.processing.add(item);
    return item;
  }
}
