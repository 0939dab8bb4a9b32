/**
 * The three patch formats Kubernetes accepts on PATCH: JSON merge patch
 * (RFC 7386), JSON patch (RFC 6902) and strategic merge patch, the one
 * `kubectl apply` and `kubectl edit` send for built-in types.
 */
import { ApiError, badRequest } from '@flotilla/api';

/** The media types of PATCH bodies. */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** One of the patch formats. */
export type PatchType = 'json' | 'merge' | 'strategic';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (structuredClone(v) as T));

/** Own-property read: a key like `__proto__` must never reach the prototype chain. */
const own = (o: JsonObject, k: string): Json | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);

/** Own-property write, safe for `__proto__` (defines a plain data property instead of changing the prototype). */
function put(o: JsonObject, k: string, v: Json): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** A patch that cannot be applied to this object: 422, like Kubernetes. */
function patchFailed(message: string): ApiError {
  return new ApiError('Invalid', `the server rejected our request due to an error in our request: ${message}`);
}

/** Applies a patch of the given type; the original is not modified. */
export function applyPatch(type: PatchType, original: unknown, patch: unknown): unknown {
  switch (type) {
    case 'merge':
      if (!isObject(patch)) throw badRequest('a merge patch must be a JSON object');
      return mergePatch(clone(original) as Json, patch);
    case 'strategic':
      if (!isObject(patch)) throw badRequest('a strategic merge patch must be a JSON object');
      return strategicMerge(clone(original) as Json, patch, '');
    case 'json':
      return jsonPatch(clone(original) as Json, patch);
  }
}

// ------------------------------------------------------------ merge patch

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else put(out, k, mergePatch(own(out, k), v));
  }
  return out;
}

// ------------------------------------------------------------- JSON patch

function parsePointer(path: unknown): string[] {
  if (typeof path !== 'string') throw badRequest('json patch: path must be a string');
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`json patch: invalid path "${path}"`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, path: string): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw patchFailed(`json patch: invalid array index "${token}" in "${path}"`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw patchFailed(`json patch: index ${i} out of range in "${path}"`);
  return i;
}

/** The parent container of a pointer and the last token. */
function locate(doc: Json, tokens: string[], path: string): { parent: Json; last: string } {
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, path)]!;
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]!;
    else throw patchFailed(`json patch: path "${path}" does not exist`);
  }
  return { parent: cur, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return doc;
  const { parent, last } = locate(doc, tokens, path);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false, path)]!;
  if (isObject(parent) && Object.hasOwn(parent, last)) return parent[last]!;
  throw patchFailed(`json patch: path "${path}" does not exist`);
}

function addAt(doc: Json, path: string, value: Json): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const { parent, last } = locate(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, path), 0, value);
  else if (isObject(parent)) put(parent, last, value);
  else throw patchFailed(`json patch: cannot add at "${path}"`);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) throw patchFailed('json patch: cannot remove the whole document');
  const { parent, last } = locate(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false, path), 1);
  else if (isObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
  else throw patchFailed(`json patch: path "${path}" does not exist`);
  return doc;
}

function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]!));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k]!, b[k]!));
  }
  return false;
}

/** RFC 6902, including `test`; operations apply in order and all-or-nothing. */
export function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest('a json patch must be a JSON array of operations');
  let out = doc;
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string') throw badRequest('json patch: every operation needs an "op"');
    const path = op.path as string;
    const needValue = () => {
      if (!Object.hasOwn(op, 'value')) throw badRequest(`json patch: "${op.op}" needs a value`);
      return clone(op.value!);
    };
    switch (op.op) {
      case 'add':
        out = addAt(out, path, needValue());
        break;
      case 'remove':
        out = removeAt(out, path);
        break;
      case 'replace':
        getAt(out, path);
        out = parsePointer(path).length === 0 ? needValue() : addAt(removeAt(out, path), path, needValue());
        break;
      case 'move': {
        const from = op.from as string;
        if (typeof from !== 'string') throw badRequest('json patch: move needs "from"');
        if (typeof path === 'string' && path.startsWith(from + '/')) throw patchFailed('json patch: cannot move a value into itself');
        const v = clone(getAt(out, from));
        out = addAt(removeAt(out, from), path, v);
        break;
      }
      case 'copy': {
        const from = op.from as string;
        if (typeof from !== 'string') throw badRequest('json patch: copy needs "from"');
        out = addAt(out, path, clone(getAt(out, from)));
        break;
      }
      case 'test':
        if (!jsonEqual(getAt(out, path), needValue())) throw patchFailed(`json patch: test failed at "${path}"`);
        break;
      default:
        throw badRequest(`json patch: unknown op "${String(op.op)}"`);
    }
  }
  return out;
}

// -------------------------------------------------- strategic merge patch

// Merge keys of the built-in list fields Flotilla serves (from the Kubernetes
// type definitions' patchMergeKey tags). Lists not named here are replaced.
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  taints: 'key',
  addresses: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
};
// Lists of scalars merged as sets (patchStrategy: merge).
const MERGED_SCALAR_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  if (field === 'ports') {
    // Container ports are keyed by containerPort, service ports by port.
    return items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
  }
  return MERGE_KEYS[field];
}

function strategicMerge(target: Json | undefined, patch: Json, field: string): Json {
  if (!isObject(patch)) return clone(patch);
  const directive = patch.$patch;
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  const out: JsonObject = isObject(target) ? target : {};
  const retain = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const name = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = own(out, name);
      if (Array.isArray(cur) && Array.isArray(v)) put(out, name, cur.filter((x) => !v.some((d) => jsonEqual(d, x))));
      continue;
    }
    if (k.startsWith('$')) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    if (isObject(v) && v.$patch === 'delete') {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      put(out, k, mergeList(own(out, k), v, k));
      continue;
    }
    put(out, k, strategicMerge(own(out, k), v, k));
  }
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  void field;
  return out;
}

function mergeList(target: Json | undefined, patch: Json[], field: string): Json {
  const cur = Array.isArray(target) ? target : [];
  if (patch.some((e) => isObject(e) && e.$patch === 'replace' && Object.keys(e).length === 1)) {
    return stripDirectives(patch.filter((e) => !(isObject(e) && e.$patch === 'replace')));
  }
  if (MERGED_SCALAR_LISTS.has(field) && patch.every((e) => !isObject(e))) {
    const out = [...cur];
    for (const e of patch) if (!out.some((x) => jsonEqual(x, e))) out.push(e);
    return out;
  }
  const key = mergeKeyFor(field, [...cur, ...patch]);
  if (!key || !patch.every(isObject)) return stripDirectives(patch);
  const out = [...cur];
  for (const e of patch as JsonObject[]) {
    const kv = e[key];
    const i = out.findIndex((x) => isObject(x) && kv !== undefined && Object.hasOwn(x, key) && jsonEqual(x[key]!, kv));
    if (e.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = strategicMerge(out[i], e, field);
    else out.push(stripDirectives(e));
  }
  return out;
}

/** Removes `$…` directive keys from a value that is inserted as is. */
function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$') && x !== null) put(out, k, stripDirectives(x));
  return out;
}
