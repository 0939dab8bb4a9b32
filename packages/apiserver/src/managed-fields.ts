/**
 * Field ownership (`metadata.managedFields`), as Kubernetes'
 * structured-merge-diff keeps it: the fields of an object as a set of paths
 * (`f:spec`, `f:replicas`; list items by their list-map key,
 * `k:{"name":"web"}`; set items by value, `v:"x"`), which manager owns which,
 * and how an update moves ownership. The shape of each list and map comes
 * from the kind's field table (known-fields in @flotilla/api), the same one
 * the OpenAPI documents are generated from.
 */
import { FIELD_META, fieldSchemaFor, leafSchema, type FieldSchema, type KubeObject, type ManagedFieldsEntry, type ResourceInfo } from '@flotilla/api';

/** A path in a field set: its elements in fieldsV1 spelling, joined by a newline (which JSON never leaves raw). */
export type PathKey = string;
/** A set of paths. */
export type FieldSet = Set<PathKey>;
/** The members of an object's field set, each with its value (JSON) for comparison. */
export type FieldValues = Map<PathKey, string>;

const SEP = '\n';
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);


/** A manager and the fields it owns. */
export interface Manager {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  time?: string;
  set: FieldSet;
}

/** Who a manager is: Kubernetes tells managers apart by name, operation, subresource and (for updates) version. */
export function managerId(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify([m.manager, m.operation, m.operation === 'Update' ? m.apiVersion : '', m.subresource ?? '']);
}

/** A manager as the conflict messages name it: `"a"`, or `"b" using apps/v1` for an updater. */
export function printManager(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  let s = JSON.stringify(m.manager);
  if (m.subresource) s += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update') s += ` using ${m.apiVersion}`;
  return s;
}

// ------------------------------------------------------ walking objects

/** A node of the field table, with `true` leaves typed by name where the name says. */
function resolve(name: string, node: FieldSchema | true | undefined): FieldSchema | undefined {
  if (node === true) return leafSchema(name);
  return node;
}

/** The list-map key element of an item: `k:{"containerPort":80,"protocol":"TCP"}` (keys sorted, missing ones defaulted). */
function keyElement(item: Record<string, unknown>, keys: string[], defaults: Record<string, unknown> | undefined, index: number): string {
  const k: Record<string, unknown> = {};
  let any = false;
  for (const name of [...keys].sort()) {
    const v = item[name] ?? defaults?.[name];
    if (v !== undefined) {
      k[name] = v;
      any = true;
    }
  }
  return any ? `k:${JSON.stringify(k)}` : `i:${index}`;
}

/** Which top-level paths a write through `subresource` may own (a main-resource write never owns status, a status write only status). */
export interface Scope {
  subresource?: string;
  /** The kind has a status subresource (so the main resource does not own status). */
  hasStatus: boolean;
}

/** Fields the server owns: never in a manager's set (Kubernetes strips them the same way). */
const STRIPPED_META = new Set(['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'generation', 'managedFields', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds']);

function inScope(top: string, scope: Scope): boolean {
  if (top === 'apiVersion' || top === 'kind') return false;
  if (scope.subresource === 'status') return top === 'status';
  if (top === 'status' && scope.hasStatus) return false;
  return true;
}

/**
 * The members of an object's field set with their values: leaves, list-map
 * and set items, empty objects and the keys of free-form maps, as
 * structured-merge-diff's ToFieldSet finds them. `withValues` false maps
 * every member to '' (enough when there is nothing to compare with).
 */
