/**
 * The informer's cache: objects by `namespace/name` key plus secondary
 * indexes kept up to date on every change. Objects in it are shared with
 * every handler and controller in the process: never mutate them, deepCopy
 * first.
 */
import { objectKey, type KubeObject } from '@flotilla/api';

/** Computes the index values of an object (none, one or several). */
export type IndexFunc<T> = (obj: T) => string[];

/** Name of the namespace index. */
export const NAMESPACE_INDEX = 'namespace';
/** Name of the `spec.nodeName` index. */
export const NODE_NAME_INDEX = 'nodeName';
/** Name of the controller-ownerReference uid index. */
export const CONTROLLER_UID_INDEX = 'controllerUid';

const builtinIndexers: Record<string, IndexFunc<KubeObject>> = {
  [NAMESPACE_INDEX]: (o) => (o.metadata.namespace ? [o.metadata.namespace] : []),
  [NODE_NAME_INDEX]: (o) => {
    const n = (o as { spec?: { nodeName?: unknown } }).spec?.nodeName;
    return typeof n === 'string' && n ? [n] : [];
  },
  [CONTROLLER_UID_INDEX]: (o) => {
    const ref = o.metadata.ownerReferences?.find((r) => r.controller === true);
    return ref?.uid ? [ref.uid] : [];
  },
};

/** A read-only view of a cache. */
export interface ReadonlyStore<T extends KubeObject> {
  /** The object with key `namespace/name` (or `name` when cluster-scoped). */
  get(key: string): T | undefined;
  /** Every object. */
  list(): T[];
  /** Every key. */
  keys(): string[];
  /** Number of objects. */
  size(): number;
  /** The objects whose index `name` contains `value`. */
  byIndex(name: string, value: string): T[];
  /** How many objects index `name` holds under `value`, without building the list (for "is any?" and "how many?"). */
  countIndexed(name: string, value: string): number;
  /** The objects in one namespace. */
  byNamespace(namespace: string): T[];
  /** The objects (pods) whose `spec.nodeName` is `node`. */
  byNodeName(node: string): T[];
  /** The objects whose controller ownerReference has `uid`. */
  byControllerUid(uid: string): T[];
}

/** An indexed in-memory cache. */
export class Store<T extends KubeObject> implements ReadonlyStore<T> {
  private items = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  private indices = new Map<string, Map<string, Set<string>>>();

  constructor() {
    for (const [name, fn] of Object.entries(builtinIndexers)) this.addIndexer(name, fn as IndexFunc<T>);
  }

  /** Adds a named index; existing objects are indexed at once. */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    if (this.indexers.has(name)) throw new Error(`indexer "${name}" already exists`);
    this.indexers.set(name, fn);
    const index = new Map<string, Set<string>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.items) addToIndex(index, fn(obj), key);
  }

  /** True when an index of that name exists. */
  hasIndexer(name: string): boolean {
    return this.indexers.has(name);
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  size(): number {
    return this.items.size;
  }

  byIndex(name: string, value: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`no indexer "${name}"`);
    const keys = index.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const obj = this.items.get(k);
      if (obj) out.push(obj);
    }
    return out;
  }

  countIndexed(name: string, value: string): number {
    const index = this.indices.get(name);
    if (!index) throw new Error(`no indexer "${name}"`);
    return index.get(value)?.size ?? 0;
  }

  byNamespace(namespace: string): T[] {
    return this.byIndex(NAMESPACE_INDEX, namespace);
  }

  byNodeName(node: string): T[] {
    return this.byIndex(NODE_NAME_INDEX, node);
  }

  byControllerUid(uid: string): T[] {
    return this.byIndex(CONTROLLER_UID_INDEX, uid);
  }

  /** Inserts or replaces an object; returns the previous one. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const values = fn(obj);
      const index = this.indices.get(name)!;
      if (old) {
        // Most updates (status writes) keep every index value: then neither the sets nor the maps need touching.
        const before = fn(old);
        if (sameValues(before, values)) continue;
        removeFromIndex(index, before, key);
      }
      addToIndex(index, values, key);
    }
    return old;
  }

  /** Removes the object with `key`; returns it. */
  remove(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.unindex(key, old);
    this.items.delete(key);
    return old;
  }

  /** Replaces the whole content at once (after a relist), rebuilding every index. */
  replace(objects: Iterable<T>): void {
    const items = new Map<string, T>();
    for (const o of objects) items.set(objectKey(o), o);
    const indices = new Map<string, Map<string, Set<string>>>();
    for (const [name, fn] of this.indexers) {
      const index = new Map<string, Set<string>>();
      for (const [key, obj] of items) addToIndex(index, fn(obj), key);
      indices.set(name, index);
    }
    this.items = items;
    this.indices = indices;
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) removeFromIndex(this.indices.get(name)!, fn(obj), key);
  }
}

function sameValues(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function removeFromIndex(index: Map<string, Set<string>>, values: string[], key: string): void {
  for (const v of values) {
    const set = index.get(v);
    if (!set) continue;
    set.delete(key);
    if (set.size === 0) index.delete(v);
  }
}

function addToIndex(index: Map<string, Set<string>>, values: string[], key: string): void {
  for (const v of values) {
    let set = index.get(v);
    if (!set) {
      set = new Set();
      index.set(v, set);
    }
    set.add(key);
  }
}
