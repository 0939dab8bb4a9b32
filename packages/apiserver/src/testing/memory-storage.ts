/**
 * An in-memory Storage with the same semantics as the etcd one: one global
 * revision counter, compare-and-swap updates, lists at one revision, watches
 * that resume from a revision and answer 410 Gone once it is compacted.
 * For unit tests and benchmarks; nothing survives the process.
 */
import { alreadyExists, completeObjectMetaForCreate, conflict, gone, markForDeletion, notFound, nowTimestamp, prepareObjectMetaForUpdate, ApiError } from '@flotilla/api';
import type { DeleteOptions, KubeObject } from '@flotilla/api';
import { deepFreeze } from '@flotilla/store';
import type {
  GuaranteedUpdateOptions,
  Storage,
  StoreDeleteResult,
  StoreListOptions,
  StoreListResult,
  StoreWatchEvent,
  StoreWatchOptions,
} from '@flotilla/store';

interface Change {
  rev: number;
  resource: string;
  type: StoreWatchEvent['type'];
  object: KubeObject;
  /** The state before the change, so filtered watches can turn "no longer matches" into DELETED. */
  prev: KubeObject | undefined;
}

type Listener = (c: Change) => void;

const copy = <T>(v: T): T => structuredClone(v);

/** In-memory Storage; see the file comment. */
export class MemoryStorage implements Storage {
  private rev = 1;
  private compacted = 0;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: Change[] = [];
  private readonly listeners = new Set<Listener>();
  private closed = false;
  /** When set, every call fails with this error (simulates an unreachable etcd). */
  failWith: ApiError | undefined;

  private key(resource: string, namespace: string | undefined, name: string): string {
    return namespace ? `${resource}/${namespace}/${name}` : `${resource}/${name}`;
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
    if (this.closed) throw new ApiError('ServiceUnavailable', 'storage is closed');
  }

  private record(resource: string, type: Change['type'], object: KubeObject, prev: KubeObject | undefined): void {
    const change: Change = { rev: this.rev, resource, type, object: copy(object), prev: prev && copy(prev) };
    this.history.push(change);
    for (const l of this.listeners) l(change);
  }

  async create(resource: string, obj: KubeObject): Promise<KubeObject> {
    this.check();
    const o = copy(obj);
    // The metadata rules of every storage (api's object-meta): name from generateName, a given uid kept, generation 1.
    const md = (o.metadata = completeObjectMetaForCreate(o.metadata ?? {}, nowTimestamp()));
    if (!md.name) throw new ApiError('Invalid', 'metadata.name: Required value: name or generateName is required');
    const k = this.key(resource, md.namespace, md.name);
    if (this.objects.has(k)) throw alreadyExists(resource, md.name);
    md.resourceVersion = String(++this.rev);
    this.objects.set(k, o);
    this.record(resource, 'ADDED', o, undefined);
    return copy(o);
  }

  async get(resource: string, namespace: string | undefined, name: string): Promise<KubeObject> {
    this.check();
    const o = this.objects.get(this.key(resource, namespace, name));
    if (!o) throw notFound(resource, name);
    return copy(o);
  }

  async update(resource: string, obj: KubeObject): Promise<KubeObject> {
    this.check();
    const o = copy(obj);
    const md = o.metadata;
    const k = this.key(resource, md.namespace, md.name ?? '');
    const cur = this.objects.get(k);
    if (!cur) throw notFound(resource, md.name ?? '');
    if (md.resourceVersion && md.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(resource, md.name ?? '', 'the object has been modified; please apply your changes to the latest version and try again');
    }
    // Identity and deletion fields are the store's, not the caller's; generation by the one rule.
    prepareObjectMetaForUpdate(o, cur);
    md.resourceVersion = String(++this.rev);
    if (md.deletionTimestamp && !(md.finalizers?.length) && !(md.deletionGracePeriodSeconds && md.deletionGracePeriodSeconds > 0)) {
      this.objects.delete(k);
      this.record(resource, 'DELETED', o, cur);
      return copy(o);
    }
    this.objects.set(k, o);
    this.record(resource, 'MODIFIED', o, cur);
    return copy(o);
  }

  async guaranteedUpdate(
    resource: string,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    options: GuaranteedUpdateOptions = {},
  ): Promise<KubeObject> {
    for (;;) {
      const cur = await this.get(resource, namespace, name);
      // Frozen as etcd's storage hands it over: a mutate that changes it throws here too.
      const out = await mutate(options.frozen ? deepFreeze(copy(cur)) : copy(cur));
      const next = { ...out, metadata: { ...out.metadata, resourceVersion: cur.metadata.resourceVersion } };
      try {
        return await this.update(resource, next);
      } catch (err) {
        if (err instanceof ApiError && err.reason === 'Conflict') continue;
        throw err;
      }
    }
  }