export function fieldValues(info: Pick<ResourceInfo, 'group' | 'plural'>, obj: KubeObject | undefined, scope: Scope, withValues = true): FieldValues {
  const out: FieldValues = new Map();
  if (!obj) return out;
  const root = fieldSchemaFor(info);
  // Paths are built as strings (prefix + SEP + element): this runs on every write, and arrays per level cost.
  const join = (path: string, el: string) => (path ? path + SEP + el : el);
  // Without values (a create: nothing to compare with), every member maps to '' and no leaf is serialised.
  const leaf = withValues
    ? (path: string, v: unknown): void => {
        out.set(path, typeof v === 'string' ? `"${v}"` : JSON.stringify(v ?? null));
      }
    : (path: string): void => {
        out.set(path, '');
      };

  const deduced = (v: unknown, path: string): void => {
    if (isObj(v)) {
      let empty = true;
      for (const k in v) {
        empty = false;
        deduced(v[k], join(path, `f:${k}`));
      }
      if (!empty) return;
    }
    leaf(path, v);
  };

  const walk = (v: unknown, name: string, raw: FieldSchema | true | undefined, path: string): void => {
    const node = resolve(name, raw);
    if (!node) return deduced(v, path);
    const meta = node[FIELD_META];
    if (meta?.type) {
      if ((meta.type === 'string-map' || meta.type === 'quantity-map') && !meta.atomic && isObj(v) && Object.keys(v).length > 0) {
        for (const k in v) leaf(join(path, `f:${k}`), v[k]);
      } else if (meta.type === 'object') deduced(v, path);
      else leaf(path, v);
      return;
    }
    const items = node['[]'];
    if (items !== undefined) {
      const lt = meta?.listType ?? 'atomic';
      if (!Array.isArray(v) || lt === 'atomic' || v.length === 0) return leaf(path, v);
      if (lt === 'set') {
        for (const x of v) leaf(join(path, `v:${JSON.stringify(x)}`), x);
        return;
      }
      for (let i = 0; i < v.length; i++) {
        const item = v[i] as unknown;
        if (!isObj(item)) {
          leaf(join(path, `i:${i}`), item);
          continue;
        }
        const p = join(path, keyElement(item, meta?.listMapKeys ?? [], meta?.keyDefaults, i));
        if (!out.has(p)) out.set(p, '');
        walk(item, '', items, p);
      }
      return;
    }
    if (meta?.atomic || !isObj(v)) return leaf(path, v);
    let empty = true;
    for (const k in v) {
      empty = false;
      const x = v[k];
      const p = join(path, `f:${k}`);
      if (x === null || (isObj(x) && Object.keys(x).length === 0)) leaf(p, x);
      else if (node[k] === undefined) deduced(x, p);
      else walk(x, k, node[k], p);
    }
    if (empty && path) leaf(path, v);
  };

  for (const top in obj) {
    const v = (obj as Record<string, unknown>)[top];
    if (v === undefined || !inScope(top, scope)) continue;
    if (top === 'metadata' && isObj(v)) {
      const md: Record<string, unknown> = {};
      let any = false;
      for (const k in v) {
        if (STRIPPED_META.has(k) || v[k] === undefined) continue;
        md[k] = v[k];
        any = true;
      }
      if (any) walk(md, 'metadata', root?.metadata, 'f:metadata');
      continue;
    }
    walk(v, top, root?.[top], `f:${top}`);
  }
  return out;
}

/** What changed between two objects' field values. */
export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** Compares field values: paths only in `after`, in both with another value, only in `before`. */
export function compareFields(before: FieldValues, after: FieldValues): Comparison {
  const added: FieldSet = new Set();
  const modified: FieldSet = new Set();
  const removed: FieldSet = new Set();
  for (const [k, v] of after) {
    const old = before.get(k);
    if (old === undefined) added.add(k);
    else if (old !== v) modified.add(k);
  }
  for (const k of before.keys()) if (!after.has(k)) removed.add(k);
  return { added, modified, removed };
}

// ------------------------------------------------------- fieldsV1 codec

interface Trie {
  member: boolean;
  children: Map<string, Trie>;
}

/** A field set in the fieldsV1 format: `{"f:spec":{"f:replicas":{}}}`, `.` marking a member that also has children. */
export function encodeFieldsV1(set: FieldSet): Record<string, unknown> {
  // A set decoded from a stored entry and kept as it is (most managers on most writes) is stored as it was.
  const stored = storedTree.get(set);
  if (stored) return stored;
  // Objects made from one template (a ReplicaSet's pods) have the same sets: each is encoded once.
  // The members are length-prefixed so that no two sets share a signature.
  let signature = '';
  for (const key of set) signature += `${key.length}:${key}`;
  const hit = recentTrees.get(signature);
  if (hit) return hit;
  const tree = freezeTree(buildTree(set));
  if (recentTrees.size >= RECENT_TREES) recentTrees.clear();
  recentTrees.set(signature, tree);
  return tree;
}

