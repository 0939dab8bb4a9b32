/**
 * The etcd implementation of Storage: the only code in Flotilla that talks
 * to etcd. Kubernetes key layout and semantics; resourceVersion is the
 * key's etcd mod revision and is never stored inside the value.
 */
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import {
  ApiError,
  badRequest,
  conflict,
  gone,
  invalid,
  isReason,
  notFound,
  alreadyExists,
  completeObjectMetaForCreate,
  generateObjectName,
  jsonEqual,
  markForDeletion,
  prepareObjectMetaForUpdate,
  serviceUnavailable,
  type DeleteOptions,
  type KubeObject,
} from '@flotilla/api';
import { createLogger, type Logger } from '@flotilla/observability';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { EtcdKv } from './etcd-kv.js';
import type { KeyValue } from './etcd-proto.js';
import { decodeContinue, encodeContinue } from './continue-token.js';
import { IDENTITY_TRANSFORMER, type ValueTransformer } from './encryption.js';
import { isCompactedError, isFutureRevisionError, toApiError } from './etcd-errors.js';
import { listPrefix, normalizePrefix, objectKey, prefixRangeEnd, RANGE_CHUNK } from './keys.js';
import { rfc3339 } from './names.js';
import type {
  GuaranteedUpdateOptions,
  Storage,
  StoreDeleteResult,
  StoreListOptions,
  StoreListResult,
  StoreUpdateOptions,
  StoreWatch,
  StoreWatchEvent,
  StoreWatchOptions,
} from './storage.js';
import { Change, deepFreeze, ResourceHub, Subscription } from './watch-hub.js';
import { etcd3WatchOpener, WatchStream } from './watch-stream.js';
import { ReadCache, STALE, type CachedValue } from './read-cache.js';
import { Compactor } from './compactor.js';
import { isLeaseNotFound, LeasePool } from './lease-pool.js';
import { encodeStored, rememberJson, spliceRevision, spliceRevisionText } from './object-json.js';

/** How to reach etcd and how much to keep in memory for watches. */
export interface EtcdStorageOptions {
  /** etcd client URLs, e.g. `['http://127.0.0.1:2379']`. */
  endpoints: string[];
  /** Root of every key; default `/registry`. */
  prefix?: string;
  logger?: Logger;
  /** Deadline of each etcd request; past it the call fails with 503. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Changes per resource kept in memory so recent watch resumptions need no etcd watch. Default 10,000. */
  watchHistorySize?: number;
  /** Keys read from etcd per range call of a list and of the read cache's load (all at one revision). Default RANGE_CHUNK, 10,000. */
  listChunkSize?: number;
  /**
   * A list served from the read cache hands the event loop back after this
   * many items (the rest of the snapshot is kept): a LIST of 150,000 pods
   * otherwise held it for 3-5 s, and every request in flight waited. Default 2,000.
   */
  listYieldEvery?: number;
  /** Undelivered events a single watcher may have before it is ended with 410 Gone. Default 10,000. */
  watchBufferSize?: number;
  /**
   * Serve consistent gets from an in-memory copy of the prefix (see
   * read-cache.ts) when it has caught up with etcd's current revision.
   * Default true; false sends every get to etcd.
   */
  readCache?: boolean;
  /** After a get the cache could not serve, gets go straight to etcd for this long. Default 250 ms. */
  readCacheMissBackoffMs?: number;
  /**
   * How long a list waits for the read cache to catch up with etcd's current
   * revision before it reads etcd instead (after which lists go to etcd for
   * `readCacheMissBackoffMs`). Default 250 ms; 0 never waits.
   */
  readCacheListWaitMs?: number;
  /**
   * How long a consistent get or list waits for the read cache to apply a
   * write this store made and etcd acknowledged, before it reads etcd
   * instead. Default 3,000 ms (Kubernetes waits up to 3 s for its watch
   * cache); 0 never waits. The wait for the rest of etcd's revision is
   * `readCacheListWaitMs` for a list and none for a get.
   *
   * A wait that gives up turns the waits off for as long again, and each
   * further give-up without a caught-up wait in between doubles that, up to
   * 30 s: in a lag that lasts, reads go to etcd at once instead of each
   * waiting out the whole wait first.
   */
  readCacheLagWaitMs?: number;
  /** The clock of the read cache's back-offs (tests move it by hand). Default Date.now. */
  clock?: () => number;
  /**
   * Compact etcd's history every this many ms, keeping at least one
   * interval of it (kube-apiserver's --etcd-compaction-interval, 5 min).
   * 0 or unset: never (tests that need old revisions, embedded uses).
   */
  compactionIntervalMs?: number;
  /** Encryption at rest (see encryption.ts); values are stored as they are by default. */
  transformer?: ValueTransformer;
  /**
   * Resources whose objects expire, by resource: seconds an object lives
   * after its last write, at least (etcd leases shared per window, see
   * lease-pool.ts). kube-apiserver gives Events 1 h (--event-ttl).
   */
  objectTtlSeconds?: Record<string, number>;
  /**
   * The client of the watch stream: 'lean' (default; EtcdKv's, on a
   * connection of its own) or 'etcd3' (grpc-js, as before).
   */
  watchClient?: 'lean' | 'etcd3';
}

/** Items of a list from the read cache between two turns of the event loop. */
const LIST_YIELD_EVERY = 2000;

/** Unapplied writes remembered per key before the ones the read cache has applied are pruned. */
const UNAPPLIED_WRITES_PRUNE_AT = 4096;
/** Unapplied writes remembered at most (a stalled cache): past it getCached falls back to a per-resource rule. */
const UNAPPLIED_WRITES_MAX = 65_536;

/** This instance's last write of a key, at a revision the read cache may not have applied yet. */
interface UnappliedWrite {
  rev: number;
  /** The stored bytes of a put, or its text when stored as it is (undefined for a deletion). */
  value: Buffer | string | undefined;
  /** What peek answers for it: one object per write, so getCachedShared decodes it once. */
  cached?: CachedValue;
}

/** After a read the cache could not serve, reads go straight to etcd for this long: with writes in flight most would miss and pay two calls. */
const CACHE_MISS_BACKOFF_MS = 250;

/**
 * How long a list waits for the read cache to apply the changes etcd has
 * acknowledged (Kubernetes waits up to 3 s for its watch cache): under a
 * steady stream of writes the copy is a few milliseconds behind at almost
 * every read, and a list that went to etcd instead cost a range over the
 * whole resource (hundreds of milliseconds of etcd CPU at 150,000 pods).
 * Bounded because a write outside the prefix (another cluster sharing the
 * etcd) advances etcd's revision but never the copy's.
 */
