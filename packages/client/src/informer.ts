/**
 * Shared informers: a reflector that lists (paged) and then watches one
 * resource, keeping an indexed cache and telling handlers about every
 * change. On a dropped watch it resumes from the last resourceVersion it
 * saw; on 410 Gone it relists, swaps the cache at once and emits the
 * differences, so handlers see one consistent stream of add/update/delete.
 *
 * Objects handed to handlers and returned by the store are shared by every
 * consumer in the process and are frozen: never mutate them (deepCopy first).
 */
import { groupVersion, objectKey, type KubeObject, type WatchEvent } from '@flotilla/api';
import { resolveResource, type ApiClient, type ResourceClient, type ResourceRef, type ResourceTarget } from './api-client.js';
import { onAbort, realClock, type Clock } from './clock.js';
import { runListWatch } from './list-watch.js';
import { silentLogger, type Logger } from './logger.js';
import { Store, type IndexFunc, type ReadonlyStore } from './store.js';

/** Callbacks for cache changes. They run synchronously in the informer: enqueue a key and return. */
export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  /** Receives the last state of the object (from the DELETED event, or the cache after a relist). */
  onDelete?(obj: T): void;
}

/** What an informer watches and how. */
export interface InformerOptions {
  /** Only this namespace; all namespaces (or cluster-scoped) when unset. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size of the initial list. Default 500. */
  pageSize?: number;
  clock?: Clock;
  logger?: Logger;
  /** Deep-freeze cached objects so accidental mutation throws. Default true. */
  freeze?: boolean;
  /**
   * Keep each object's metadata.managedFields. Default false: the list and
   * the watch ask the apiserver to leave them out (omitManagedFields), as
   * client-go's TransformStripManagedFields drops them from its caches, but
   * before they are sent: on a pod they are ~40 % of the JSON every watcher
   * would parse and hold. No Flotilla component reads them.
   */
  managedFields?: boolean;
  /** Server-side watch timeout; a random value in [5, 10) minutes when unset, like client-go. */
  watchTimeoutSeconds?: number;
  /**
   * A client-side selection the server cannot make (the pods of a range of
   * nodes): only objects `object` accepts are cached and reported. `line`, when
   * given, rejects raw watch lines before they are parsed; it may accept a line
   * whose object `object` then rejects, never the reverse. An object must not
   * leave the selection by a change (the change's line may be skipped, so
   * the cache would keep its old state): select on what never changes, such
   * as a pod's spec.nodeName once set.
   */
  select?: InformerSelection;
}

/** See InformerOptions.select. */
export interface InformerSelection {
  object(obj: KubeObject): boolean;
  line?(line: string): boolean;
}