/** Encoded trees by the signature of their set; a tree is shared by every object with that set, so it is frozen. */
const recentTrees = new Map<string, Record<string, unknown>>();
const RECENT_TREES = 512;

function freezeTree(tree: Record<string, unknown>): Record<string, unknown> {
  for (const k in tree) freezeTree(tree[k] as Record<string, unknown>);
  return Object.freeze(tree);
}

function buildTree(set: FieldSet): Record<string, unknown> {
  const root: Trie = { member: false, children: new Map() };
  for (const key of set) {
    let node = root;
    for (const el of key.split(SEP)) {
      let next = node.children.get(el);
      if (!next) node.children.set(el, (next = { member: false, children: new Map() }));
      node = next;
    }
    node.member = true;
  }
  const out = (node: Trie): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    if (node.member && node.children.size > 0) o['.'] = {};
    for (const k of [...node.children.keys()].sort()) o[k] = out(node.children.get(k)!);
    return o;
  };
  return out(root);
}

/** Decoded field sets by their fieldsV1 object: a stored object is written many times (status), its entries decoded once. Never mutated. */
const decoded = new WeakMap<object, FieldSet>();
/** The other way round: the fieldsV1 object a decoded set came from, so a set kept unchanged is not encoded again. */
const storedTree = new WeakMap<FieldSet, Record<string, unknown>>();

/** The field set a fieldsV1 tree describes. */
export function decodeFieldsV1(tree: unknown): FieldSet {
  if (!isObj(tree)) return new Set();
  const hit = decoded.get(tree);
  if (hit) return hit;
  const { set, canonical } = decodeTree(tree);
  decoded.set(tree, set);
  // Only a tree exactly as encodeFieldsV1 writes it may stand in for an encoding (a client's may be spelled otherwise).
  if (canonical) storedTree.set(set, tree);
  return set;
}

/** The set of a fieldsV1 tree, and whether the tree is spelled as encodeFieldsV1 spells that set (`.` first and only beside children, keys sorted, objects only). */
function decodeTree(tree: unknown): { set: FieldSet; canonical: boolean } {
  const set: FieldSet = new Set();
  let canonical = true;
  const walk = (node: unknown, path: string[]) => {
    if (!isObj(node)) {
      canonical = false;
      return;
    }
    const keys = Object.keys(node);
    if (path.length > 0 && keys.length === 0) set.add(path.join(SEP));
    let prev: string | undefined;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k === '.') {
        if (i !== 0 || keys.length === 1 || !isObj(node[k]) || Object.keys(node[k]).length > 0) canonical = false;
        set.add(path.join(SEP));
        continue;
      }
      if (prev !== undefined && !(prev < k)) canonical = false;
      prev = k;
      walk(node[k], [...path, k]);
    }
  };
  walk(tree, []);
  return { set, canonical };
}

/** A path as Kubernetes prints it in conflicts: `.spec.replicas`, `.spec.containers[name="web"].image`. */
export function printPath(key: PathKey): string {
  let s = '';
  for (const el of key.split(SEP)) {
    const body = el.slice(2);
    if (el.startsWith('f:')) s += `.${body}`;
    else if (el.startsWith('k:')) {
      const k = JSON.parse(body) as Record<string, unknown>;
      s += `[${Object.entries(k).map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(',')}]`;
    } else if (el.startsWith('v:')) s += `[=${body}]`;
    else s += `[${body}]`;
  }
  return s;
}

// ------------------------------------------------------------- managers

