/**
 * One serialisation per object version. The JSON written to etcd is also the
 * JSON of every answer and watch event about that version: only
 * `metadata.resourceVersion` (etcd's mod revision, never stored) is spliced
 * in, so a create's response and the watch events of 1,000 watchers cost no
 * JSON.stringify of their own.
 */
import type { KubeObject } from '@flotilla/api';

/**
 * The JSON of an object as the store returned it (see encodedJson): a
 * non-enumerable symbol property of the object itself, which spreads,
 * Object.assign, structuredClone and JSON.stringify all leave out. It was a
 * WeakMap of every such object: at 150,000 pods, its table (live objects,
 * and dead ones a scavenge had promoted) was rehashed on the event loop for
 * 80-250 ms at a time, in half of the apiserver's longest stalls, and every
 * major GC had to trace it as ephemerons.
 */
const REMEMBERED = Symbol('flotilla.storedJson');

/** What an object carries under REMEMBERED: its JSON, and lines built from it (see encodedLines). Not frozen with the object. */
interface Remembered {
  json: string;
  lines?: Map<string, Buffer>;
}

/**
 * The stored form: apiVersion, kind and metadata first (so the revision can be
 * spliced in at a known place), without resourceVersion.
 */
export function encodeStored(obj: KubeObject): string {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  // Undefined apiVersion/kind are left out by JSON.stringify; later keys keep these positions.
  const ordered: Record<string, unknown> = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: undefined };
  Object.assign(ordered, obj);
  ordered.metadata = metadata;
  return JSON.stringify(ordered);
}

/**
 * `stored` (the JSON of `obj` without its resourceVersion, as encodeStored
 * writes it) with `"resourceVersion":"<rev>"` spliced into metadata; undefined
 * when `stored` does not start the way encodeStored starts (written by
 * someone else, or without apiVersion and kind), so the caller encodes afresh.
 */
export function spliceRevision(stored: string, obj: Pick<KubeObject, 'apiVersion' | 'kind'>, rev: string | number): string | undefined {
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return undefined;
  const head = `{"apiVersion":${JSON.stringify(obj.apiVersion)},"kind":${JSON.stringify(obj.kind)},"metadata":{`;
  if (!stored.startsWith(head)) return undefined;
  const sep = stored.charCodeAt(head.length) === 0x7d /* } */ ? '' : ',';
  return `${head}"resourceVersion":${JSON.stringify(String(rev))}${sep}${stored.slice(head.length)}`;
}

// The start encodeStored writes: apiVersion and kind (plain strings), then metadata.
const STORED_HEAD = /^\{"apiVersion":"[^"\\]*","kind":"[^"\\]*","metadata":\{/;

/**
 * spliceRevision without the object: `stored` with its resourceVersion spliced
 * in, when it starts as encodeStored writes it (checked on the text alone);
 * undefined otherwise, so the caller decodes it instead.
 */
export function spliceRevisionText(stored: string, rev: string | number): string | undefined {
  const head = STORED_HEAD.exec(stored);
  if (!head) return undefined;
  const at = head[0].length;
  const sep = stored.charCodeAt(at) === 0x7d /* } */ ? '' : ',';
  return `${stored.slice(0, at)}"resourceVersion":${JSON.stringify(String(rev))}${sep}${stored.slice(at)}`;
}

/** Records that `text` is the JSON of `obj` (as it is now); returns obj. `obj` must not be frozen yet. */
export function rememberJson<T extends object>(obj: T, text: string | undefined): T {
  if (text !== undefined) Object.defineProperty(obj, REMEMBERED, { value: { json: text } satisfies Remembered, writable: true, configurable: true });
  return obj;
}

/**
 * The JSON of an object returned by the store (get, list, create, update) or
 * yielded by a watch, when the store still has the text it was decoded from:
 * equal (up to key order) to `JSON.stringify(obj)`. Only valid while the
 * object is unchanged: a caller that changes a private copy must encode it
 * itself. undefined when unknown.
 */
export function encodedJson(obj: object): string | undefined {
  return (obj as { [REMEMBERED]?: Remembered })[REMEMBERED]?.json;
}

/**
 * A place to keep what is built from an object's stored JSON (the watch
 * lines of each event type), which lives and dies with the object, even a
 * frozen one; undefined when the object has no stored JSON.
 */
export function encodedLines(obj: object): Map<string, Buffer> | undefined {
  const r = (obj as { [REMEMBERED]?: Remembered })[REMEMBERED];
  return r ? (r.lines ??= new Map()) : undefined;
}