/** Recursively freezes a JSON-shaped value. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) freezeTree(value as object);
  return value;
}

// Every cached object of every informer passes here once per watch event: index loops and for-in, without the
// array Object.values allocates per object and without a call per primitive, cost half of what they did.
// A part already frozen is shared with a frozen object (a list item given its type) and is frozen throughout.
function freezeTree(obj: object): void {
  Object.freeze(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const v: unknown = obj[i];
      if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) freezeTree(v);
    }
    return;
  }
  for (const k in obj) {
    const v: unknown = (obj as Record<string, unknown>)[k];
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) freezeTree(v);
  }
}

/** A list+watch cache of one resource with event handlers; share one per resource in a process. */
export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceRef;
  readonly options: Readonly<InformerOptions>;
  private readonly client: ResourceClient<T>;
  private readonly cache = new Store<T>();
  private readonly handlers = new Set<EventHandlers<T>>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly freeze: boolean;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private lastRV: string | undefined;
  private running: Promise<void> | undefined;
  private readonly skipLine: ((line: string) => boolean) | undefined;

  constructor(client: ApiClient, target: ResourceTarget, options: InformerOptions = {}) {
    this.resource = resolveResource(target);
    this.client = client.resource<T>(this.resource);
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.freeze = options.freeze ?? true;
    this.log = options.logger ?? silentLogger;
    const line = options.select?.line;
    this.skipLine = line ? (l: string) => !line(l) : undefined;
  }

  /** The cache. Its objects are shared and frozen: never mutate them. */
  get store(): ReadonlyStore<T> {
    return this.cache;
  }

  /** Adds a secondary index (usable through store.byIndex); existing objects are indexed at once. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    if (!this.cache.hasIndexer(name)) this.cache.addIndexer(name, fn);
  }

  /**
   * Registers handlers; objects already cached are replayed to them as adds
   * so a late subscriber still sees everything. Returns an unsubscribe function.
   */
  addEventHandler(handlers: EventHandlers<T>): () => void {
    this.handlers.add(handlers);
    if (handlers.onAdd) for (const obj of this.cache.list()) this.call(() => handlers.onAdd!(obj), obj);
    return () => this.handlers.delete(handlers);
  }

  /** Shorthand for addEventHandler({ onAdd }). */
  onAdd(fn: (obj: T) => void): () => void {
    return this.addEventHandler({ onAdd: fn });
  }

  /** Shorthand for addEventHandler({ onUpdate }). */
  onUpdate(fn: (oldObj: T, newObj: T) => void): () => void {
    return this.addEventHandler({ onUpdate: fn });
  }

  /** Shorthand for addEventHandler({ onDelete }). */
  onDelete(fn: (obj: T) => void): () => void {
    return this.addEventHandler({ onDelete: fn });
  }

  /** True once the first list has been applied to the cache and its events delivered. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true when synced, or false if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      // Through the shared registry: a controller manager waits for dozens of informers on one signal.
      const forget = signal ? onAbort(signal, () => resolve(false)) : undefined;
      this.syncWaiters.push(() => {
        forget?.();
        resolve(true);
      });
    });
  }

  /** The resourceVersion of the last list, event or bookmark seen. */
  lastSyncResourceVersion(): string | undefined {
    return this.lastRV;
  }

  /** True after start()/run() until the signal stopped it. */
  isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Starts the reflector in the background (idempotent); it stops when `signal` aborts. */
  start(signal: AbortSignal): void {
    if (!this.running) {
      this.running = this.loop(signal).finally(() => {
        this.running = undefined;
      });
    }
  }

  /** Starts (if needed) and resolves when the informer has stopped. */
  async run(signal: AbortSignal): Promise<void> {
    this.start(signal);
    await this.running;
  }

  private get what(): Record<string, unknown> {
    return { resource: this.resource.plural, namespace: this.options.namespace, labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector };
  }

  private loop(signal: AbortSignal): Promise<void> {
    return runListWatch(
      {
        list: (s) => this.listAndReplace(s),
        watch: (s) => this.watch(s),
        onGone: () => this.log.info({ ...this.what, resourceVersion: this.lastRV }, 'watch expired (410 Gone); relisting'),
        onError: (err, relist) => this.log.warn({ ...this.what, err: (err as Error)?.message ?? String(err), relist }, relist ? 'list failed; retrying' : 'watch failed; resuming'),
      },
      signal,
      { clock: this.clock },
    );
  }

  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.client.list(this.options.namespace, {
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        limit: this.options.pageSize ?? 500,
        continue: cont,
        ...(this.options.managedFields ? {} : { omitManagedFields: true }),
        // A stop must not wait for a page from an apiserver that stopped answering.
        signal,
      });
      if (signal.aborted) return;
      const select = this.options.select;
      for (const item of page.items) if (!select || select.object(item)) items.push(this.prepare(item));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont);
    this.replace(items);
    this.lastRV = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    this.log.debug({ ...this.what, count: items.length, resourceVersion: rv }, 'listed');
  }

  /** Consumes one watch until it ends; returns the number of events seen. */
  private async watch(signal: AbortSignal): Promise<number> {
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
    const stream = this.client.watch(this.options.namespace, {
      labelSelector: this.options.labelSelector,
      fieldSelector: this.options.fieldSelector,
      resourceVersion: this.lastRV,
      allowWatchBookmarks: true,
      ...(this.options.managedFields ? {} : { omitManagedFields: true }),
      timeoutSeconds,
      signal,
      ...(this.skipLine ? { skipLine: this.skipLine } : {}),
    });
    let n = 0;
    for await (const event of stream) {
      if (signal.aborted) break;
      n++;
      this.apply(event);
    }
    return n;
  }

  private apply(event: WatchEvent<T>): void {
    const rv = event.object?.metadata?.resourceVersion;
    const select = this.options.select;
    if (select && event.type !== 'BOOKMARK' && event.object && !select.object(event.object)) {
      if (rv) this.lastRV = rv;
      return;
    }
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const obj = this.prepare(event.object);
        const old = this.cache.upsert(obj);
        if (old) this.emit('update', obj, old);
        else this.emit('add', obj);
        break;
      }
      case 'DELETED': {
        const obj = this.prepare(event.object);
        this.cache.remove(objectKey(obj));
        // Reported with its final state, even if it was unknown to us (deleted between list and watch).
        this.emit('delete', obj);
        break;
      }
      case 'BOOKMARK':
        break;
      default:
        return;
    }
    if (rv) this.lastRV = rv;
  }

  /** Swaps the cache to a fresh list, then emits what changed relative to the old content. */
  private replace(items: T[]): void {
    const before = new Map<string, T>();
    for (const key of this.cache.keys()) before.set(key, this.cache.get(key)!);
    this.cache.replace(items);
    for (const obj of items) {
      const key = objectKey(obj);
      const old = before.get(key);
      before.delete(key);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
    }
    for (const gone of before.values()) this.emit('delete', gone);
  }

  private prepare(obj: T): T {
    if (!obj.apiVersion || !obj.kind) {
      // Items of a list come without their type; fill it in once so consumers can rely on it.
      obj = { ...obj, apiVersion: obj.apiVersion ?? groupVersion(this.resource), kind: obj.kind ?? this.resource.kind };
    }
    return this.freeze ? deepFreeze(obj) : obj;
  }

  private emit(type: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      if (type === 'add' && h.onAdd) this.call(() => h.onAdd!(obj), obj);
      else if (type === 'update' && h.onUpdate) this.call(() => h.onUpdate!(old!, obj), obj);
      else if (type === 'delete' && h.onDelete) this.call(() => h.onDelete!(obj), obj);
    }
  }

  private call(fn: () => void, obj: T): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ ...this.what, object: objectKey(obj), err: (err as Error)?.message ?? String(err) }, 'event handler threw');
    }
  }
}

