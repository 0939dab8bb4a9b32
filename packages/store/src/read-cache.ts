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
    for (const kv of res.kvs) this.entries.set(kv.key.toString('utf8'), { value: kv.value, modRevision: kv.mod_revision });
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
      if (ev.type === 'Delete') this.entries.delete(key);
      else this.entries.set(key, { value: ev.kv.value, modRevision: ev.kv.mod_revision });
      this.revision = rev;
    }
  }

  private reset(): void {
    this.cancelWatch?.();
    this.cancelWatch = undefined;
    this.entries.clear();
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

  /** Stops the watch and drops the copy. */
  close(): void {
    this.closed = true;
    this.reset();
  }
}