  async delete(resource: string, namespace: string | undefined, name: string, options: DeleteOptions = {}): Promise<StoreDeleteResult> {
    this.check();
    const k = this.key(resource, namespace, name);
    const cur = this.objects.get(k);
    if (!cur) throw notFound(resource, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) {
      throw conflict(resource, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(resource, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    }
    const grace = options.gracePeriodSeconds ?? 0;
    const hasFinalizers = (cur.metadata.finalizers?.length ?? 0) > 0;
    if (hasFinalizers || grace > 0) {
      // A marked object only changes when the grace period shortens.
      if (cur.metadata.deletionTimestamp && grace >= (cur.metadata.deletionGracePeriodSeconds ?? 0)) {
        return { object: copy(cur), deleted: false };
      }
      const o = copy(cur);
      markForDeletion(o.metadata, nowTimestamp(new Date(Date.now() + grace * 1000)), grace);
      o.metadata.resourceVersion = String(++this.rev);
      this.objects.set(k, o);
      this.record(resource, 'MODIFIED', o, cur);
      return { object: copy(o), deleted: false };
    }
    return this.remove(resource, k, cur);
  }

  private remove(resource: string, k: string, cur: KubeObject): StoreDeleteResult {
    const o = copy(cur);
    o.metadata.resourceVersion = String(++this.rev);
    this.objects.delete(k);
    this.record(resource, 'DELETED', o, cur);
    return { object: copy(o), deleted: true };
  }

  async list(resource: string, namespace: string | undefined, options: StoreListOptions = {}): Promise<StoreListResult> {
    this.check();
    let start = '';
    let atRev = this.rev;
    if (options.continue) {
      try {
        const tok = JSON.parse(Buffer.from(options.continue, 'base64url').toString()) as { k: string; r: number };
        start = String(tok.k);
        atRev = Number(tok.r);
      } catch {
        throw new ApiError('BadRequest', 'invalid continue token');
      }
      if (atRev <= this.compacted) throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
    }
    const prefix = namespace ? `${resource}/${namespace}/` : `${resource}/`;
    const state = this.stateAt(atRev, prefix);
    const keys = [...state.keys()].filter((k) => k > start).sort();
    const matching: Array<[string, KubeObject]> = [];
    for (const k of keys) {
      const o = state.get(k)!;
      if (!options.predicate || options.predicate(o)) matching.push([k, o]);
    }
    const limit = options.limit && options.limit > 0 ? options.limit : matching.length;
    const page = matching.slice(0, limit);
    const result: StoreListResult = { items: page.map(([, o]) => copy(o)), resourceVersion: String(atRev) };
    if (matching.length > limit) {
      result.continue = Buffer.from(JSON.stringify({ k: page[page.length - 1]![0], r: atRev })).toString('base64url');
      result.remainingItemCount = matching.length - limit;
    }
    return result;
  }

  /** The objects under a key prefix as they were at a revision (replays history backwards). */
  private stateAt(rev: number, prefix: string): Map<string, KubeObject> {
    const state = new Map<string, KubeObject>();
    for (const [k, o] of this.objects) if (k.startsWith(prefix)) state.set(k, o);
    for (let i = this.history.length - 1; i >= 0 && this.history[i]!.rev > rev; i--) {
      const c = this.history[i]!;
      const k = this.key(c.resource, c.object.metadata.namespace, c.object.metadata.name ?? '');
      if (!k.startsWith(prefix)) continue;
      if (c.prev) state.set(k, c.prev);
      else state.delete(k);
    }
    return state;
  }

  watch(resource: string, namespace: string | undefined, options: StoreWatchOptions = {}): AsyncIterable<StoreWatchEvent> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      [Symbol.asyncIterator]: () => self.watchIterator(resource, namespace, options),
    };
  }

  private watchIterator(resource: string, namespace: string | undefined, options: StoreWatchOptions): AsyncIterator<StoreWatchEvent> {
    const queue: StoreWatchEvent[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    let failure: unknown;
    const pred = options.predicate;
    const translate = (c: Change): StoreWatchEvent | undefined => {
      if (c.resource !== resource) return undefined;
      if (namespace && c.object.metadata.namespace !== namespace) return undefined;
      if (!pred) return { type: c.type, object: copy(c.object) };
      const now = c.type !== 'DELETED' && pred(c.object);
      const before = c.prev !== undefined && pred(c.prev);
      if (c.type === 'DELETED') return before ? { type: 'DELETED', object: copy(c.object) } : undefined;
      if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: copy(c.object) };
      if (before) return { type: 'DELETED', object: copy(c.object) };
      return undefined;
    };
    const push = (c: Change) => {
      const e = translate(c);
      if (!e) return;
      queue.push(e);
      wake?.();
    };
    const stop = () => {
      done = true;
      this.listeners.delete(push);
      wake?.();
    };
    try {
      this.check();
      const rv = options.resourceVersion;
      if (rv && rv !== '0') {
        const from = Number(rv);
        if (!Number.isInteger(from) || from < 0) throw new ApiError('BadRequest', `invalid resourceVersion "${rv}"`);
        if (from < this.compacted) throw gone(`too old resource version: ${rv} (${this.compacted})`);
        for (const c of this.history) if (c.rev > from) push(c);
      }
      this.listeners.add(push);
    } catch (err) {
      failure = err;
    }
    if (options.signal) {
      if (options.signal.aborted) stop();
      else options.signal.addEventListener('abort', stop, { once: true });
    }
    this.closers.add(stop);
    return {
      next: async (): Promise<IteratorResult<StoreWatchEvent>> => {
        if (failure) {
          const f = failure;
          failure = undefined;
          stop();
          throw f;
        }
        while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<StoreWatchEvent>> => {
        stop();
        this.closers.delete(stop);
        return { value: undefined, done: true };
      },
    };
  }

  private readonly closers = new Set<() => void>();

  async currentRevision(): Promise<string> {
    this.check();
    return String(this.rev);
  }

  /** Forgets history up to and including `rev`, like etcd compaction: older watches get 410. */
  compact(rev?: number): void {
    const upTo = rev ?? this.rev;
    this.compacted = Math.max(this.compacted, upTo);
    while (this.history.length && this.history[0]!.rev <= upTo) this.history.shift();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.closers) c();
    this.closers.clear();
  }
}
