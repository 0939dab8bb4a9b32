/**
 * An in-memory ApiClient for unit tests and benchmarks: resourceVersions
 * from one counter (like etcd's revision), compare-and-swap conflicts,
 * watches that replay from a resourceVersion (410 after compact()), label
 * and field selectors, status/scale/binding subresources, finalizers, and a
 * log of every write so a test can assert the exact actions a reconcile made.
 *
 * Writes follow each kind's strategy from the api registry, as the real
 * apiserver's do: a create resets server-owned metadata and status (a pod
 * starts Pending), names come from generateName by the same generator,
 * generation moves by the same rule, a write of the object keeps the stored
 * status, `/status` changes only status, bindings and scale are the api's.
 * Not done here: defaults, validation, admission, and graceful deletion (no
 * agent finishes it: a pod is deleted at once unless it has finalizers).
 */
import {
  alreadyExists,
  ApiError,
  badRequest,
  bindPod,
  completeObjectMetaForCreate,
  conflict,
  fromScale,
  gone,
  groupVersion,
  markForDeletion,
  notFound,
  nowTimestamp,
  objectKey,
  parseFieldSelector,
  parseLabelSelector,
  prepareCreate,
  prepareObjectMetaForUpdate,
  resourceForKind,
  toScale,
  withStatusOf,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type Requester,
  type ResourceInfo,
  type Scale,
  type WatchEvent,
} from '@flotilla/api';
import {
  resolveResource,
  type ApiClient,
  type GetOptions,
  type ListOptions,
  type PatchType,
  type ResourceClient,
  type ResourceRef,
  type ResourceTarget,
  type WatchOptions,
} from '../api-client.js';
import { onAbort, realClock, type Clock } from '../clock.js';
import { applyJsonPatch, applyMergePatch } from './patch.js';

/** One request the fake served. Writes are kept in `actions`; reads only reach reactors. */
export interface FakeAction {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  /** Plural resource name, e.g. `pods`. */
  resource: string;
  subresource?: 'status' | 'scale' | 'binding';
  namespace?: string;
  name?: string;
  /** The body sent (create/update) or the patch. */
  object?: unknown;
  patchType?: PatchType;
  /** The resourceVersion a get asked for ('0': any version, the apiserver's cache); the fake always serves the current object. */
  resourceVersion?: string;
}

/** Runs before the fake handles a request; throw (e.g. an ApiError) to make the request fail. */
export type Reactor = (action: FakeAction) => void;

/** Options of a FakeApiClient. */
export interface FakeApiClientOptions {
  /** Objects present from the start (not recorded as actions). */
  objects?: KubeObject[];
  clock?: Clock;
  /** The requester of every write, for kinds whose strategy records it (a CSR's spec.username). Default: an admin. */
  user?: Requester;
}

/** The user writes are made as when no other is given. */
const FAKE_ADMIN: Requester = { name: 'system:admin', groups: ['system:masters', 'system:authenticated'] };

interface HistoryEntry {
  rv: number;
  res: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: KubeObject;
  old?: KubeObject;
}

interface Watcher {
  res: string;
  /** Queues the event this change means for this watcher's selection, if any. */
  deliver(type: HistoryEntry['type'], obj: KubeObject, old: KubeObject | undefined): void;
  /** Queues an event as is (bookmarks). */
  push(event: WatchEvent): void;
  end(err?: Error): void;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete']);
const copy = <T>(v: T): T => structuredClone(v);
const resKey = (ref: ResourceRef) => `${ref.group}/${ref.plural}`;

/** The in-memory ApiClient. */
export class FakeApiClient implements ApiClient {
  /** Every write served, in order. */
  readonly actions: FakeAction[] = [];
  private readonly reactors: Reactor[] = [];
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly refs = new Map<string, ResourceRef>();
  private history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private rv = 1;
  private compactedRV = 0;
  readonly clock: Clock;
  private readonly user: Requester;

