/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`), as
 * structured-merge-diff does it: the applied configuration is merged into
 * the live object (list-maps item by item, atomic lists and maps whole),
 * its field set becomes the manager's, fields the manager applied before
 * and now omits are removed unless someone else owns them, and changing a
 * field another manager owns is a conflict unless forced.
 */
import { ApiError, FIELD_META, fieldSchemaFor, invalid, leafSchema, type FieldSchema, type KubeObject, type ResourceInfo } from '@flotilla/api';
import {
  compareFields,
  decodeManagers,
  encodeManagers,
  fieldValues,
  managerId,
  printManager,
  printPath,
  type FieldSet,
  type Manager,
  type PathKey,
  type Scope,
} from './managed-fields.js';

const SEP = '\n';
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function resolve(name: string, node: FieldSchema | true | undefined): FieldSchema | undefined {
  return node === true ? leafSchema(name) : node;
}

function sameKey(a: Record<string, unknown>, b: Record<string, unknown>, keys: string[], defaults: Record<string, unknown> | undefined): boolean {
  return keys.every((k) => JSON.stringify(a[k] ?? defaults?.[k] ?? null) === JSON.stringify(b[k] ?? defaults?.[k] ?? null));
}

/** Merges an applied value into a live one by the field table; `null` in the configuration removes. */
function merge(live: unknown, config: unknown, name: string, raw: FieldSchema | true | undefined): unknown {
  if (config === undefined) return live;
  const node = resolve(name, raw);
  const meta = node?.[FIELD_META] ?? {};
  if (!node || meta.type === 'object') return isObj(live) && isObj(config) ? mergeMaps(live, config, () => undefined) : clone(config);
  if (meta.type) {
    const granular = (meta.type === 'string-map' || meta.type === 'quantity-map') && !meta.atomic;
    return granular && isObj(live) && isObj(config) ? mergeMaps(live, config, () => true) : clone(config);
  }
  const items = node['[]'];
  if (items !== undefined) {
    const lt = meta.listType ?? 'atomic';
    if (!Array.isArray(live) || !Array.isArray(config) || lt === 'atomic') return clone(config);
    if (lt === 'set') {
      const out = [...live];
      for (const x of config) if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(clone(x));
      return out;
    }
    const keys = meta.listMapKeys ?? [];
    const out = [...live];
    for (const c of config) {
      if (!isObj(c)) return clone(config);
      const i = out.findIndex((l) => isObj(l) && sameKey(l, c, keys, meta.keyDefaults));
      if (i >= 0) out[i] = merge(out[i], c, '', items);
      else out.push(clone(c));
    }
    return out;
  }
  if (meta.atomic || !isObj(live) || !isObj(config)) return clone(config);
  return mergeMaps(live, config, (k) => node[k]);
}

function mergeMaps(live: Record<string, unknown>, config: Record<string, unknown>, child: (k: string) => FieldSchema | true | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...live };
  for (const [k, v] of Object.entries(config)) {
    if (v === null) delete out[k];
    else out[k] = merge(live[k], v, k, child(k));
  }
  return out;
}

/** Removes one path from an object (a no-op when it is not there). */
function removePath(obj: unknown, elements: string[], raw: FieldSchema | true | undefined, name = ''): void {
  const node = resolve(name, raw);
  const [el, ...rest] = elements;
  if (el === undefined) return;
  if (el.startsWith('f:') && isObj(obj)) {
    const k = el.slice(2);
    if (rest.length === 0) delete obj[k];
    else removePath(obj[k], rest, node && !node[FIELD_META]?.type ? node[k] : undefined, k);
    return;
  }
  if (!Array.isArray(obj)) return;
  const meta = node?.[FIELD_META] ?? {};
  let i = -1;
  if (el.startsWith('k:')) {
    const key = JSON.parse(el.slice(2)) as Record<string, unknown>;
    i = obj.findIndex((x) => isObj(x) && sameKey(x, key, Object.keys(key), meta.keyDefaults));
  } else if (el.startsWith('v:')) i = obj.findIndex((x) => JSON.stringify(x) === el.slice(2));
  else if (el.startsWith('i:')) i = Number(el.slice(2));
  if (i < 0 || i >= obj.length) return;
  if (rest.length === 0) obj.splice(i, 1);
  else removePath(obj[i], rest, node?.['[]'], '');
}

/** Every path of a set and all their ancestors: a path may only be pruned when nothing at or below it is still owned. */
function withAncestors(sets: Iterable<FieldSet>): Set<PathKey> {
  const out = new Set<PathKey>();
  for (const set of sets) {
    for (const k of set) {
      const parts = k.split(SEP);
      for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join(SEP));
    }
  }
  return out;
}

/** One field a manager would lose to the applier. */
export interface ApplyConflict {
  manager: Manager;
  path: PathKey;
}

/** 409 as Kubernetes words it, with one cause per field naming its manager. */
export function conflictError(conflicts: ApplyConflict[]): ApiError {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c.manager)}`, field: printPath(c.path) }));
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(conflicts[0]!.manager)}: ${printPath(conflicts[0]!.path)}`;
  } else {
    const byManager = new Map<string, { m: Manager; paths: string[] }>();
    for (const c of conflicts) {
      const id = printManager(c.manager);
      const e = byManager.get(id) ?? { m: c.manager, paths: [] };
      e.paths.push(printPath(c.path));
      byManager.set(id, e);
    }
    const lines: string[] = [];
    for (const id of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${id}:`);
      for (const p of byManager.get(id)!.paths) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError('Conflict', message, { causes });
}