const CACHE_LIST_WAIT_MS = 250;

/**
 * How long a read waits for the read cache to apply this store's own
 * acknowledged writes. Such a cache is behind, not blind (its watch will
 * bring the write), and is typically behind because this process or etcd
 * was busy: a read sent to etcd instead adds a linearizable range to the
 * very etcd that is slow (a LIST of every pod, at scale), and every client's
 * retry adds one more. Kubernetes' consistent reads wait up to 3 s for its
 * watch cache.
 */
const CACHE_LAG_WAIT_MS = 3000;

/** The longest the lag waits stay off after consecutive give-ups (each doubles the last). */
const CACHE_LAG_WAIT_OFF_MAX_MS = 30_000;

/**
 * How long a resource's first watch waits for the read cache to load before
 * its hub serves from an etcd watch of its own (and moves onto the cache
 * once loaded). At 150,000 pods and as many Events the load takes 4 s on an
 * idle machine and more after an apiserver restart, while every client
 * resumes at once: with the request timeout (5 s) as the wait, controllers
 * saw nothing for 7 s after a restart.
 */
const HUB_CACHE_WAIT_MS = 1000;
const MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';
const MAX_RETRIES = 16;

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

// No circuit breaker: an open breaker would keep failing for seconds after
// etcd is back; gRPC already fails fast while the connection is down.
const passThrough = {
  execute: (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
    Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })),
} as unknown as Policy;