  constructor(options: FakeApiClientOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.user = options.user ?? FAKE_ADMIN;
    this.seed(...(options.objects ?? []));
  }

  /** Adds objects directly, as if they had always existed: no actions recorded, but watchers are told. */
  seed(...objects: KubeObject[]): void {
    for (const o of objects) {
      if (!o.apiVersion || !o.kind) throw new Error(`seeded object ${objectKey(o)} needs apiVersion and kind`);
      const ref = this.ref({ apiVersion: o.apiVersion, kind: o.kind });
      const obj = copy(o);
      this.fillCreateMeta(ref, obj);
      obj.metadata.resourceVersion = String(++this.rv);
      const old = this.bucket(ref).get(objectKey(obj));
      this.bucket(ref).set(objectKey(obj), obj);
      this.record(ref, old ? 'MODIFIED' : 'ADDED', obj, old);
    }
  }

  /** Runs `reactor` before every request, ahead of earlier reactors. */
  prependReactor(reactor: Reactor): void {
    this.reactors.unshift(reactor);
  }

  /** Forgets the recorded actions (e.g. after seeding through the API). */
  clearActions(): void {
    this.actions.length = 0;
  }

  /** The writes of one verb (and resource), for short assertions. */
  actionsOf(verb: FakeAction['verb'], resource?: string): FakeAction[] {
    return this.actions.filter((a) => a.verb === verb && (!resource || a.resource === resource));
  }

  /** A copy of a stored object, or undefined: for assertions without going through actions. */
  peek<T extends KubeObject = KubeObject>(target: ResourceTarget, namespace: string | undefined, name: string): T | undefined {
    const ref = this.ref(target);
    const o = this.bucket(ref).get(ref.namespaced ? `${namespace}/${name}` : name);
    return o ? (copy(o) as T) : undefined;
  }

  /** Copies of every stored object of a resource. */
  peekAll<T extends KubeObject = KubeObject>(target: ResourceTarget): T[] {
    return [...this.bucket(this.ref(target)).values()].map((o) => copy(o) as T);
  }

  /** The current resourceVersion (the last one handed out). */
  currentResourceVersion(): string {
    return String(this.rv);
  }

  /** Number of open watch streams. */
  openWatches(): number {
    return this.watchers.size;
  }

  /** Ends every open watch as a dropped connection would; clients resume from their last resourceVersion. */
  dropWatches(): void {
    for (const w of [...this.watchers]) w.end();
  }

  /**
   * Forgets history up to now, like etcd compaction: open watches get an
   * ERROR 410 and watches from older versions are refused with 410.
   */
  compact(): void {
    this.compactedRV = this.rv;
    this.history = [];
    for (const w of [...this.watchers]) w.end(gone(`too old resource version: compacted to ${this.rv}`));
  }

