/**
 * An in-memory copy of every key under the store's prefix, fed by ONE etcd
 * watch on the whole prefix, so consistent reads need no range call: a read
 * asks etcd only for its current revision (one call shared by every read of
 * the same tick) and is served here when the copy has caught up with it.
 * This is Kubernetes' "consistent reads from cache" without the watch
 * progress requests that etcd 3.4 before 3.4.31 answers out of order: a get
 * the copy has not caught up with simply goes to etcd, and a list waits a
 * moment for the copy (`caughtUp`) before it does. The same watch feeds
 * the watch hubs (`feed`), each change with the value it replaced, so etcd
 * sends every change once and never its previous value.
 */
import type { Logger } from '@flotilla/observability';
import type { RangeRequest, RangeResponse, WatchEvent } from './etcd-proto.js';
import { prefixRangeEnd, RANGE_CHUNK } from './keys.js';
import type { WatchStream } from './watch-stream.js';

/** The stored bytes of one key and its mod revision. */
export interface CachedValue {
  value: Buffer;
  modRevision: string;
}

/** Options of a ReadCache. */
export interface ReadCacheOptions {
  /** Reads the prefix when loading (EtcdKv, or anything with its range). */
  client: { range(req: RangeRequest): Promise<RangeResponse> };
  stream: WatchStream;
  /** Every key under this prefix (with its trailing slash) is kept. */
  keyPrefix: string;
  log: Logger;
  /** Keys per etcd range while loading (default RANGE_CHUNK). */
  loadChunk?: number;
}

/**
 * A consumer of one resource's changes as the copy applies them (a watch
 * hub): each event carries as `prev_kv` the value it replaced, taken from
 * the copy, so etcd need not send it (nor the same change twice).
 */
export interface CacheFeed {
  /** The changes of one applied batch, in revision order; called after the copy applied them. */
  onEvents(events: WatchEvent[]): void;
  /** The copy was dropped (its watch cancelled, or closed): the feed ends and must not be trusted for what follows. */
  onReset(): void;
}

/**
 * `buf` in an allocation of its own: a value decoded from an etcd message is
 * a view of the whole message, and a copy that keeps it keeps the message.
 * The read cache holds values for as long as their keys are unchanged: an
 * Event's for its whole TTL, and nearly every watch message carries one, so
 * with views the cache held every message of the run (1.3 GiB of Buffers
 * beside 245 MiB of heap at 150,000 pods).
 */
export function ownBytes(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf;
  const own = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(own);
  return own;
}

/**
 * One etcd answer of the load. Its values are kept as views of it rather
 * than copied out one by one: at 150,000 pods the copies (an allocation and
 * a first-touch copy per value) were a quarter of the load's CPU, during
 * which every request waited. A view keeps the whole answer alive, so once
 * fewer than half of its values are still held, those are copied out and
 * the answer is let go: an answer never holds more than twice what is live.
 */
interface LoadedChunk {
  /** The keys whose values were loaded from this answer (some since replaced or deleted). */
  keys: string[];
  /** How many of them still hold their loaded value. */
  live: number;
}

/** Returned by `lookup` when the copy is behind the asked revision: read etcd instead. */
export const STALE = Symbol('stale');

/**
 * The copy of one prefix. Loads with one range, then applies the watch's
 * events in revision order. `revision` is the etcd revision up to which
 * every change under the prefix is applied.
 */
export class ReadCache {
  /** Every change under the prefix with a revision up to this is applied (0 while not loaded). */
  revision = 0;
  /** The revision the copy was loaded at: it has seen every change after it. */
  private loadedAt = 0;
  /** The revision of each resource's last change since the load (its key's first segment under the prefix). */
  private readonly lastChange = new Map<string, number>();
  private readonly entries = new Map<string, CachedValue>();
  /** The keys of each resource (the key's first segment under the prefix): a list looks only at its resource's. */
  private readonly byResource = new Map<string, Set<string>>();
  /**
   * byResource's keys in etcd's order, made by a resource's first range and
   * kept by the next ones: the keys created since (`added`) are sorted and
   * merged in, and deleted ones dropped (fewer sorted keys than members left
   * means some were), instead of sorting every key again. An update moves no key.
   */
  private readonly sortedByResource = new Map<string, SortedKeys>();
  /** The load's answers whose values are held as views, by their memory. */
  private readonly chunks = new Map<ArrayBufferLike, LoadedChunk>();
  private state: 'idle' | 'loading' | 'ready' = 'idle';
  private cancelWatch: (() => void) | undefined;
  private closed = false;
  /** The feeds of each resource segment. */
  private readonly feeds = new Map<string, Set<CacheFeed>>();
  /** Callers of whenReady waiting for the load to end. */
  private readyWaiters: Array<(ready: boolean) => void> = [];
  /** Callers of caughtUp waiting for the copy to reach a revision. */
  private revisionWaiters: Array<{ revision: number; resolve: (ok: boolean) => void }> = [];