/** What an apply asks for. */
export interface ApplyRequest {
  info: ResourceInfo;
  /** The object as stored, or undefined when the apply creates it. */
  live: KubeObject | undefined;
  /** The applied configuration (already checked against the path). */
  config: KubeObject;
  manager: string;
  force: boolean;
  subresource?: string;
}

/**
 * The object an apply produces, with its managedFields: merged, pruned of
 * what the manager no longer applies, and with ownership moved. Throws a
 * 409 Conflict when another manager owns a field the apply changes and
 * `force` is not set.
 */
export function applyConfiguration(req: ApplyRequest): KubeObject {
  const { info, live, config, force } = req;
  const scope: Scope = { hasStatus: info.subresources.includes('status'), ...(req.subresource ? { subresource: req.subresource } : {}) };
  const root = fieldSchemaFor(info);
  const applier: Omit<Manager, 'set'> = { manager: req.manager, operation: 'Apply', apiVersion: String(config.apiVersion), ...(req.subresource ? { subresource: req.subresource } : {}) };
  const id = managerId(applier);
  const managers = decodeManagers(live);
  const configSet = new Set(fieldValues(info, config, scope, false).keys());

  const base: KubeObject = live ? clone(live) : { apiVersion: config.apiVersion, kind: config.kind, metadata: {} };
  delete (base.metadata as { managedFields?: unknown }).managedFields;
  const cfg = clone(config);
  delete (cfg.metadata as { managedFields?: unknown } | undefined)?.managedFields;
  const merged = merge(base, cfg, '', root) as KubeObject;

  // Prune: what this manager applied last time and omits now goes, unless someone still owns it (or something under it).
  const last = managers.find((m) => managerId(m) === id);
  if (last) {
    const kept = withAncestors([configSet, ...managers.filter((m) => managerId(m) !== id).map((m) => m.set)]);
    // Shallow first: a list item goes whole before its fields (which name it) are looked for.
    const gone = [...last.set].filter((k) => !configSet.has(k) && !kept.has(k)).sort((a, b) => a.split(SEP).length - b.split(SEP).length);
    for (const k of gone) removePath(merged, k.split(SEP), root);
  }

  const cmp = compareFields(fieldValues(info, live, scope), fieldValues(info, merged, scope));
  const conflicts: ApplyConflict[] = [];
  for (const m of managers) {
    if (managerId(m) === id) continue;
    for (const k of m.set) if (cmp.added.has(k) || cmp.modified.has(k)) conflicts.push({ manager: m, path: k });
  }
  if (conflicts.length > 0 && !force) {
    // kubectl's own manager may take over what it applied client-side before (its last-applied annotation), as Kubernetes allows.
    const allowed = req.manager === KUBECTL ? lastAppliedFields(info, live, scope) : undefined;
    const left = allowed ? conflicts.filter((c) => !allowed.has(c.path)) : conflicts;
    if (left.length > 0) throw conflictError(left);
  }

  const lost = new Set(conflicts.map((c) => c.path));
  const next: Manager[] = [];
  for (const m of managers) {
    if (managerId(m) === id) continue;
    const set = new Set([...m.set].filter((k) => !cmp.removed.has(k) && !(lost.has(k))));
    if (set.size > 0) next.push({ ...m, set });
  }
  next.push({ ...applier, time: now(), set: configSet });
  (merged.metadata as { managedFields?: unknown }).managedFields = encodeManagers(next);
  // kubectl's server-side apply keeps an existing last-applied annotation current, so a later client-side apply diffs against it.
  const annotations = merged.metadata.annotations;
  if (req.manager === KUBECTL && annotations?.[LAST_APPLIED] !== undefined) {
    const applied = clone(config);
    const a = { ...applied.metadata.annotations };
    delete a[LAST_APPLIED];
    if (Object.keys(a).length > 0) applied.metadata.annotations = a;
    else delete applied.metadata.annotations;
    annotations[LAST_APPLIED] = JSON.stringify(applied);
  }
  return merged;
}

/** The manager `kubectl apply --server-side` uses by default. */
const KUBECTL = 'kubectl';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The fields of the live object's last-applied annotation; undefined when there is none (or it cannot be read). */
function lastAppliedFields(info: ResourceInfo, live: KubeObject | undefined, scope: Scope): Set<PathKey> | undefined {
  const text = live?.metadata.annotations?.[LAST_APPLIED];
  if (!text) return undefined;
  try {
    const obj = JSON.parse(text) as unknown;
    return isObj(obj) ? new Set(fieldValues(info, obj as KubeObject, scope, false).keys()) : undefined;
  } catch {
    return undefined;
  }
}

/** `fieldManager`: required for apply, at most 128 printable characters; 422 otherwise, as Kubernetes. */
export function checkFieldManager(value: string | undefined, required: boolean, kind: string): void {
  if (value === undefined || value === '') {
    if (required) throw invalid('PatchOptions', '', [{ type: 'FieldValueRequired', field: 'fieldManager', message: 'is required for apply patch' }], 'meta.k8s.io');
    return;
  }
  if (value.length > 128) throw invalid(kind, '', [{ type: 'FieldValueTooLong', field: 'fieldManager', message: 'may not be more than 128 characters' }]);
  if (/[^\x20-\x7e\u00a0-\uffff]/.test(value)) throw invalid(kind, '', [{ type: 'FieldValueInvalid', field: 'fieldManager', message: 'must only contain printable characters' }]);
}