  /** Sends a BOOKMARK with the current resourceVersion to every open watch. */
  bookmark(): void {
    for (const w of this.watchers) {
      const ref = this.refs.get(w.res)!;
      w.push({ type: 'BOOKMARK', object: { apiVersion: groupVersion(ref), kind: ref.kind, metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  resource<T extends KubeObject = KubeObject>(target: ResourceTarget): ResourceClient<T> {
    return new FakeResourceClient<T>(this, this.ref(target));
  }

  async bind(namespace: string, podName: string, nodeName: string): Promise<void> {
    const ref = this.ref({ apiVersion: 'v1', kind: 'Pod' });
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: podName, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } };
    this.act({ verb: 'create', resource: 'pods', subresource: 'binding', namespace, name: podName, object: binding });
    const cur = this.mustGet(ref, namespace, podName);
    this.commit(ref, copy(bindPod(cur, nodeName, undefined, this.now())), cur);
  }

  // ------------------------------------------------------------ internals used by FakeResourceClient

  /** @internal */
  act(action: FakeAction): void {
    if (WRITE_VERBS.has(action.verb)) this.actions.push({ ...action, object: action.object === undefined ? undefined : copy(action.object) });
    for (const r of this.reactors) r(action);
  }

  /** @internal */
  ref(target: ResourceTarget): ResourceRef {
    const ref = resolveResource(target);
    this.refs.set(resKey(ref), ref);
    return ref;
  }

  /** @internal */
  bucket(ref: ResourceRef): Map<string, KubeObject> {
    let b = this.objects.get(resKey(ref));
    if (!b) {
      b = new Map();
      this.objects.set(resKey(ref), b);
    }
    return b;
  }

  /** @internal */
  mustGet(ref: ResourceRef, namespace: string | undefined, name: string): KubeObject {
    const o = this.bucket(ref).get(ref.namespaced ? `${namespace ?? 'default'}/${name}` : name);
    if (!o) throw notFound(ref.plural, name, ref.group || undefined);
    return o;
  }

  /** The fake clock's now as a Kubernetes timestamp. */
  private now(): string {
    return nowTimestamp(new Date(this.clock.now()));
  }

  /** @internal The registry entry (strategy) of a resource; undefined for a ref the registry does not know. */
  info(ref: ResourceRef): ResourceInfo | undefined {
    const info = resourceForKind(groupVersion(ref), ref.kind);
    return info && info.plural === ref.plural ? info : undefined;
  }

  /** Seeded objects keep what they carry (uid, generation, status), as if they had always existed; only what is missing is filled in. */
  private fillCreateMeta(ref: ResourceRef, obj: KubeObject): void {
    obj.apiVersion ??= groupVersion(ref);
    obj.kind ??= ref.kind;
    obj.metadata ??= {};
    if (ref.namespaced) obj.metadata.namespace ??= 'default';
    else delete obj.metadata.namespace;
    obj.metadata = { ...completeObjectMetaForCreate(obj.metadata, this.now()), ...obj.metadata };
    if (!obj.metadata.name) throw badRequest('name or generateName is required');
  }

  /** @internal Creates a new object through its kind's strategy (prepareCreate), as the apiserver does. */
  create(ref: ResourceRef, input: KubeObject): KubeObject {
    const obj = copy(input);
    obj.apiVersion ??= groupVersion(ref);
    obj.kind ??= ref.kind;
    obj.metadata ??= {};
    if (ref.namespaced) obj.metadata.namespace ??= 'default';
    else delete obj.metadata.namespace;
    const info = this.info(ref);
    if (info) prepareCreate(info, obj, this.user);
    obj.metadata = completeObjectMetaForCreate(obj.metadata, this.now());
    if (!obj.metadata.name) throw badRequest('name or generateName is required');
    const key = objectKey(obj);
    if (this.bucket(ref).has(key)) throw alreadyExists(ref.plural, obj.metadata.name!, ref.group || undefined);
    obj.metadata.resourceVersion = String(++this.rv);
    this.bucket(ref).set(key, obj);
    this.record(ref, 'ADDED', obj);
    return copy(obj);
  }

  /** @internal Writes `next` over `cur` (already checked), bumping resourceVersion and generation. */
  commit(ref: ResourceRef, next: KubeObject, cur: KubeObject): KubeObject {
    next.metadata.name = cur.metadata.name;
    if (ref.namespaced) next.metadata.namespace = cur.metadata.namespace;
    prepareObjectMetaForUpdate(next, cur);
    next.metadata.resourceVersion = String(++this.rv);
    const key = objectKey(next);
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) {
      // The last finalizer went: the object is really deleted now.
      this.bucket(ref).delete(key);
      this.record(ref, 'DELETED', next, cur);
      return copy(next);
    }
    this.bucket(ref).set(key, next);
    this.record(ref, 'MODIFIED', next, cur);
    return copy(next);
  }

  /** @internal */
  checkRV(ref: ResourceRef, cur: KubeObject, wanted: string | undefined): void {
    if (wanted && wanted !== cur.metadata.resourceVersion) {
      throw conflict(ref.plural, cur.metadata.name ?? '', 'the object has been modified; please apply your changes to the latest version and try again', ref.group || undefined);
    }
  }

  /** @internal */
  remove(ref: ResourceRef, cur: KubeObject, options?: DeleteOptions): KubeObject {
    const pre = options?.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) throw conflict(ref.plural, cur.metadata.name ?? '', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`, ref.group || undefined);
    this.checkRV(ref, cur, pre?.resourceVersion);
    if (cur.metadata.finalizers?.length) {
      if (cur.metadata.deletionTimestamp) return copy(cur);
      const next = copy(cur);
      markForDeletion(next.metadata, this.now(), 0);
      next.metadata.resourceVersion = String(++this.rv);
      this.bucket(ref).set(objectKey(next), next);
      this.record(ref, 'MODIFIED', next, cur);
      return copy(next);
    }
    const final = copy(cur);
    final.metadata.resourceVersion = String(++this.rv);
    this.bucket(ref).delete(objectKey(cur));
    this.record(ref, 'DELETED', final, cur);
    return copy(final);
  }

  /** @internal */
  list(ref: ResourceRef, namespace: string | undefined, options: ListOptions): KubeList<KubeObject> {
    const match = this.matcher(ref, namespace, options.labelSelector, options.fieldSelector);
    const all = [...this.bucket(ref).entries()].filter(([, o]) => match(o)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let start = 0;
    if (options.continue) {
      let token: { after: string; rv: number };
      try {
        token = JSON.parse(Buffer.from(options.continue, 'base64url').toString('utf8')) as { after: string; rv: number };
      } catch {
        throw badRequest('invalid continue token');
      }
      if (token.rv <= this.compactedRV) throw gone('The provided continue parameter is too old to display a consistent list result.');
      start = all.findIndex(([k]) => k > token.after);
      if (start < 0) start = all.length;
    }
    const limit = options.limit && options.limit > 0 ? options.limit : all.length;
    const page = all.slice(start, start + limit);
    const more = start + limit < all.length;
    const metadata: KubeList['metadata'] = { resourceVersion: String(this.rv) };
    if (more) metadata.continue = Buffer.from(JSON.stringify({ after: page[page.length - 1]![0], rv: this.rv })).toString('base64url');
    return { apiVersion: groupVersion(ref), kind: `${ref.kind}List`, metadata, items: page.map(([, o]) => copy(o)) };
  }

  /** @internal */
  async *watch(ref: ResourceRef, namespace: string | undefined, options: WatchOptions): AsyncGenerator<WatchEvent> {
    const match = this.matcher(ref, namespace, options.labelSelector, options.fieldSelector);
    const queue: WatchEvent[] = [];
    let ended = false;
    let endError: Error | undefined;
    let wake: (() => void) | undefined;
    const res = resKey(ref);
    const deliver = (type: HistoryEntry['type'], obj: KubeObject, old: KubeObject | undefined) => {
      // Like the apiserver: an object moving out of the selection is DELETED for this watcher.
      const now = type !== 'DELETED' && match(obj);
      const before = old !== undefined && match(old);
      let t: WatchEvent['type'] | undefined;
      if (type === 'DELETED') t = before || match(obj) ? 'DELETED' : undefined;
      else if (now) t = before ? 'MODIFIED' : 'ADDED';
      else if (before) t = 'DELETED';
      if (t) queue.push({ type: t, object: copy(obj) });
    };
    const watcher: Watcher = {
      res,
      deliver: (type, obj, old) => {
        deliver(type, obj, old);
        wake?.();
      },
      push: (e) => {
        queue.push(e);
        wake?.();
      },
      end: (err) => {
        ended = true;
        endError = err;
        wake?.();
      },
    };
    const rv = options.resourceVersion;
    if (rv && rv !== '0') {
      const from = Number(rv);
      if (!Number.isFinite(from)) throw badRequest(`invalid resourceVersion "${rv}"`);
      if (from < this.compactedRV) throw gone(`too old resource version: ${from} (${this.compactedRV})`);
      for (const h of this.history) if (h.res === res && h.rv > from) deliver(h.type, h.obj, h.old);
    } else {
      for (const o of [...this.bucket(ref).values()].sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))) {
        if (match(o)) queue.push({ type: 'ADDED', object: copy(o) });
      }
    }
    this.watchers.add(watcher);
    const forget = options.signal ? onAbort(options.signal, () => watcher.end()) : undefined;
    try {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (ended || options.signal?.aborted) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (endError) throw endError;
    } finally {
      this.watchers.delete(watcher);
      forget?.();
    }
  }

  private record(ref: ResourceRef, type: HistoryEntry['type'], obj: KubeObject, old?: KubeObject): void {
    const entry: HistoryEntry = { rv: Number(obj.metadata.resourceVersion), res: resKey(ref), type, obj: copy(obj), old: old && copy(old) };
    this.history.push(entry);
    for (const w of this.watchers) if (w.res === entry.res) w.deliver(entry.type, entry.obj, entry.old);
  }

  private matcher(ref: ResourceRef, namespace: string | undefined, labelSelector?: string, fieldSelector?: string): (o: KubeObject) => boolean {
    const labels = labelSelector ? parseLabelSelector(labelSelector) : undefined;
    const fields = fieldSelector ? parseFieldSelector(fieldSelector) : undefined;
    const fieldsOf =
      ref.fieldLabels ??
      ((o: KubeObject) => ({ 'metadata.name': o.metadata.name ?? '', 'metadata.namespace': o.metadata.namespace ?? '' }));
    return (o) =>
      (!ref.namespaced || !namespace || o.metadata.namespace === namespace) &&
      (!labels || labels.matches(o.metadata.labels)) &&
      (!fields || fields.matches(fieldsOf(o)));
  }
}

/** The per-resource view of a FakeApiClient. */
class FakeResourceClient<T extends KubeObject> implements ResourceClient<T> {
  constructor(
    private readonly fake: FakeApiClient,
    readonly resource: ResourceRef,
  ) {}

  private ns(namespace: string | undefined): string | undefined {
    return this.resource.namespaced ? namespace : undefined;
  }

  async get(namespace: string | undefined, name: string, options: GetOptions = {}): Promise<T> {
    this.fake.act({ verb: 'get', resource: this.resource.plural, namespace: this.ns(namespace), name, resourceVersion: options.resourceVersion });
    return copy(this.fake.mustGet(this.resource, namespace, name)) as T;
  }

  async list(namespace?: string, options: ListOptions = {}): Promise<KubeList<T>> {
    this.fake.act({ verb: 'list', resource: this.resource.plural, namespace: this.ns(namespace) });
    return this.fake.list(this.resource, this.ns(namespace), options) as KubeList<T>;
  }

  async create(obj: T): Promise<T> {
    const namespace = this.resource.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
    this.fake.act({ verb: 'create', resource: this.resource.plural, namespace, name: obj.metadata?.name, object: obj });
    return this.fake.create(this.resource, obj) as T;
  }

  async update(obj: T): Promise<T> {
    const { namespace, name } = this.where(obj);
    this.fake.act({ verb: 'update', resource: this.resource.plural, namespace, name, object: obj });
    const cur = this.fake.mustGet(this.resource, namespace, name);
    this.fake.checkRV(this.resource, cur, obj.metadata.resourceVersion);
    return this.fake.commit(this.resource, this.prepare(copy(obj), cur, undefined), cur) as T;
  }

  async updateStatus(obj: T): Promise<T> {
    const { namespace, name } = this.where(obj);
    this.fake.act({ verb: 'update', resource: this.resource.plural, subresource: 'status', namespace, name, object: obj });
    const cur = this.fake.mustGet(this.resource, namespace, name);
    this.fake.checkRV(this.resource, cur, obj.metadata.resourceVersion);
    return this.fake.commit(this.resource, this.prepare(copy(obj), cur, 'status'), cur) as T;
  }

  async patch(namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge'): Promise<T> {
    this.fake.act({ verb: 'patch', resource: this.resource.plural, namespace: this.ns(namespace), name, object: patch, patchType: type });
    return this.applyPatch(namespace, name, patch, type, false);
  }

  async patchStatus(namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge'): Promise<T> {
    this.fake.act({ verb: 'patch', resource: this.resource.plural, subresource: 'status', namespace: this.ns(namespace), name, object: patch, patchType: type });
    return this.applyPatch(namespace, name, patch, type, true);
  }

  async delete(namespace: string | undefined, name: string, options?: DeleteOptions): Promise<T | undefined> {
    this.fake.act({ verb: 'delete', resource: this.resource.plural, namespace: this.ns(namespace), name, object: options });
    const cur = this.fake.mustGet(this.resource, namespace, name);
    return this.fake.remove(this.resource, cur, options) as T;
  }

  watch(namespace?: string, options: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    this.fake.act({ verb: 'watch', resource: this.resource.plural, namespace: this.ns(namespace) });
    return this.fake.watch(this.resource, this.ns(namespace), options) as AsyncIterable<WatchEvent<T>>;
  }

  async getScale(namespace: string, name: string): Promise<Scale> {
    this.fake.act({ verb: 'get', resource: this.resource.plural, subresource: 'scale', namespace, name });
    return toScale(this.fake.mustGet(this.resource, namespace, name)) as Scale;
  }

  async updateScale(namespace: string, name: string, scale: Scale): Promise<Scale> {
    this.fake.act({ verb: 'update', resource: this.resource.plural, subresource: 'scale', namespace, name, object: scale });
    const cur = this.fake.mustGet(this.resource, namespace, name);
    this.fake.checkRV(this.resource, cur, scale.metadata?.resourceVersion);
    const next = this.prepare(fromScale(cur, scale), cur, 'scale');
    return toScale(this.fake.commit(this.resource, next, cur)) as Scale;
  }

  private applyPatch(namespace: string | undefined, name: string, patch: unknown, type: PatchType, status: boolean): T {
    const cur = this.fake.mustGet(this.resource, namespace, name);
    // Strategic merge is approximated by a merge patch: lists are replaced, not merged by key.
    const patched = (type === 'json' ? applyJsonPatch(cur, patch) : applyMergePatch(cur, patch)) as KubeObject;
    if (!patched || typeof patched !== 'object' || !patched.metadata) throw badRequest('the patch removed metadata');
    this.fake.checkRV(this.resource, cur, patched.metadata.resourceVersion !== cur.metadata.resourceVersion ? patched.metadata.resourceVersion : undefined);
    return this.fake.commit(this.resource, this.prepare(patched, cur, status ? 'status' : undefined), cur) as T;
  }

  /**
   * The object a write stores: the kind's prepareForUpdate, as the apiserver
   * (the object keeps the stored status, `/status` changes only status). A
   * resource the registry does not know is taken to have a status subresource.
   */
  private prepare(desired: KubeObject, cur: KubeObject, subresource: 'status' | 'scale' | undefined): KubeObject {
    const info = this.fake.info(this.resource);
    if (info) return copy(info.prepareForUpdate(desired, cur, subresource));
    if (subresource === 'status') return copy(withStatusOf(cur, desired));
    desired.status = copy(cur.status);
    return desired;
  }

  private where(obj: T): { namespace: string | undefined; name: string } {
    const name = obj.metadata?.name;
    if (!name) throw badRequest('metadata.name is required');
    return { namespace: this.resource.namespaced ? (obj.metadata.namespace ?? 'default') : undefined, name };
  }
}