/** The managers recorded on an object (entries that cannot be read are dropped, as Kubernetes resets them). */
export function decodeManagers(obj: KubeObject | undefined): Manager[] {
  const list = (obj?.metadata as { managedFields?: unknown } | undefined)?.managedFields;
  if (!Array.isArray(list)) return [];
  const out: Manager[] = [];
  for (const e of list) {
    if (!isObj(e) || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update')) continue;
    out.push({
      manager: e.manager,
      operation: e.operation,
      apiVersion: typeof e.apiVersion === 'string' ? e.apiVersion : '',
      ...(typeof e.subresource === 'string' && e.subresource ? { subresource: e.subresource } : {}),
      ...(typeof e.time === 'string' ? { time: e.time } : {}),
      set: decodeFieldsV1(e.fieldsV1),
    });
  }
  return out;
}

/** metadata.managedFields for these managers, in Kubernetes' order (appliers first, then by time and name). */
export function encodeManagers(managers: Manager[]): ManagedFieldsEntry[] {
  const sorted = managers.filter((m) => m.set.size > 0).sort((a, b) => {
    if (a.operation !== b.operation) return a.operation < b.operation ? -1 : 1;
    const ta = a.time ?? '';
    const tb = b.time ?? '';
    if (ta !== tb) return ta < tb ? -1 : 1;
    if (a.manager !== b.manager) return a.manager < b.manager ? -1 : 1;
    return (a.subresource ?? '').localeCompare(b.subresource ?? '');
  });
  return sorted.map((m) => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: encodeFieldsV1(m.set),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
}

// The time of an entry has whole seconds: formatted once per second, not once per write.
let nowSecond = -1;
let nowText = '';
const now = (): string => {
  const ms = Date.now();
  const second = Math.floor(ms / 1000);
  if (second !== nowSecond) {
    nowSecond = second;
    nowText = new Date(second * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  }
  return nowText;
};

/**
 * Ownership after an update (create, PUT, a non-apply PATCH): the writer
 * owns what it added or changed, others lose it, nobody owns what was
 * removed. Updates never conflict. Unchanged when nothing changed.
 */
export function updateManagers(managers: Manager[], before: FieldValues, after: FieldValues, writer: Omit<Manager, 'set' | 'time'>): Manager[] {
  // A create (nothing before, no manager yet): the writer owns every member; nothing to compare or take from anyone.
  if (before.size === 0 && managers.length === 0) return after.size === 0 ? managers : [{ ...writer, time: now(), set: new Set(after.keys()) }];
  const cmp = compareFields(before, after);
  if (cmp.added.size === 0 && cmp.modified.size === 0 && cmp.removed.size === 0) return managers;
  const id = managerId(writer);
  const out: Manager[] = [];
  let mine: Manager | undefined;
  for (const m of managers) {
    if (managerId(m) === id) {
      mine = m;
      continue;
    }
    // A manager that loses nothing keeps its set (the same object, so its stored fieldsV1 is reused).
    const lost = (k: PathKey) => cmp.added.has(k) || cmp.modified.has(k) || cmp.removed.has(k);
    let loses = false;
    for (const k of m.set) if (lost(k)) { loses = true; break; }
    out.push(loses ? { ...m, set: new Set([...m.set].filter((k) => !lost(k))) } : m);
  }
  out.push({ ...writer, time: now(), set: writerSet(mine?.set, cmp) });
  return out.filter((m) => m.set.size > 0);
}

/** The writer's fields after an update: what it had, less what was removed, plus what it added or changed; its old set itself when that is the same. */
function writerSet(had: FieldSet | undefined, cmp: Comparison): FieldSet {
  if (had) {
    let same = true;
    for (const k of cmp.removed) if (had.has(k)) { same = false; break; }
    if (same) for (const k of cmp.added) if (!had.has(k)) { same = false; break; }
    if (same) for (const k of cmp.modified) if (!had.has(k)) { same = false; break; }
    if (same) return had;
  }
  const set = new Set([...(had ?? [])].filter((k) => !cmp.removed.has(k)));
  for (const k of cmp.added) set.add(k);
  for (const k of cmp.modified) set.add(k);
  return set;
}

/** The name Kubernetes records for a writer without `fieldManager`: the program name of its user agent (`kubectl/v1.32 …` → `kubectl`). */
export function managerFromUserAgent(userAgent: string | undefined): string {
  const name = (userAgent ?? '').split('/')[0]!.trim();
  return name ? name.slice(0, 128) : 'unknown';
}
