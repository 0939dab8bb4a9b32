import type { DeleteOptions, KubeObject } from '@flotilla/api';

/** Options of a list. */
export interface StoreListOptions {
  /** At most this many items; a `continue` token is returned when more remain. */
  limit?: number;
  /** Token from a previous page: the list resumes at the same revision. */
  continue?: string;
  /** Only objects for which this is true are returned (label/field selectors). */
  predicate?: (obj: KubeObject) => boolean;
  /**
   * Only the items' JSON is wanted (an answer sent as it is): a store may then
   * return `json` instead of `items` and skip decoding each object. Ignored
   * with a predicate, which needs the objects.
   */
  jsonOnly?: boolean;
  /**
   * Any recent state will do (Kubernetes' resourceVersion=0): a store with a
   * read cache answers a first page from it without asking etcd for its
   * revision, and waits for the cache's load rather than reading etcd beside
   * it. For a process's own full list of a resource the cache holds anyway:
   * read from etcd at a restart, 150,000 pods were half a gigabyte more.
   */
  fromCache?: boolean;
}

/** A page of a list, consistent at one revision. */
export interface StoreListResult {
  /** The objects (empty when `json` is set). */
  items: KubeObject[];
  /** With `jsonOnly`, when the store honoured it: each item's JSON, resourceVersion included, in key order. */
  json?: string[];
  /** The etcd revision the list was read at. */
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A change seen by a watch. DELETED carries the last state, stamped with the deletion revision. */
export interface StoreWatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

/** A watch's events, and how far it has got. */
export interface StoreWatch extends AsyncIterable<StoreWatchEvent> {
  /**
   * The revision up to which this watcher has been handed every event it
   * will ever get, the changes it filtered out included: what a BOOKMARK
   * may carry. It moves on with the resource's changes in other namespaces
   * or outside a selector, so a client that resumes from it is not sent
   * back into history the store no longer holds in memory. undefined until
   * the watch has started (or where the store cannot tell).
   */
  progress?(): string | undefined;
}

/**
 * An equality the predicate implies (`spec.nodeName=node-7`), so the store
 * can hand a change only to the watchers whose value it has, or had, rather
 * than run every watcher's predicate on it: Kubernetes' watch cache indexes
 * pods by spec.nodeName for the same reason (5,000 kubelets each watching
 * their own pods would otherwise cost 5,000 predicate calls per pod event).
 */
export interface StoreWatchIndex {
  /** Names the value function: watchers with the same name share one bucket map, so the function must be the same. */
  name: string;
  /** The value this watcher's predicate requires. */
  value: string;
  /** The value of an object. */
  valueOf: (obj: KubeObject) => string;
}

/** Options of a watch. */
export interface StoreWatchOptions {
  /** Deliver every change after this revision; '' or '0' means "from now". */
  resourceVersion?: string;
  predicate?: (obj: KubeObject) => boolean;
  /** Set only when `predicate` never matches an object whose `index.valueOf` differs from `index.value`. */
  index?: StoreWatchIndex;
  signal?: AbortSignal;
}

/** The result of a delete: the object is gone, or only marked (finalizers, grace period). */
export interface StoreDeleteResult {
  object: KubeObject;
  deleted: boolean;
}

/** Options of Storage.update. */
export interface StoreUpdateOptions {
  /**
   * The object at `obj`'s resourceVersion as this store gave it, deep-frozen
   * (so surely as it was read): the update compares with it instead of
   * decoding the stored value a second time. Ignored unless frozen and at the
   * revision being replaced.
   */
  current?: KubeObject;
}

/** Options of Storage.guaranteedUpdate. */
export interface GuaranteedUpdateOptions {
  /**
   * `mutate` gets the current object deep-frozen and returns a new one
   * (copying what it changes): the write then compares with that object
   * instead of decoding it again (see StoreUpdateOptions.current).
   */
  frozen?: boolean;
}

/**
 * The store of record. Keys are `/<prefix>/<resource>/<namespace>/<name>`
 * (cluster-scoped: no namespace segment). `metadata.resourceVersion` is the
 * etcd mod revision. Failures are ApiErrors: NotFound, AlreadyExists,
 * Conflict, Gone, ServiceUnavailable.
 */
export interface Storage {
  /**
   * Stores a new object; fills in name (from generateName), uid, creationTimestamp, generation, resourceVersion.
   * The result may share parts with `obj`: the caller hands it over (and does not change it after).
   */
  create(resource: string, obj: KubeObject): Promise<KubeObject>;
  get(resource: string, namespace: string | undefined, name: string): Promise<KubeObject>;
  /**
   * The object from an in-memory copy, without asking the backend: it may lag
   * writes made elsewhere (never this instance's own acknowledged writes of the same object), so
   * use it only where a stale answer is acceptable, as Kubernetes' admission
   * reads its listers. undefined when the copy does not hold it or cannot
   * tell: confirm with get() before concluding anything from that.
   */
  getCached?(resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /**
   * getCached without a private copy: the same deep-frozen object for every
   * caller until the stored object changes, so a check that only reads it
   * (does the namespace exist and accept creates?) decodes nothing per call,
   * as Kubernetes' listers hand out shared objects. Never change it.
   */
  getCachedShared?(resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /**
   * A list from the same in-memory copy as getCached, at whatever revision it
   * has reached: it may lag writes made elsewhere, never this instance's own
   * acknowledged writes of the resource. For admission lookups that accept
   * that (the default PriorityClass), as Kubernetes' admission reads its
   * listers: never waits, never reads the backend. undefined when the copy
   * cannot answer (not loaded, or behind this instance's writes): use list().
   */
  listCached?(resource: string, namespace: string | undefined, predicate?: (obj: KubeObject) => boolean): KubeObject[] | undefined;
  /**
   * Replaces an object. When `obj.metadata.resourceVersion` is set it must
   * equal the stored one (compare-and-swap), otherwise 409 Conflict.
   * Bumps `metadata.generation` when anything but metadata and status changed.
   * An object with a deletionTimestamp whose finalizers become empty is deleted.
   * The result may share parts with `obj`: the caller hands it over (and does not change it after).
   */
  update(resource: string, obj: KubeObject, options?: StoreUpdateOptions): Promise<KubeObject>;
  /**
   * Read-modify-write that retries on conflict; `mutate` gets a private copy,
   * or with `frozen` a deep-frozen one it must copy what it changes from.
   */
  guaranteedUpdate(
    resource: string,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => KubeObject | Promise<KubeObject>,
    options?: GuaranteedUpdateOptions,
  ): Promise<KubeObject>;
  /**
   * Deletes, honouring preconditions. With finalizers, or a grace period > 0,
   * the object is only marked (deletionTimestamp) and stays until they are done.
   */
  delete(resource: string, namespace: string | undefined, name: string, options?: DeleteOptions): Promise<StoreDeleteResult>;
  /** Lists one namespace, or all when namespace is undefined, at one revision. */
  list(resource: string, namespace: string | undefined, options?: StoreListOptions): Promise<StoreListResult>;
  /** Streams changes after a revision; throws Gone (410) if it was compacted. */
  watch(resource: string, namespace: string | undefined, options?: StoreWatchOptions): StoreWatch;
  /** The current revision of the store. */
  currentRevision(): Promise<string>;
  close(): Promise<void>;
}