  constructor(private readonly opts: ReadCacheOptions) {}

  /** True once loaded and watching. */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Number of keys held. */
  get size(): number {
    return this.entries.size;
  }

  /** Loads the prefix and starts the watch, once; a failed or broken start is retried on the next call. */
  start(): void {
    if (this.state !== 'idle' || this.closed) return;
    this.state = 'loading';
    void this.load().then(
      () => this.settleWaiters(),
      (err: unknown) => {
        this.opts.log.warn({ prefix: this.opts.keyPrefix, err: (err as Error)?.message }, 'read cache could not load; reads go to etcd');
        this.reset();
      },
    );
  }

  /** Starts the copy and resolves when it is loaded (true) or its load failed (false). */
  whenReady(): Promise<boolean> {
    if (this.state === 'ready') return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    const p = new Promise<boolean>((resolve) => this.readyWaiters.push(resolve));
    this.start();
    return p;
  }

  /**
   * Resolves true once every change up to `revision` is applied, false when
   * `timeoutMs` passes first or the copy is dropped. The copy advances only
   * on changes under its prefix: a revision made by a write elsewhere in
   * etcd is never reached, and the wait ends at its deadline.
   */
  caughtUp(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.state === 'ready' && this.revision >= revision) return Promise.resolve(true);
    if (this.state !== 'ready' || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        revision,
        resolve: (ok: boolean) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        this.revisionWaiters = this.revisionWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.revisionWaiters.push(waiter);
    });
  }

  private settleRevisionWaiters(all: boolean): void {
    if (this.revisionWaiters.length === 0) return;
    const waiting: typeof this.revisionWaiters = [];
    for (const w of this.revisionWaiters) {
      if (all) w.resolve(false);
      else if (w.revision <= this.revision) w.resolve(true);
      else waiting.push(w);
    }
    this.revisionWaiters = waiting;
  }

  private settleWaiters(): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w(this.state === 'ready');
  }

  /**
   * Feeds `feed` every change under `resourcePrefix` (a resource's list
   * prefix, with its trailing slash) applied after the returned `revision`;
   * undefined when the copy is not loaded. `quietSince`: the resource has
   * not changed after it up to `revision` (its last change since the load,
   * else the load's revision), so a watch from there on misses nothing
   * that the feed does not bring. `current()`: every change up to it has
   * been fed (the copy's revision, which moves with every resource).
   */
  feed(resourcePrefix: string, feed: CacheFeed): { revision: number; quietSince: number; current: () => number; cancel: () => void } | undefined {
    if (this.state !== 'ready') return undefined;
    const r = this.resourceOf(resourcePrefix);
    let set = this.feeds.get(r);
    if (!set) this.feeds.set(r, (set = new Set()));
    set.add(feed);
    return {
      revision: this.revision,
      quietSince: this.lastChange.get(r) ?? this.loadedAt,
      current: () => this.revision,
      cancel: () => {
        const now = this.feeds.get(r);
        now?.delete(feed);
        if (now?.size === 0) this.feeds.delete(r);
      },
    };
  }

  private async load(): Promise<void> {
    const { client, stream, keyPrefix, log } = this.opts;
    const end = prefixRangeEnd(keyPrefix);
    const chunk = Math.max(1, this.opts.loadChunk ?? RANGE_CHUNK);
    // In chunks, every one at the first one's revision: one consistent snapshot.
    let rev = 0;
    let start = Buffer.from(keyPrefix);
    for (;;) {
      const res = await client.range({ key: start, range_end: end, limit: chunk, ...(rev ? { revision: rev } : {}) });
      if (this.closed) return;
      if (!rev) rev = Number(res.header.revision);
      // One message holds many values: they stay views of it, until most of them have been replaced (LoadedChunk).
      const memory = res.kvs[0]?.value.buffer;
      const loaded: LoadedChunk = { keys: [], live: 0 };
      for (const kv of res.kvs) {
        const key = kv.key.toString('utf8');
        if (kv.value.buffer === memory) {
          this.put(key, { value: kv.value, modRevision: kv.mod_revision });
          loaded.keys.push(key);
          loaded.live++;
        } else this.put(key, { value: ownBytes(kv.value), modRevision: kv.mod_revision });
      }
      if (memory && loaded.live > 0) this.chunks.set(memory, loaded);
      if (!res.more || res.kvs.length === 0) break;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    this.revision = rev;
    this.loadedAt = rev;
    this.state = 'ready';
    this.cancelWatch = stream.watch(
      { key: Buffer.from(keyPrefix), rangeEnd: prefixRangeEnd(keyPrefix), startRevision: rev + 1, prevKv: false },
      {
        onEvents: (events) => this.apply(events),
        onCanceled: (compactRevision, reason) => {
          // Compacted while etcd was away: the copy may have missed changes. Reload on the next read.
          log.warn({ prefix: keyPrefix, revision: this.revision, compactRevision, reason }, 'read cache watch cancelled; reloading on the next read');
          this.cancelWatch = undefined;
          this.reset();
        },
      },
    );
    log.debug({ prefix: keyPrefix, revision: rev, keys: this.entries.size }, 'read cache loaded');
  }

  private apply(events: WatchEvent[]): void {
    let fed: Map<Set<CacheFeed>, WatchEvent[]> | undefined;
    for (const ev of events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.revision) continue; // replay after a reconnect
      const key = ev.kv.key.toString('utf8');
      // The copy kept here is also the one the watch hubs keep in their history.
      const kv = ev.type === 'Delete' ? ev.kv : { ...ev.kv, value: ownBytes(ev.kv.value) };
      const resource = this.resourceOf(key);
      this.lastChange.set(resource, rev);
      if (this.feeds.size > 0) {
        const feeds = this.feeds.get(resource);
        if (feeds) {
          const prev = this.entries.get(key);
          const out: WatchEvent = {
            type: ev.type,
            kv,
            prev_kv: prev ? { key: ev.kv.key, value: prev.value, mod_revision: prev.modRevision, create_revision: '0', version: '0', lease: '0' } : null,
          };
          fed ??= new Map();
          const batch = fed.get(feeds);
          if (batch) batch.push(out);
          else fed.set(feeds, [out]);
        }
      }
      if (ev.type === 'Delete') this.remove(key);
      else this.put(key, { value: kv.value, modRevision: kv.mod_revision });
      this.revision = rev;
    }
    if (fed) for (const [feeds, batch] of fed) for (const f of [...feeds]) f.onEvents(batch);
    this.settleRevisionWaiters(false);
  }

  /** The resource segment of a key: what follows the prefix up to the next slash. */
  private resourceOf(key: string): string {
    const start = this.opts.keyPrefix.length;
    const end = key.indexOf('/', start);
    return end < 0 ? key.slice(start) : key.slice(start, end);
  }

  private put(key: string, value: CachedValue): void {
    if (!this.entries.has(key)) {
      const r = this.resourceOf(key);
      let keys = this.byResource.get(r);
      if (!keys) this.byResource.set(r, (keys = new Set()));
      keys.add(key);
      const sorted = this.sortedByResource.get(r);
      if (sorted) {
        sorted.added.push(key);
        // Past the size of the sorted list, sorting everything again is as cheap as the merge: stop remembering.
        if (sorted.added.length > sorted.keys.length) this.sortedByResource.delete(r);
      }
    } else this.released(key);
    this.entries.set(key, value);
  }

  private remove(key: string): void {
    this.released(key);
    if (!this.entries.delete(key)) return;
    const r = this.resourceOf(key);
    const keys = this.byResource.get(r);
    keys?.delete(key);
    if (keys?.size === 0) {
      this.byResource.delete(r);
      this.sortedByResource.delete(r);
    }
  }

  /**
   * The value `key` holds is about to be replaced or deleted: if it is a view
   * of a loaded answer of which fewer than half the values are then still
   * held, those are copied out and the answer is let go.
   */
  private released(key: string): void {
    if (this.chunks.size === 0) return;
    const memory = this.entries.get(key)?.value.buffer;
    const loaded = memory && this.chunks.get(memory);
    if (!loaded) return;
    loaded.live--;
    if (loaded.live * 2 >= loaded.keys.length) return;
    this.chunks.delete(memory);
    for (const k of loaded.keys) {
      const held = k !== key ? this.entries.get(k) : undefined;
      if (held && held.value.buffer === memory) this.entries.set(k, { value: ownBytes(held.value), modRevision: held.modRevision });
    }
  }

  private reset(): void {
    this.cancelWatch?.();
    this.cancelWatch = undefined;
    this.entries.clear();
    this.byResource.clear();
    this.sortedByResource.clear();
    this.chunks.clear();
    this.lastChange.clear();
    this.revision = 0;
    this.loadedAt = 0;
    this.state = 'idle';
    const feeds = [...this.feeds.values()].flatMap((set) => [...set]);
    this.feeds.clear();
    for (const f of feeds) f.onReset();
    this.settleWaiters();
    this.settleRevisionWaiters(true);
  }

  /**
   * The value of `key` as of a revision at least `atLeast`: undefined when
   * the key does not exist, STALE when the copy has not caught up (or is not
   * loaded) and the caller must read etcd.
   */
  lookup(key: string, atLeast: number): CachedValue | undefined | typeof STALE {
    if (this.state !== 'ready' || this.revision < atLeast) return STALE;
    return this.entries.get(key);
  }

  /**
   * The value of `key` as the copy holds it now, whatever etcd's revision:
   * possibly stale, for callers that check it (a compare-and-swap on its mod
   * revision) or accept it. STALE when not loaded.
   */
  peek(key: string): CachedValue | undefined | typeof STALE {
    if (this.state !== 'ready') return STALE;
    return this.entries.get(key);
  }

  /**
   * Every key starting with `base` (a list prefix: the store's prefix, a
   * resource and optionally a namespace, with a trailing slash) and its
   * value, in etcd's key order, as of `revision`, a revision at least
   * `atLeast`; STALE when the copy has not caught up (or is not loaded).
   * `max`: at most that many of them, the first in key order; `total` is
   * the count of all. Synchronous: the snapshot is one state of the copy.
   */
  range(base: string, atLeast: number, max = Infinity): { revision: number; kvs: Array<[string, CachedValue]>; total: number } | typeof STALE {
    if (this.state !== 'ready' || this.revision < atLeast) return STALE;
    const kvs: Array<[string, CachedValue]> = [];
    if (base.length > this.opts.keyPrefix.length) {
      // One resource: its keys are kept sorted (creations merged in, deletions dropped), so a LIST of
      // 150,000 pods does not sort them again (half a second with the event loop held). The prefix's
      // keys are found by two binary searches: a first page (limit=500) of 150,000 pods copied all
      // 150,000 into the snapshot, 70–100 ms of the event loop for 500 items.
      const keys = this.sortedKeys(this.resourceOf(base));
      const first = firstAtOrAfter(keys, base);
      // Keys are ASCII (see compareKeys), so etcd's range end of the prefix, as text, bounds its keys.
      const end = firstAtOrAfter(keys, prefixRangeEnd(base).toString('latin1'));
      for (let i = first, stop = Math.min(end, first + max); i < stop; i++) kvs.push([keys[i]!, this.entries.get(keys[i]!)!]);
      return { revision: this.revision, kvs, total: end - first };
    }
    if (base === this.opts.keyPrefix) for (const [key, value] of this.entries) kvs.push([key, value]);
    kvs.sort((a, b) => compareKeys(a[0], b[0]));
    const total = kvs.length;
    if (kvs.length > max) kvs.length = max;
    return { revision: this.revision, kvs, total };
  }

  /** The keys of one resource in etcd's order. */
  private sortedKeys(resource: string): string[] {
    const members = this.byResource.get(resource);
    if (!members) return [];
    let sorted = this.sortedByResource.get(resource);
    if (!sorted) {
      sorted = { keys: [...members].sort(compareKeys), added: [] };
      this.sortedByResource.set(resource, sorted);
    } else if (sorted.added.length > 0 || sorted.keys.length !== members.size) {
      // With nothing added, every member is among the sorted keys: as many means none was deleted.
      sorted.keys = mergeKeys(sorted.keys, sorted.added.sort(compareKeys), members);
      sorted.added = [];
    }
    return sorted.keys;
  }

  /** Stops the watch and drops the copy. */
  close(): void {
    this.closed = true;
    this.reset();
  }
}

/** A resource's keys in etcd's order, and what changed since they were sorted. */
interface SortedKeys {
  keys: string[];
  /** Keys created since, in creation order (one may have been deleted again, or deleted and created again). */
  added: string[];
}

/**
 * The sorted union of two sorted key lists, each key once, keeping only the
 * keys that exist (`members`): a key deleted and created again is in both.
 */
export function mergeKeys(a: readonly string[], b: readonly string[], members: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  let last: string | undefined;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (next !== last && members.has(next)) out.push(next);
    last = next;
  }
  return out;
}

/** etcd's key order. Keys are ASCII (names are DNS labels), where UTF-16 order is etcd's byte order. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The index of the first of the sorted `keys` at or after `key`. */
function firstAtOrAfter(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