/** Which informer to get from a factory. */
export interface InformerRequest {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** Options shared by every informer a factory makes. */
export type InformerFactoryOptions = Pick<InformerOptions, 'clock' | 'logger' | 'freeze' | 'pageSize' | 'watchTimeoutSeconds'>;

/** Hands out one shared informer per resource + namespace + selectors, so a process watches each once. */
export class InformerFactory {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private signal: AbortSignal | undefined;

  constructor(
    private readonly client: ApiClient,
    private readonly options: InformerFactoryOptions = {},
  ) {}

  /** The shared informer for a resource (created on first request; started at once if the factory runs). */
  informer<T extends KubeObject = KubeObject>(target: ResourceTarget, request: InformerRequest = {}): Informer<T> {
    const ref = resolveResource(target);
    const key = [ref.group, ref.version, ref.plural, request.namespace ?? '', request.labelSelector ?? '', request.fieldSelector ?? ''].join('|');
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client, ref, { ...this.options, ...request });
      this.informers.set(key, inf);
      if (this.signal && !this.signal.aborted) inf.start(this.signal);
    }
    return inf as unknown as Informer<T>;
  }

  /** Starts every informer (and those requested later) until `signal` aborts. */
  start(signal: AbortSignal): void {
    this.signal = signal;
    for (const inf of this.informers.values()) inf.start(signal);
  }

  /** Resolves true when every informer has synced, false if `signal` aborts first. */
  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const results = await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
    return results.every(Boolean);
  }

  /** Every informer made so far. */
  all(): Informer<KubeObject>[] {
    return [...this.informers.values()];
  }
}
