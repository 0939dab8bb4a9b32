/**
 * An in-memory copy of every key under the store's prefix, fed by ONE etcd
 * watch on the whole prefix, so consistent reads need no range call: a read
 * asks etcd only for its current revision (one call shared by every read of
 * the same tick) and is served here when the copy has caught up with it.
 * This is Kubernetes' "consistent reads from cache" without the watch
 * progress requests that etcd 3.4 before 3.4.31 answers out of order: a read
 * the copy has not caught up with simply goes to etcd.
 */
import type { Logger } from '@flotilla/observability';
import type { RangeRequest, RangeResponse, WatchEvent } from './etcd-proto.js';
import { prefixRangeEnd } from './keys.js';
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
  private readonly entries = new Map<string, CachedValue>();
  /** The keys of each resource (the key's first segment under the prefix): a list looks only at its resource's. */
  private readonly byResource = new Map<string, Set<string>>();
  private state: 'idle' | 'loading' | 'ready' = 'idle';
  private cancelWatch: (() => void) | undefined;
  private closed = false;

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
    void this.load().catch((err: unknown) => {
      this.opts.log.warn({ prefix: this.opts.keyPrefix, err: (err as Error)?.message }, 'read cache could not load; reads go to etcd');
      this.reset();
    });
  }

  private async load(): Promise<void> {
    const { client, stream, keyPrefix, log } = this.opts;
    const res = await client.range({ key: Buffer.from(keyPrefix), range_end: prefixRangeEnd(keyPrefix) });
    if (this.closed) return;
    const rev = Number(res.header.revision);
    for (const kv of res.kvs) this.put(kv.key.toString('utf8'), { value: kv.value, modRevision: kv.mod_revision });
    this.revision = rev;
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
    for (const ev of events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.revision) continue; // replay after a reconnect
      const key = ev.kv.key.toString('utf8');
      if (ev.type === 'Delete') this.remove(key);
      else this.put(key, { value: ev.kv.value, modRevision: ev.kv.mod_revision });
      this.revision = rev;
    }
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
    }
    this.entries.set(key, value);
  }

  private remove(key: string): void {
    if (!this.entries.delete(key)) return;
    const r = this.resourceOf(key);
    const keys = this.byResource.get(r);
    keys?.delete(key);
    if (keys?.size === 0) this.byResource.delete(r);
  }

  private reset(): void {
    this.cancelWatch?.();
    this.cancelWatch = undefined;
    this.entries.clear();
    this.byResource.clear();
    this.revision = 0;
    this.state = 'idle';
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
   * Synchronous: the snapshot is one state of the copy.
   */
  range(base: string, atLeast: number): { revision: number; kvs: Array<[string, CachedValue]> } | typeof STALE {
    if (this.state !== 'ready' || this.revision < atLeast) return STALE;
    const kvs: Array<[string, CachedValue]> = [];
    const keys = base.length > this.opts.keyPrefix.length ? this.byResource.get(this.resourceOf(base)) : undefined;
    for (const key of keys ?? (base === this.opts.keyPrefix ? this.entries.keys() : [])) {
      if (key.startsWith(base)) kvs.push([key, this.entries.get(key)!]);
    }
    // Keys are ASCII (names are DNS labels), where UTF-16 order is etcd's byte order.
    kvs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { revision: this.revision, kvs };
  }

  /** Stops the watch and drops the copy. */
  close(): void {
    this.closed = true;
    this.reset();
  }
}