// One quick retry on a fresh connection for transient failures (the pool
// resets a host's channels after a recoverable error).
const retryOnce = {
  execute: async (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => {
    const ctx = { signal: signal ?? new AbortController().signal };
    try {
      return await fn(ctx);
    } catch (err) {
      if (!(err instanceof Error) || !isRecoverableError(err)) throw err;
      await new Promise((r) => setTimeout(r, 50));
      return fn(ctx);
    }
  },
} as unknown as Policy;

// Watch reconnects: 100 ms doubling to 2 s, so a restarted etcd is picked up quickly.
function backoff(ms: number): Backoff {
  return { duration: ms, next: () => backoff(Math.min(ms * 2, 2000)) } as unknown as Backoff;
}

/**
 * Parses a stored value into a private (mutable) object stamped with its
 * revision; with `remember`, its text (revision spliced in) is kept as the
 * object's JSON (see object-json.ts) — only for objects returned unchanged.
 */
function decode(kv: Pick<KeyValue, 'value' | 'mod_revision'>, remember = false): KubeObject {
  const text = kv.value.toString('utf8');
  const obj = JSON.parse(text) as KubeObject;
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {};
  obj.metadata.resourceVersion = kv.mod_revision;
  return remember ? rememberJson(obj, spliceRevision(text, obj, kv.mod_revision)) : obj;
}

/** The stored form: JSON without resourceVersion (etcd's mod revision is the truth). */
const encodeJson = encodeStored;

/**
 * What a create or update returns: the (shallow) copy that was encoded,
 * stamped with its revision, with the stored JSON (revision spliced in) as
 * its JSON. Not parsed back from the JSON (a parse per write was ~4 % of the
 * apiserver's CPU): the caller handed the parts of its object over.
 */
function storedObject(next: KubeObject, json: string, rev: number | string): KubeObject {
  next.metadata.resourceVersion = String(rev);
  return rememberJson(next, spliceRevision(json, next, rev));
}

function stamp(obj: KubeObject, rev: number | string): KubeObject {
  obj.metadata.resourceVersion = String(rev);
  return obj;
}

/**
 * Storage on etcd v3.
 *
 * Watches: one etcd watch per resource, shared by every watcher of this
 * instance, with the last `watchHistorySize` changes in memory. A watch from
 * an older (not compacted) revision reads from etcd until it catches up with
 * the shared watch, then joins it. Objects yielded by `watch()` are shared
 * between watchers and deep-frozen: copy before changing them. Objects from
 * get/list/delete are private copies; create and update return the object
 * they were given, shallow-copied and stamped (the caller hands it over).
 */
export class EtcdStorage implements Storage {
  /** Watches, leases, compaction: everything but the hot unary calls. */
  private readonly client: Etcd3;
  /** The hot unary calls (gets, writes, lists, revision reads): see etcd-kv.ts. */
  private readonly kv: EtcdKv;
  /** The watch stream's own connection (a catch-up of many events does not hold up unary calls), unless watches go through etcd3. */
  private readonly watchKv: EtcdKv | undefined;
  private readonly watchStream: WatchStream;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly historySize: number;
  private readonly listChunk: number;
  private readonly listYieldEvery: number;
  private readonly bufferSize: number;
  private readonly hubs = new Map<string, Promise<ResourceHub>>();
  private readonly subs = new Set<Subscription>();
  private closed = false;
  private readonly readCache: ReadCache | undefined;
  private cacheSkipUntil = 0;
  private readonly cacheMissBackoffMs: number;
  private readonly cacheListWaitMs: number;
  private readonly cacheLagWaitMs: number;
  /** The highest revision of any write this instance made and had acknowledged (lastWriteRevision's maximum). */
  private lastOwnWrite = 0;
  /** After a wait for the cache gave up: reads do not wait for it again until then (a stuck watch would hold every read for the whole wait). */
  private lagWaitsOffUntil = 0;
  /** How long the next give-up turns the waits off: cacheLagWaitMs, doubled by each consecutive give-up, reset by a wait that caught up. */
  private lagWaitsOffMs: number;
  private readonly now: () => number;
  /** Lists skip the cache until then (a catch-up wait timed out). */
  private cacheListSkipUntil = 0;
  private revisionBatch: Promise<number> | undefined;
  /** Per resource, the highest revision of a write this instance made and had acknowledged. */
  private readonly lastWriteRevision = new Map<string, number>();
  /**
   * Per key, the revision of this instance's last acknowledged write that the
   * read cache may not have applied yet: getCached never answers for a key
   * from before it. Per key rather than per resource, because under a steady
   * stream of pod writes the cache is almost always a few ms behind the
   * resource's last write, and a per-resource rule then sent nearly every
   * status update through a consistent read (two more etcd calls) first.
   * A put keeps the bytes it wrote: etcd held exactly them at that revision,
   * so an update racing ahead of the cache (a binding right after the
   * create, a status write right after the binding) compares-and-swaps on
   * them instead of reading the key from etcd first.
   */
  private readonly unappliedWrites = new Map<string, UnappliedWrite>();
  /** After the map overflowed: getCached answers nothing until the cache has applied this revision. */
  private unappliedOverflow = 0;
  /**
   * The size of unappliedWrites at which it is next pruned: twice what a prune
   * left, so a cache that lags thousands of writes behind (a loaded machine)
   * costs one scan per doubling, not one scan of the whole map per write.
   */
  private unappliedPruneAt = UNAPPLIED_WRITES_PRUNE_AT;
  private readonly transformer: ValueTransformer;
  /** getCachedShared's objects, by the read cache's value they were decoded from (a new version is a new value). */
  private readonly sharedDecoded = new WeakMap<CachedValue, KubeObject>();
  /** Gets and first list pages served from the read cache, and those that had to read etcd (for tests and metrics). */
  readonly readStats = { cacheHits: 0, etcdReads: 0, cacheLists: 0, etcdLists: 0, lagWaits: 0, lagWaitTimeouts: 0 };
  /** The history compaction loop, when compactionIntervalMs is set. */
  readonly compactor: Compactor | undefined;
  /** The leases of resources whose objects expire (objectTtlSeconds). */
  readonly leasePools = new Map<string, LeasePool>();

  constructor(options: EtcdStorageOptions) {
    if (!options.endpoints?.length) throw new Error('EtcdStorage needs at least one etcd endpoint');
    this.prefix = normalizePrefix(options.prefix ?? '/registry');
    this.log = options.logger ?? createLogger('store');
    this.timeoutMs = options.requestTimeoutMs ?? 5000;
    this.historySize = options.watchHistorySize ?? 10_000;
    this.listChunk = Math.max(1, Math.floor(options.listChunkSize ?? RANGE_CHUNK));
    this.listYieldEvery = Math.max(1, Math.floor(options.listYieldEvery ?? LIST_YIELD_EVERY));
    this.bufferSize = options.watchBufferSize ?? 10_000;
    this.transformer = options.transformer ?? IDENTITY_TRANSFORMER;
    const timeout = this.timeoutMs;
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: timeout,
      grpcOptions: {
        // Big lists (10,000 pods) exceed gRPC's default 4 MiB message limit.
        'grpc.max_receive_message_length': 1024 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2000,
        // Detects a dead etcd under a long-lived watch stream.
        'grpc.keepalive_time_ms': 15_000,
        'grpc.keepalive_timeout_ms': 5000,
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      faultHandling: { host: () => passThrough, global: retryOnce, watchBackoff: backoff(100) },
    });
    this.kv = new EtcdKv({
      endpoints: options.endpoints,
      requestTimeoutMs: timeout,
      keepaliveTimeMs: 15_000,
      keepaliveTimeoutMs: 5000,
      initialBackoffMs: 100,
      maxBackoffMs: 2000,
      logger: this.log,
    });
    if (options.watchClient === 'etcd3') {
      this.watchKv = undefined;
      this.watchStream = new WatchStream(etcd3WatchOpener(this.client), this.log);
    } else {
      // As etcd3 watched: no deadline on the stream, a PING after 15 s of silence, 5 s to answer it.
      const watchKv = new EtcdKv({ endpoints: options.endpoints, requestTimeoutMs: timeout, keepaliveTimeMs: 15_000, keepaliveTimeoutMs: 5000, initialBackoffMs: 100, maxBackoffMs: 2000, logger: this.log });
      this.watchKv = watchKv;
      this.watchStream = new WatchStream((handlers) => watchKv.openWatch(handlers), this.log);
    }
    this.cacheMissBackoffMs = options.readCacheMissBackoffMs ?? CACHE_MISS_BACKOFF_MS;
    this.cacheListWaitMs = options.readCacheListWaitMs ?? CACHE_LIST_WAIT_MS;
    this.cacheLagWaitMs = options.readCacheLagWaitMs ?? CACHE_LAG_WAIT_MS;
    this.lagWaitsOffMs = this.cacheLagWaitMs;
    this.now = options.clock ?? Date.now;
    if (options.readCache !== false) {
      this.readCache = new ReadCache({ client: this.kv, stream: this.watchStream, keyPrefix: `${this.prefix}/`, log: this.log, loadChunk: this.listChunk });
    }
    const grant = async (ttl: number) => String((await this.client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 })).ID);
    for (const [resource, ttlSeconds] of Object.entries(options.objectTtlSeconds ?? {})) {
      if (ttlSeconds > 0) this.leasePools.set(resource, new LeasePool({ ttlSeconds, grant, now: this.now }));
    }
    if (options.compactionIntervalMs && options.compactionIntervalMs > 0) {
      this.compactor = new Compactor(this.client, this.log);
      this.compactor.start(options.compactionIntervalMs);
    }
  }

  /** Unary etcd calls made, retried, and HTTP/2 sessions opened (see etcd-kv.ts; for tests and metrics). */
  get etcdCallStats(): Readonly<EtcdKv['stats']> {
    return this.kv.stats;
  }

  /** The key prefix of this store (normalised), e.g. `/registry`. */
  get keyPrefix(): string {
    return this.prefix;
  }

  /** Decodes a stored value of `key` (decrypting it when it was stored encrypted). */
  private decode(key: string, kv: Pick<KeyValue, 'value' | 'mod_revision'>, remember = false): KubeObject {
    return decode({ value: this.transformer.fromStorage(key, kv.value), mod_revision: kv.mod_revision }, remember);
  }

  /** The bytes etcd stores for `json` at `key` (encrypted when the resource is configured so). */
  private seal(resource: string, key: string, json: string): Buffer | string {
    const t = this.transformer;
    // A value stored as it is goes into the request as its text, written straight into the gRPC frame (no Buffer of its own to fill and copy).
    if (t === IDENTITY_TRANSFORMER || (t.encrypts !== undefined && !t.encrypts(resource))) return json;
    return t.toStorage(resource, key, Buffer.from(json));
  }

  private key(resource: string, namespace: string | undefined, name: string): string {
    return objectKey(this.prefix, resource, namespace || undefined, name);
  }

  // Runs one etcd call, turning client failures into ApiErrors (503 when etcd is away).
  private async call<T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw serviceUnavailable(`storage is closed (${operation} ${key})`);
    try {
      return await fn();
    } catch (err) {
      throw toApiError(err, operation, key);
    }
  }

  private async readKv(key: string): Promise<Pick<KeyValue, 'value' | 'mod_revision'> | undefined> {
    const res = await this.call('get', key, () => this.kv.range({ key: Buffer.from(key) }));
    return res.kvs[0];
  }

  /**
   * Runs a write with the lease its resource's TTL gives (none for a resource
   * without one); once more on a new lease when etcd no longer knew the lease.
   */
  private withLease<T>(resource: string, key: string, write: (lease: string | undefined) => Promise<T>): Promise<T> {
    const pool = this.leasePools.get(resource);
    // Most resources have no TTL: their writes go as they are, with no promise of this method's own.
    return pool ? this.withPoolLease(pool, key, write) : write(undefined);
  }

  private async withPoolLease<T>(pool: LeasePool, key: string, write: (lease: string | undefined) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.call('grant a lease for', key, () => pool.lease());
      try {
        return await write(lease);
      } catch (err) {
        if (attempt > 0 || !isLeaseNotFound(err)) throw err;
        pool.forget(lease);
      }
    }
  }

  // One compare-and-swap on the key's mod revision; undefined when someone else wrote first.
  private async swap(resource: string, key: string, revision: string, op: 'put' | 'delete', value?: Buffer | string): Promise<number | undefined> {
    const kb = Buffer.from(key);
    const txn = (lease: string | undefined) =>
      this.call(op === 'put' ? 'update' : 'delete', key, () =>
        this.kv.txn({
          compare: [{ key: kb, target: 'Mod', result: 'Equal', mod_revision: revision }],
          success: [op === 'put' ? { request_put: { key: kb, value, ...(lease ? { lease } : {}) } } : { request_delete_range: { key: kb } }],
          failure: [],
        }),
      );
    const res = op === 'put' ? await this.withLease(resource, key, txn) : await txn(undefined);
    if (!res.succeeded) return undefined;
    return this.wrote(resource, key, Number(res.header.revision), value);
  }

  private wrote(resource: string, key: string, revision: number, value: Buffer | string | undefined): number {
    if (revision > (this.lastWriteRevision.get(resource) ?? 0)) this.lastWriteRevision.set(resource, revision);
    if (revision > this.lastOwnWrite) this.lastOwnWrite = revision;
    const cache = this.readCache;
    // Only writes the cache has not applied yet need remembering (see getCached).
    if (cache && revision > cache.revision && revision > (this.unappliedWrites.get(key)?.rev ?? 0)) {
      this.unappliedWrites.set(key, { rev: revision, value });
      if (this.unappliedWrites.size > this.unappliedPruneAt) this.pruneUnappliedWrites(cache.revision);
    }
    return revision;
  }

  /** Forgets the writes the read cache has applied; past the bound, falls back to the per-resource check until it catches up. */
  private pruneUnappliedWrites(applied: number): void {
    for (const [k, w] of this.unappliedWrites) if (w.rev <= applied) this.unappliedWrites.delete(k);
    if (this.unappliedWrites.size < UNAPPLIED_WRITES_MAX) {
      this.unappliedPruneAt = Math.min(UNAPPLIED_WRITES_MAX, Math.max(UNAPPLIED_WRITES_PRUNE_AT, 2 * this.unappliedWrites.size));
      return;
    }
    for (const w of this.unappliedWrites.values()) if (w.rev > this.unappliedOverflow) this.unappliedOverflow = w.rev;
    this.unappliedWrites.clear();
    this.unappliedPruneAt = UNAPPLIED_WRITES_PRUNE_AT;
  }

  /**
   * The cached bytes of a key, possibly stale: this instance's own write when
   * the cache has not applied it yet, else the cache's copy; undefined when
   * not cached or the cache is not loaded (which starts it).
   */
  private peek(key: string): CachedValue | undefined {
    const cache = this.readCache;
    if (!cache || this.closed) return undefined;
    const hit = cache.peek(key);
    if (hit === STALE) {
      cache.start();
      return undefined;
    }
    const own = this.unappliedWrites.get(key);
    if (own?.value && own.rev > cache.revision && (!hit || Number(hit.modRevision) < own.rev)) return (own.cached ??= { value: typeof own.value === 'string' ? Buffer.from(own.value) : own.value, modRevision: String(own.rev) });
    return hit;
  }

  /** {@inheritDoc Storage.create} Clears deletionTimestamp and deletionGracePeriodSeconds; keeps everything else as given. */
  async create(resource: string, obj: KubeObject): Promise<KubeObject> {
    const meta = obj.metadata ?? {};
    const namespace = meta.namespace || undefined;
    if (!meta.name && !meta.generateName) {
      throw invalid(resource, '', [{ type: 'FieldValueRequired', field: 'metadata.name', message: 'name or generateName is required' }]);
    }
    const tries = meta.name ? 1 : 8;
    for (let i = 0; i < tries; i++) {
      const name = meta.name || generateObjectName(meta.generateName!);
      // Shallow: nothing below metadata is changed here; the caller hands its object's parts over.
      // A uid the apiserver assigned before validation (a Job's selector names it) is kept.
      const next: KubeObject = { ...obj, metadata: completeObjectMetaForCreate(meta, rfc3339(), name) };
      const key = this.key(resource, namespace, name);
      const kb = Buffer.from(key);
      const json = encodeJson(next);
      const value = this.seal(resource, key, json);
      const res = await this.withLease(resource, key, (lease) =>
        this.call('create', key, () =>
          this.kv.txn({
            compare: [{ key: kb, target: 'Version', result: 'Equal', version: 0 }],
            success: [{ request_put: { key: kb, value, ...(lease ? { lease } : {}) } }],
            failure: [],
          }),
        ),
      );
      if (res.succeeded) return storedObject(next, json, this.wrote(resource, key, Number(res.header.revision), value));
      if (meta.name) throw alreadyExists(resource, name);
    }
    throw new ApiError('AlreadyExists', `${resource} could not get a unique name from generateName "${meta.generateName}"; try again`, {
      kind: resource,
    });
  }

  /**
   * {@inheritDoc Storage.get}
   * Consistent: reflects every write acknowledged before the call. Served
   * from the read cache when it has caught up with etcd's current revision
   * (fetched once for all gets of the same tick), waiting for it while it
   * applies this store's own writes (see cacheReaches), else read from etcd.
   */
  async get(resource: string, namespace: string | undefined, name: string): Promise<KubeObject> {
    const key = this.key(resource, namespace, name);
    const cache = this.readCache;
    if (cache && !this.closed && (this.now() >= this.cacheSkipUntil || this.cacheLags())) {
      if (cache.ready) {
        const revision = await this.sharedRevision();
        let hit = cache.lookup(key, revision);
        if (hit === STALE && (await this.cacheReaches(revision, 0)) && !this.closed) hit = cache.lookup(key, revision);
        if (hit !== STALE) {
          this.readStats.cacheHits++;
          if (!hit) throw notFound(resource, name);
          return this.decode(key, { value: hit.value, mod_revision: hit.modRevision }, true);
        }
        this.cacheSkipUntil = this.now() + this.cacheMissBackoffMs;
      } else {
        cache.start();
      }
    }
    this.readStats.etcdReads++;
    const kv = await this.readKv(key);
    if (!kv) throw notFound(resource, name);
    return this.decode(key, kv, true);
  }

  /** Whether the read cache has not yet applied a write this instance made and etcd acknowledged, and reads wait for it. */
  private cacheLags(): boolean {
    const cache = this.readCache;
    return !!cache && cache.ready && cache.revision < this.lastOwnWrite && this.now() >= this.lagWaitsOffUntil;
  }

  /**
   * Whether the read cache has applied `revision`, waiting for it: up to
   * readCacheLagWaitMs for the part of it that is this instance's own
   * acknowledged writes (the cache's watch will bring them), then up to
   * `moreMs` for the rest, which may be writes outside the prefix (another
   * cluster on the same etcd) that the copy never sees. A wait that gives
   * up turns the waits off (see lagWaitGaveUp): the reads in between go to
   * etcd at once, as they did before the cache lagged.
   */
  private async cacheReaches(revision: number, moreMs: number): Promise<boolean> {
    const cache = this.readCache;
    if (!cache) return false;
    if (this.cacheLags()) {
      this.readStats.lagWaits++;
      if (!(await cache.caughtUp(Math.min(this.lastOwnWrite, revision), this.cacheLagWaitMs))) {
        this.readStats.lagWaitTimeouts++;
        this.lagWaitGaveUp();
        return false;
      }
      this.lagWaitsOffMs = this.cacheLagWaitMs;
    }
    return cache.caughtUp(revision, moreMs);
  }

  /**
   * Turns the lag waits off for lagWaitsOffMs and doubles that for the next
   * give-up. The reads that waited together give up together: only the
   * first of them, the one that finds the waits still on, counts.
   */
  private lagWaitGaveUp(): void {
    const now = this.now();
    if (now < this.lagWaitsOffUntil) return;
    this.lagWaitsOffUntil = now + this.lagWaitsOffMs;
    this.lagWaitsOffMs = Math.min(this.lagWaitsOffMs * 2, Math.max(CACHE_LAG_WAIT_OFF_MAX_MS, this.cacheLagWaitMs));
  }

  /**
   * {@inheritDoc Storage.getCached}
   * From the read cache once it has applied every write this instance made.
   */
  getCached(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = this.key(resource, namespace, name);
    const hit = this.cachedValue(resource, key);
    return hit ? this.decode(key, { value: hit.value, mod_revision: hit.modRevision }) : undefined;
  }

  /**
   * {@inheritDoc Storage.getCachedShared}
   * Decoded once per cached version (kept as long as the cache holds that version).
   */
  getCachedShared(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = this.key(resource, namespace, name);
    const hit = this.cachedValue(resource, key);
    if (!hit) return undefined;
    let obj = this.sharedDecoded.get(hit);
    if (!obj) {
      obj = deepFreeze(this.decode(key, { value: hit.value, mod_revision: hit.modRevision }));
      this.sharedDecoded.set(hit, obj);
    }
    return obj;
  }

  /**
   * {@inheritDoc Storage.listCached}
   * Undefined while the read cache is behind any write this instance made of the resource.
   */
  listCached(resource: string, namespace: string | undefined, predicate?: (obj: KubeObject) => boolean): KubeObject[] | undefined {
    const cache = this.loadedCache();
    if (!cache || cache.revision < (this.lastWriteRevision.get(resource) ?? 0)) return undefined;
    const snapshot = cache.range(listPrefix(this.prefix, resource, namespace || undefined), 0);
    if (snapshot === STALE) return undefined;
    const items: KubeObject[] = [];
    for (const [key, hit] of snapshot.kvs) {
      const obj = this.decode(key, { value: hit.value, mod_revision: hit.modRevision });
      if (!predicate || predicate(obj)) items.push(obj);
    }
    return items;
  }

  /** The read cache when it is loaded (and this store open); undefined otherwise, starting the load. */
  private loadedCache(): ReadCache | undefined {
    const cache = this.readCache;
    if (!cache || this.closed) return undefined;
    if (!cache.ready) {
      cache.start();
      return undefined;
    }
    return cache;
  }

  /** The read cache's value of `key` when it has applied every write this instance made of it (see getCached). */
  private cachedValue(resource: string, key: string): CachedValue | undefined {
    const cache = this.loadedCache();
    if (!cache) return undefined;
    if (cache.revision < (this.lastWriteRevision.get(resource) ?? 0)) {
      // Behind this instance's writes of the resource, but maybe not of this key.
      if (cache.revision < this.unappliedOverflow) return undefined;
      const own = this.unappliedWrites.get(key);
      // peek answers with a put's own bytes; after a deletion it would answer the cache's older copy.
      if (own && own.rev > cache.revision && !own.value) return undefined;
    }
    return this.peek(key);
  }

  /**
   * etcd's current revision, asked once for every caller of the same tick.
   * The call goes out after every joining caller arrived (setImmediate), so
   * it is ordered after each of their starts; a caller arriving once it is
   * out starts the next batch rather than reuse an answer that may predate it.
   */
  private sharedRevision(): Promise<number> {
    this.revisionBatch ??= new Promise<number>((resolve, reject) => {
      setImmediate(() => {
        this.revisionBatch = undefined;
        this.currentRevision().then((r) => resolve(Number(r)), reject);
      });
    });
    return this.revisionBatch;
  }

  /**
   * {@inheritDoc Storage.update}
   * uid, creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds
   * always come from the stored object. An update that changes nothing is not
   * written (no new resourceVersion, no watch event). When the object is
   * deleted instead (deletionTimestamp, no finalizers, no grace left) the
   * returned object carries the deletion revision.
   */
  async update(resource: string, obj: KubeObject, options: StoreUpdateOptions = {}): Promise<KubeObject> {
    const name = obj.metadata?.name;
    if (!name) throw invalid(resource, '', [{ type: 'FieldValueRequired', field: 'metadata.name', message: 'name is required' }]);
    const key = this.key(resource, obj.metadata.namespace, name);
    const wanted = obj.metadata.resourceVersion || undefined;
    // A key's value at a given mod revision never changes, so a cached copy at
    // exactly the wanted revision is what etcd holds there: the swap below
    // checks it is still current, and no read is needed.
    let cachedKv: Pick<KeyValue, 'value' | 'mod_revision'> | undefined;
    if (wanted) {
      const hit = this.peek(key);
      if (hit && hit.modRevision === wanted) cachedKv = { value: hit.value, mod_revision: hit.modRevision };
    }
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const fromCache = cachedKv;
      cachedKv = undefined;
      const kv = fromCache ?? (await this.readKv(key));
      if (!kv) throw notFound(resource, name);
      if (wanted && wanted !== kv.mod_revision) throw conflict(resource, name, MODIFIED);
      // The caller's frozen copy of exactly this version is what etcd holds there: no second decode.
      const given = options.current;
      const stored = given && Object.isFrozen(given) && given.metadata.resourceVersion === kv.mod_revision ? given : this.decode(key, kv, true);
      // Shallow: only metadata is changed here; the caller hands its object's parts over.
      const next: KubeObject = { ...obj };
      next.metadata = { ...next.metadata, resourceVersion: kv.mod_revision };
      const nm = next.metadata;
      prepareObjectMetaForUpdate(next, stored);
      const finalize = !!nm.deletionTimestamp && !nm.finalizers?.length && !(nm.deletionGracePeriodSeconds && nm.deletionGracePeriodSeconds > 0);
      if (!finalize && jsonEqual(stored, next)) {
        // Nothing to write: only a read of etcd can say the wanted revision is still current.
        if (fromCache) continue;
        // The answer is a private object carrying its stored JSON, not the caller's frozen one.
        return stored === given ? this.decode(key, kv, true) : stored;
      }
      const json = encodeJson(next);
      const rev = finalize ? await this.swap(resource, key, kv.mod_revision, 'delete') : await this.swap(resource, key, kv.mod_revision, 'put', this.seal(resource, key, json));
      if (rev !== undefined) return storedObject(next, json, rev);
      // After a swap on a cached copy failed, etcd says whether it is gone (404) or changed (409).
      if (wanted && !fromCache) throw conflict(resource, name, MODIFIED);
    }
    throw conflict(resource, name, MODIFIED);
  }

  /**
   * {@inheritDoc Storage.guaranteedUpdate}
   * `mutate` gets a fresh copy carrying the current resourceVersion. If it
   * returns an object with a different resourceVersion, that is taken as the
   * caller's precondition and a mismatch is a 409 (not retried); leave it (or
   * clear it) to get retry-until-success. Throws from `mutate` propagate.
   */
  async guaranteedUpdate(
    resource: string,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    options: GuaranteedUpdateOptions = {},
  ): Promise<KubeObject> {
    // First try on the cached copy, as Kubernetes does: the swap fails if it
    // was stale, and only then is the object read (consistently) from etcd.
    let optimistic = true;
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const key = this.key(resource, namespace, name);
      const hit = optimistic ? this.peek(key) : undefined;
      optimistic = false;
      const cached = hit ? this.decode(key, { value: hit.value, mod_revision: hit.modRevision }) : undefined;
      // Either way a private copy (decoded afresh): no clone needed. Frozen when asked, and then compared with as it is.
      const read = cached ?? (await this.get(resource, namespace, name));
      const current = options.frozen ? deepFreeze(read) : read;
      const rv = current.metadata.resourceVersion!;
      let out: KubeObject;
      try {
        out = await mutate(current);
      } catch (err) {
        // A stale copy may have misled mutate: decide again on the current object.
        if (cached) continue;
        throw err;
      }
      const outRv = out.metadata?.resourceVersion;
      if (outRv && outRv !== rv) {
        if (cached) continue;
        throw conflict(resource, name, MODIFIED);
      }
      const next: KubeObject = { ...out, metadata: { ...out.metadata, name, resourceVersion: rv } };
      if (namespace) next.metadata.namespace = namespace;
      try {
        return await this.update(resource, next, options.frozen ? { current } : {});
      } catch (err) {
        if (!isReason(err, 'Conflict') && !(cached && isReason(err, 'NotFound'))) throw err;
        // A stale cache is not contention: read etcd at once.
        if (cached) continue;
      }
      // Jittered back-off so writers racing on a hot object spread out instead of colliding again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(2 ** attempt * 2, 100)));
    }
    throw conflict(resource, name, MODIFIED);
  }

  /**
   * {@inheritDoc Storage.delete}
   * Marking sets deletionTimestamp = now + grace (only ever moved earlier),
   * deletionGracePeriodSeconds, and bumps generation the first time. A real
   * deletion returns the last state stamped with the deletion revision.
   */
  async delete(resource: string, namespace: string | undefined, name: string, options: DeleteOptions = {}): Promise<StoreDeleteResult> {
    const key = this.key(resource, namespace, name);
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const kv = await this.readKv(key);
      if (!kv) throw notFound(resource, name);
      const cur = this.decode(key, kv);
      const m = cur.metadata;
      const pre = options.preconditions;
      if (pre?.uid && pre.uid !== m.uid) {
        throw conflict(resource, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid ?? ''}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== kv.mod_revision) {
        throw conflict(resource, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${kv.mod_revision}`);
      }
      const grace = options.gracePeriodSeconds !== undefined && options.gracePeriodSeconds > 0 ? Math.floor(options.gracePeriodSeconds) : 0;
      if (m.finalizers?.length || grace > 0) {
        const deadline = Math.floor(Date.now() / 1000) * 1000 + grace * 1000;
        const existing = m.deletionTimestamp ? Date.parse(m.deletionTimestamp) : undefined;
        if (existing !== undefined && !Number.isNaN(existing) && existing <= deadline && m.deletionGracePeriodSeconds !== undefined) {
          return { object: cur, deleted: false };
        }
        const next = cur; // private (decoded from etcd) and re-read on a retry
        markForDeletion(next.metadata, rfc3339(new Date(deadline)), grace);
        const rev = await this.swap(resource, key, kv.mod_revision, 'put', this.seal(resource, key, encodeJson(next)));
        if (rev !== undefined) return { object: stamp(next, rev), deleted: false };
        continue;
      }
      const rev = await this.swap(resource, key, kv.mod_revision, 'delete');
      if (rev !== undefined) return { object: stamp(cur, rev), deleted: true };
    }
    throw conflict(resource, name, MODIFIED);
  }

  /**
   * {@inheritDoc Storage.list}
   * Every page is read at the first page's revision. A continue token whose
   * revision has been compacted is 410 Gone; a malformed one is 400.
   * remainingItemCount is set only without a predicate.
   */
  async list(resource: string, namespace: string | undefined, options: StoreListOptions = {}): Promise<StoreListResult> {
    const base = listPrefix(this.prefix, resource, namespace || undefined);
    const end = prefixRangeEnd(base);
    const limit = options.limit && options.limit > 0 ? Math.floor(options.limit) : 0;
    const pred = options.predicate;
    let start = base;
    let revision = 0;
    if (options.continue) {
      const token = decodeContinue(options.continue);
      start = base + token.start;
      revision = token.rv;
    }
    const items: KubeObject[] = [];
    // The items' JSON, undecoded (a LIST of 150,000 pods parsed every one only to send its stored JSON back).
    let json: string[] | undefined = options.jsonOnly && !pred ? [] : undefined;
    const add = (key: string, kv: Pick<KeyValue, 'value' | 'mod_revision'>): void => {
      if (json) {
        const text = spliceRevisionText(this.transformer.fromStorage(key, kv.value).toString('utf8'), kv.mod_revision);
        if (text !== undefined) {
          json.push(text);
          return;
        }
        // Not in the stored form (written by something else): answer with objects after all.
        for (const t of json) items.push(rememberJson(JSON.parse(t) as KubeObject, t));
        json = undefined;
      }
      items.push(this.decode(key, kv, true));
    };
    const count = () => (json ? json.length : items.length);
    const done = (result: StoreListResult): StoreListResult => (json ? { ...result, json } : result);
    // A first page is served from the read cache when it has caught up with etcd, as Kubernetes serves
    // lists from its watch cache: a LIST of 150,000 pods read half a gigabyte out of etcd. Further pages
    // (a continue token) read etcd at the first page's revision.
    // Without a predicate the page is the first `limit` keys: only those (and one more, to know there are more) are taken.
    const snapshot = options.continue ? undefined : await this.cachedRange(base, limit && !pred ? limit + 1 : Infinity, options.fromCache === true);
    if (snapshot) {
      revision = snapshot.revision;
      const kvs = snapshot.kvs;
      for (let i = 0; i < kvs.length; i++) {
        // The snapshot is one state of the copy: the loop may hand the event loop back between items.
        if (i > 0 && i % this.listYieldEvery === 0) {
          await setImmediatePromise();
          if (this.closed) throw serviceUnavailable(`storage is closed (list ${base})`);
        }
        const [key, hit] = kvs[i]!;
        const kv = { value: hit.value, mod_revision: hit.modRevision };
        if (pred) {
          const obj = this.decode(key, kv, true);
          if (!pred(obj)) continue;
          items.push(obj);
        } else add(key, kv);
        if (limit && count() === limit && i < kvs.length - 1) {
          const result: StoreListResult = { items, resourceVersion: String(revision), continue: encodeContinue({ rv: revision, start: key.slice(base.length) + '\u0000' }) };
          if (!pred) result.remainingItemCount = snapshot.total - (i + 1);
          return done(result);
        }
      }
      return done({ items, resourceVersion: String(revision) });
    }
    // Read in chunks at the first chunk's revision, never the whole prefix in one response: one range of
    // 150,000 pods (half a gigabyte) outlasted the request deadline twice and the LIST failed with 503.
    let chunk = limit ? Math.min(limit, this.listChunk) : this.listChunk;
    for (;;) {
      let res;
      try {
        const startKey = start;
        const rev = revision;
        res = await this.call('list', base, () =>
          this.kv.range({ key: Buffer.from(startKey), range_end: end, limit: chunk, ...(rev ? { revision: rev } : {}) }),
        );
      } catch (err) {
        throw this.listError(err, revision);
      }
      if (!revision) revision = Number(res.header.revision);
      const kvs = res.kvs;
      for (let i = 0; i < kvs.length; i++) {
        const key = kvs[i]!.key.toString('utf8');
        if (pred) {
          const obj = this.decode(key, kvs[i]!, true);
          if (!pred(obj)) continue;
          items.push(obj);
        } else add(key, kvs[i]!);
        if (limit && count() === limit) {
          const more = i < kvs.length - 1 || res.more;
          const result: StoreListResult = { items, resourceVersion: String(revision) };
          if (more) {
            result.continue = encodeContinue({ rv: revision, start: key.slice(base.length) + '\u0000' });
            if (!pred) result.remainingItemCount = Number(res.count) - (i + 1);
          }
          return done(result);
        }
      }
      if (!res.more || kvs.length === 0) return done({ items, resourceVersion: String(revision) });
      // More than a chunk, or a predicate filtered some out: read on, in growing chunks.
      start = kvs[kvs.length - 1]!.key.toString('utf8') + '\u0000';
      chunk = Math.min(Math.max(chunk * 2, 100), this.listChunk);
      if (limit && !pred) chunk = Math.min(chunk, limit - count());
    }
  }

  /**
   * The keys under `base` from the read cache, at a revision at least etcd's
   * current one; undefined when the cache is not there, not loaded (which
   * starts it) or behind (then lists and gets skip it for a moment, as get).
   * `anyState` (StoreListOptions.fromCache): whatever the loaded cache holds
   * will do, and its load is waited for.
   */
  private async cachedRange(base: string, max = Infinity, anyState = false): Promise<{ revision: number; kvs: Array<[string, CachedValue]>; total: number } | undefined> {
    const cache = this.readCache;
    if (anyState && cache && !this.closed && (await cache.whenReady()) && !this.closed) {
      const snapshot = cache.range(base, 0, max);
      if (snapshot !== STALE) {
        this.readStats.cacheLists++;
        return snapshot;
      }
    }
    if (!cache || this.closed || (this.now() < this.cacheListSkipUntil && !this.cacheLags())) {
      this.readStats.etcdLists++;
      return undefined;
    }
    if (!cache.ready) {
      cache.start();
      this.readStats.etcdLists++;
      return undefined;
    }
    const revision = await this.sharedRevision();
    let snapshot = cache.range(base, revision, max);
    if (snapshot === STALE && (await this.cacheReaches(revision, this.cacheListWaitMs)) && !this.closed) snapshot = cache.range(base, revision, max);
    if (snapshot === STALE) {
      this.cacheListSkipUntil = this.now() + this.cacheMissBackoffMs;
      this.readStats.etcdLists++;
      return undefined;
    }
    this.readStats.cacheLists++;
    return snapshot;
  }

  private listError(err: unknown, revision: number): unknown {
    const cause = err instanceof ApiError ? err.message : (err as Error)?.message;
    if (revision && (isCompactedError(err) || (cause && isCompactedError(new Error(cause))))) {
      return gone(
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
      );
    }
    if (revision && (isFutureRevisionError(err) || (cause && isFutureRevisionError(new Error(cause))))) {
      return badRequest('continue key is not valid: its resourceVersion is newer than the store');
    }
    return err;
  }

  /** {@inheritDoc Storage.currentRevision} */
  async currentRevision(): Promise<string> {
    const key = `${this.prefix}/`;
    const res = await this.call('revision', key, () => this.kv.range({ key: Buffer.from(key), count_only: true, limit: 1 }));
    return res.header.revision;
  }

  /**
   * {@inheritDoc Storage.watch}
   * Errors surface from the iterator: 400 for a malformed resourceVersion,
   * 410 Gone when it was compacted, when this watcher fell more than
   * `watchBufferSize` events behind (a slow consumer never blocks the
   * others), or when the shared etcd watch was lost to compaction — in every
   * 410 case the client must relist. 503 while etcd is unreachable. Ends
   * normally on `signal` abort or close().
   */
  watch(resource: string, namespace: string | undefined, options: StoreWatchOptions = {}): StoreWatch {
    const open = () => this.openWatch(resource, namespace || undefined, options);
    const finished = (): Promise<IteratorResult<StoreWatchEvent, undefined>> => Promise.resolve({ value: undefined, done: true });
    // The subscription of the latest iteration, whose progress a bookmark reports.
    let latest: Subscription | undefined;
    return {
      progress: () => (latest ? String(latest.progress()) : undefined),
      [Symbol.asyncIterator]: () => {
        // Set-up (hub, revision) runs on the first next(); later calls go straight to the subscription.
        let sub: Subscription | undefined;
        let setup: Promise<Subscription | undefined> | undefined;
        let stopped = false;
        return {
          next: () => {
            if (sub) return sub.next();
            if (stopped) return finished();
            setup ??= open().then((s) => {
              if (stopped) void s?.return();
              latest = s;
              return (sub = s);
            });
            return setup.then((s) => (s && !stopped ? s.next() : finished()));
          },
          return: () => {
            stopped = true;
            if (sub) return sub.return();
            void setup?.then((s) => s?.return(), () => undefined);
            return finished();
          },
        };
      },
    };
  }

  private async openWatch(resource: string, namespace: string | undefined, options: StoreWatchOptions): Promise<Subscription | undefined> {
    if (this.closed) throw serviceUnavailable('storage is closed');
    const rvText = options.resourceVersion;
    let from: number | undefined;
    if (rvText && rvText !== '0') {
      if (!/^\d+$/.test(rvText) || !Number.isSafeInteger(Number(rvText))) throw badRequest(`invalid resource version: ${JSON.stringify(rvText)}`);
      from = Number(rvText);
    }
    const signal = options.signal;
    if (signal?.aborted) return;
    const hub = await this.hubFor(resource);
    // After the hub is up, so "now" is never older than the hub's window.
    if (from === undefined) from = Number(await this.currentRevision());
    if (signal?.aborted || this.closed) return;
    const sub = new Subscription({
      keyPrefix: listPrefix(this.prefix, resource, namespace),
      afterRevision: from,
      bufferSize: this.bufferSize,
      ...(options.predicate ? { predicate: options.predicate } : {}),
      ...(options.predicate && options.index ? { index: options.index } : {}),
    });
    this.subs.add(sub);
    sub.onEnd(() => this.subs.delete(sub));
    if (signal) {
      const onAbort = () => sub.end();
      signal.addEventListener('abort', onAbort, { once: true });
      sub.onEnd(() => signal.removeEventListener('abort', onAbort));
    }
    if (hub.canServe(from)) hub.attach(sub);
    else this.catchUp(hub, listPrefix(this.prefix, resource), sub, from);
    return sub;
  }

  // A watch from before the hub's window: a private etcd watch that hands the
  // subscriber over to the shared hub as soon as it reaches the hub's window.
  private catchUp(hub: ResourceHub, resourcePrefix: string, sub: Subscription, from: number): void {
    let handedOver = false;
    const cancel = this.watchStream.watch(
      { key: Buffer.from(resourcePrefix), rangeEnd: prefixRangeEnd(resourcePrefix), startRevision: from + 1 },
      {
        onEvents: (events) => {
          if (handedOver || sub.closed) return;
          for (const ev of events) sub.offer(new Change(ev, this.transformer));
          if (hub.canServe(sub.cursor) && !sub.closed) {
            handedOver = true;
            cancel();
            hub.attach(sub);
          }
        },
        onCanceled: (compactRevision, reason) => {
          if (handedOver) return;
          this.log.info({ prefix: resourcePrefix, revision: from, compactRevision, reason }, 'watch from an old revision refused');
          sub.fail(gone(`too old resource version: ${from} (${compactRevision || hub.historyStart})`));
        },
      },
    );
    sub.onEnd(() => {
      if (!handedOver) cancel();
    });
  }

  private hubFor(resource: string): Promise<ResourceHub> {
    let pending = this.hubs.get(resource);
    if (pending) return pending;
    const prefix = listPrefix(this.prefix, resource);
    const drop = () => {
      if (this.hubs.get(resource) === pending) this.hubs.delete(resource);
    };
    const hub = new ResourceHub({ stream: this.watchStream, resourcePrefix: prefix, historySize: this.historySize, log: this.log, onBroken: drop, transformer: this.transformer });
    pending = (async () => {
      // Fed by the read cache when it loads in time: one etcd watch for the cache and every hub, not one each.
      const cache = this.readCache;
      const ready = cache?.whenReady();
      if (cache && ready && (await this.within(ready, false, HUB_CACHE_WAIT_MS)) && !this.closed && hub.startFromCache(cache)) return hub;
      const rev = Number(await this.currentRevision());
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          hub.start(rev),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(serviceUnavailable(`etcd did not accept a watch on ${prefix} within ${this.timeoutMs} ms`)), this.timeoutMs);
          }),
        ]);
      } catch (err) {
        void hub.close();
        throw toApiError(err, 'watch', prefix);
      } finally {
        clearTimeout(timer);
      }
      // Still loading: the hub serves from a watch of its own meanwhile and moves onto the copy once it is
      // loaded (a resource nobody writes keeps its idle etcd watch until its next change: see moveToCache).
      if (cache && ready && !this.closed) void ready.then((ok) => ok && !this.closed && hub.moveToCache(cache));
      return hub;
    })();
    pending.catch(drop);
    this.hubs.set(resource, pending);
    return pending;
  }

  /** `p`, or `otherwise` once the request timeout passes first. */
  private async within<T>(p: Promise<T>, otherwise: T, ms = this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(otherwise), ms)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends every watch (normally, not with an error) and closes the etcd client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.compactor?.stop();
    for (const sub of [...this.subs]) sub.end();
    const hubs = await Promise.allSettled([...this.hubs.values()]);
    this.hubs.clear();
    await Promise.all(hubs.map((h) => (h.status === 'fulfilled' ? h.value.close() : undefined)));
    this.readCache?.close();
    this.watchStream.close();
    this.watchKv?.close();
    this.kv.close();
    this.client.close();
  }
}
