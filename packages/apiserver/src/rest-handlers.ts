/**
 * The REST verbs on one resource: get, list, create, update, patch, delete,
 * deletecollection, and the status, scale and binding subresources. Every
 * write is decoded, checked against the path, prepared, defaulted and
 * validated by the kind's strategy (its registry entry; with the old object
 * on update) and admitted before it reaches the store. Nothing here knows a
 * kind by name: per-kind rules are the registry's, per-kind I/O the KindHooks'.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiError,
  badRequest,
  bindPod,
  completeObjectMetaForCreate,
  conflict,
  defaultAndValidate,
  fromScale,
  groupVersion,
  invalid,
  isReason,
  notFound,
  nowTimestamp,
  prepareCreate,
  prepareUpdate,
  toScale,
  unknownFields,
} from '@flotilla/api';
import type { DeleteOptions, FieldError, KubeObject, ManagedFieldsEntry, ResourceInfo } from '@flotilla/api';
import { deepFreeze, encodedJson, type Storage } from '@flotilla/store';
import type { Authorizer, RequestAttributes } from './auth/types.js';
import { applyConfiguration, checkFieldManager } from './apply.js';
import { decodeApplyBody, decodeObjectBody, decodePatchBody, duplicateFields, mediaType, patchTypeOf } from './body.js';
import { decodeManagers, encodeManagers, fieldValues, managerFromUserAgent, updateManagers } from './managed-fields.js';
import { hookKey, kindHooks, type KindHooks, type KindHookTable, type Undo } from './kind-hooks.js';
import { checkNamespaceAcceptsCreate } from './namespaces.js';
import { applyPatch, PATCH_TYPES } from './patch.js';
import { boolParam } from './query-params.js';
import { withoutManagedFields } from './omit-managed-fields.js';
import type { ResourcePath } from './request-info.js';
import { selectorPredicate } from './selectors.js';
import type { ServiceAllocator } from './service-allocator.js';

/** Everything a handler needs to know about one request. */
export interface RestRequest {
  path: ResourcePath;
  info: ResourceInfo;
  attrs: RequestAttributes;
  query: Record<string, string | undefined>;
  /** The raw body (Buffer) or undefined. */
  body: unknown;
  contentType: string | undefined;
  /** The client's User-Agent: its program name is the field manager of a write without `fieldManager`. */
  userAgent?: string;
  /** The answer's objects are converted (a Table for kubectl get), not sent as their JSON. */
  converted?: boolean;
}

/** A list's JSON: `head` (its kind, apiVersion and metadata, encoded) with the items' JSON texts as `items`. */
function listJson(head: string, items: string[]): string {
  return `${head.slice(0, -1)},"items":[${items.join(',')}]}`;
}

/** Past this many bytes of items a list's JSON is sent in parts, never made one string. */
export const LIST_STREAM_BYTES = 4 << 20;
/** The size of each part of a streamed list. */
const LIST_PART_BYTES = 256 << 10;

/**
 * A list's JSON as parts of about LIST_PART_BYTES: the same text as
 * listJson, made one part at a time as the socket drains. 150,000 pods are
 * ~500 MB of JSON, about V8's longest string: one string of them fails, and
 * the client saw no byte until the whole of it was built. `each` rewrites
 * each item's text as its part is made (omitManagedFields).
 */
export function* listJsonParts(head: string, items: string[], each: (item: string) => string = (item) => item): Generator<string> {
  let part = `${head.slice(0, -1)},"items":[`;
  for (let i = 0; i < items.length; i++) {
    const item = each(items[i]!);
    part += i === 0 ? item : `,${item}`;
    if (part.length >= LIST_PART_BYTES) {
      yield part;
      part = '';
    }
  }
  yield `${part}]}`;
}

/** Characters of the items' texts (their JSON bytes when ASCII). */
function textLength(items: string[]): number {
  let n = 0;
  for (const t of items) n += t.length;
  return n;
}

/** An HTTP answer: status code, JSON body and any warnings (sent as `Warning: 299` headers, which kubectl prints). */
export interface RestResponse {
  code: number;
  body: unknown;
  /** `body` already encoded (the stored JSON of the object version, see encodedJson): sent as it is when the body is not converted. */
  json?: string;
  /** `body` encoded in parts (a large list, see listJsonParts), sent as they are made; `body` is then not made. */
  jsonParts?: () => Iterable<string>;
  warnings?: string[];
}

/**
 * A write without a client resourceVersion is unconditional: like Kubernetes'
 * GuaranteedUpdate it is retried on conflicts until it applies, within these
 * generous bounds (a hot object may see dozens of concurrent writers).
 */
const MAX_CONFLICT_RETRIES = 100;
const CONFLICT_RETRY_DEADLINE_MS = 10_000;
/** Jittered back-off before a conflict retry, growing to 50 ms, so writers that collided spread out. */
const conflictBackoffMs = (attempt: number) => Math.random() * Math.min(50, 2 ** Math.min(attempt, 6));
/** Thrown by one write attempt to ask for another on a fresh read. */
const RETRY = Symbol('retry');
/** Objects whose managedFields an apply has already decided (an update's ownership rules must not run again). */
const APPLIED = new WeakSet<object>();

/** Sets kind and apiVersion, which the store may not keep, on an outgoing object. */
export function withType(info: ResourceInfo, obj: KubeObject): KubeObject {
  return { apiVersion: groupVersion(info), kind: info.kind, ...obj };
}

/** The answer body of a stored object: the object with its type, and the JSON the store already has for it (no second serialisation). */
function objectBody(info: ResourceInfo, obj: KubeObject): { body: KubeObject; json?: string } {
  const json = encodedJson(obj);
  return json === undefined ? { body: withType(info, obj) } : { body: withType(info, obj), json };
}

/**
 * True when `a` and `b` have the same JSON text (same keys in the same order,
 * same values), compared without writing either out: every write that sends
 * back the managedFields it read asks this.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = jsonKeys(ra);
  const kb = jsonKeys(rb);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || !sameJson(ra[ka[i]!], rb[kb[i]!])) return false;
  return true;
}

/** The keys JSON writes of an object, in order: undefined members are left out. */
function jsonKeys(o: Record<string, unknown>): string[] {
  const keys = Object.keys(o);
  for (const k of keys) if (o[k] === undefined) return keys.filter((x) => o[x] !== undefined);
  return keys;
}

/** Runs a kind's own code on client data: a throw there is the client's bad input (400), not a 500. */
function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw badRequest(`${what}: the object is malformed: ${(err as Error).message?.slice(0, 200) ?? String(err)}`);
  }
}

/** The REST handlers over one Storage. */
export class RestHandlers {
  private readonly hookTable: KindHookTable;

  constructor(
    private readonly storage: Storage,
    private readonly authorizer: Authorizer,
    /** Per-kind I/O around writes, or (as before) the Services' allocator, from which the table is built; none: objects are stored as prepared. */
    hooks?: KindHookTable | ServiceAllocator,
  ) {
    this.hookTable = hooks instanceof Map ? hooks : kindHooks({ services: hooks as ServiceAllocator | undefined, storage });
  }

  /** The I/O hooks of a resource, if it has any. */
  private hooks(info: ResourceInfo): KindHooks | undefined {
    return this.hookTable.get(hookKey(info));
  }

  private admit(attrs: RequestAttributes, old: KubeObject | undefined, obj: KubeObject | undefined): void {
    const d = this.authorizer.admit(attrs, old, obj);
    if (!d.allowed) {
      const sub = attrs.subresource ? `/${attrs.subresource}` : '';
      throw new ApiError(
        'Forbidden',
        `${attrs.resource}${sub} "${attrs.name ?? obj?.metadata?.name ?? ''}" is forbidden: User "${attrs.user.name}" cannot ${attrs.verb} this object${d.reason ? `: ${d.reason}` : ''}`,
        { name: attrs.name ?? obj?.metadata?.name, kind: attrs.resource },
      );
    }
  }

  private validate(info: ResourceInfo, obj: KubeObject, old?: KubeObject): void {
    const errors: FieldError[] = guarded('validation', () => defaultAndValidate(info, obj, old));
    if (errors.length > 0) throw invalid(info.kind, obj.metadata?.name ?? '', errors, info.group || undefined);
  }

  /**
   * Turns a decoded body into an object of this resource: apiVersion/kind
   * filled in when missing and checked when present, metadata an object,
   * namespace and name consistent with the path.
   */
  private normalize(req: RestRequest, value: Record<string, unknown>, expect: { kind: string; apiVersion: string }): KubeObject {
    const obj = value as KubeObject;
    if (obj.apiVersion === undefined) obj.apiVersion = expect.apiVersion;
    if (obj.kind === undefined) obj.kind = expect.kind;
    if (obj.apiVersion !== expect.apiVersion || obj.kind !== expect.kind) {
      throw badRequest(`the API version in the data (${String(obj.apiVersion)}) and kind (${String(obj.kind)}) do not match the path, which expects ${expect.apiVersion} ${expect.kind}`);
    }
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    if (typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) {
      throw invalid(expect.kind, '', [{ type: 'FieldValueTypeInvalid', field: 'metadata', message: 'must be an object' }]);
    }
    const md = obj.metadata;
    for (const f of ['name', 'namespace', 'generateName', 'resourceVersion', 'uid'] as const) {
      if (md[f] !== undefined && typeof md[f] !== 'string') {
        throw invalid(expect.kind, '', [{ type: 'FieldValueTypeInvalid', field: `metadata.${f}`, message: 'must be a string' }]);
      }
    }
    if (req.info.namespaced) {
      const ns = req.path.namespace;
      if (!ns) throw badRequest('a namespaced resource is created and updated under /namespaces/{namespace}/');
      if (md.namespace && md.namespace !== ns) {
        throw badRequest(`the namespace of the provided object (${md.namespace}) does not match the namespace sent on the request (${ns})`);
      }
      md.namespace = ns;
    } else {
      delete md.namespace;
    }
    if (req.path.name !== undefined && md.name !== undefined && md.name !== req.path.name) {
      throw badRequest(`the name of the object (${md.name}) does not match the name on the URL (${req.path.name})`);
    }
    if (req.path.name !== undefined) md.name = req.path.name;
    return obj;
  }

  private expectedType(info: ResourceInfo): { kind: string; apiVersion: string } {
    return { kind: info.kind, apiVersion: groupVersion(info) };
  }

  // --------------------------------------------------------------- reads

  /**
   * GET of one object or its status. `resourceVersion=0` accepts any version
   * (Kubernetes' semantics): served from the read cache when it holds the
   * object, without the consistent read's round trip to etcd, which waits
   * for etcd to apply everything before it. The kubelet reads its Node so
   * before each status update; a stale copy only makes that write conflict.
   */
  async get(req: RestRequest): Promise<RestResponse> {
    const { info, path, query } = req;
    const cached = query.resourceVersion === '0' ? this.storage.getCached?.(info.plural, path.namespace, path.name!) : undefined;
    const obj = cached ?? (await this.storage.get(info.plural, path.namespace, path.name!));
    if (path.subresource === 'scale') return { code: 200, body: toScale(obj) };
    return { code: 200, ...objectBody(info, obj) };
  }

  /** GET of a collection. */
  async list(req: RestRequest): Promise<RestResponse> {
    const { info, path, query } = req;
    const predicate = selectorPredicate(info, query.labelSelector, query.fieldSelector);
    const limit = parseNonNegativeInt(query.limit, 'limit');
    const result = await this.storage.list(info.plural, path.namespace, {
      ...(predicate ? { predicate } : {}),
      ...(limit ? { limit } : {}),
      ...(query.continue ? { continue: query.continue } : {}),
      ...(req.converted ? {} : { jsonOnly: true }),
    });
    const metadata: Record<string, unknown> = { resourceVersion: result.resourceVersion };
    if (result.continue) metadata.continue = result.continue;
    if (result.remainingItemCount !== undefined) metadata.remainingItemCount = result.remainingItemCount;
    const head = JSON.stringify({ kind: info.listKind, apiVersion: groupVersion(info), metadata });
    const omitManagedFields = boolParam(query, 'omitManagedFields') === true;
    if (result.json) {
      // Sent as stored, never decoded; the body is made only if something asks for it.
      const stored = result.json;
      // A streamed list is cut part by part as it is sent: 150,000 pods' texts are not all copied at once.
      const each = omitManagedFields ? withoutManagedFields : undefined;
      if (textLength(stored) > LIST_STREAM_BYTES) {
        return {
          code: 200,
          get body() {
            return JSON.parse([...listJsonParts(head, stored, each)].join('')) as unknown;
          },
          jsonParts: () => listJsonParts(head, stored, each),
        };
      }
      const json = listJson(head, each ? stored.map(each) : stored);
      return {
        code: 200,
        get body() {
          return JSON.parse(json) as unknown;
        },
        json,
      };
    }
    const typed = (o: KubeObject): KubeObject => {
      const t = withType(info, o);
      if (omitManagedFields && t.metadata?.managedFields) {
        const { managedFields: _, ...md } = t.metadata;
        t.metadata = md;
      }
      return t;
    };
    const body = { kind: info.listKind, apiVersion: groupVersion(info), metadata, items: result.items.map(typed) };
    // The items' stored JSON, joined: a LIST of 10,000 pods is not serialised again.
    const texts: string[] = [];
    for (const o of result.items) {
      const t = encodedJson(o);
      if (t === undefined) return { code: 200, body };
      texts.push(omitManagedFields ? withoutManagedFields(t) : t);
    }
    return { code: 200, body, json: listJson(head, texts) };
  }

  // -------------------------------------------------------------- create

  /** POST to a collection. */
  async create(req: RestRequest): Promise<RestResponse> {
    const obj = this.normalize(req, decodeObjectBody(req.body, req.contentType)!, this.expectedType(req.info));
    return this.createObject(req, obj, checkFields(req, obj));
  }

  /** The create of a decoded object (a POST, or an apply of an object that does not exist yet). */
  private async createObject(req: RestRequest, obj: KubeObject, warnings: string[]): Promise<RestResponse> {
    const { info, path } = req;
    const md = obj.metadata;
    guarded('create', () => prepareCreate(info, obj, req.attrs.user));
    await this.hooks(info)?.admitCreate?.(obj);
    this.validate(info, obj);
    if (!md.name && !md.generateName) {
      throw invalid(info.kind, '', [{ type: 'FieldValueRequired', field: 'metadata.name', message: 'name or generateName is required' }], info.group || undefined);
    }
    if (info.namespaced) await checkNamespaceAcceptsCreate(this.storage, path.namespace!, info.plural, md.name ?? md.generateName ?? '');
    this.admit(req.attrs, undefined, obj);
    if (!APPLIED.has(obj)) setManagedFields(obj, this.trackUpdate(req, undefined, obj));
    const hooks = this.hooks(info);
    if (isDryRun(req)) {
      // Everything but the write: what the object would look like once stored.
      await hooks?.beforeCreate?.(obj, true);
      obj.metadata = completeObjectMetaForCreate(md, nowTimestamp());
      return { code: 201, body: withType(info, obj), ...(warnings.length ? { warnings } : {}) };
    }
    // Take what the kind needs (a Service's addresses), then create; a failed create gives it back.
    const undo = await hooks?.beforeCreate?.(obj, false);
    let created: KubeObject;
    try {
      created = await this.storage.create(info.plural, obj);
    } catch (err) {
      await undo?.();
      throw err;
    }
    return { code: 201, ...objectBody(info, created), ...(warnings.length ? { warnings } : {}) };
  }

  // -------------------------------------------------------------- update

  /**
   * Shared read-modify-write of PUT and PATCH. `build` turns the current
   * object into the desired one without changing it (every build copies what
   * it changes, so the current object is not copied for it); a resourceVersion it sets is a precondition
   * (409 when stale), otherwise conflicts from concurrent writers are retried.
   */
  private async write(req: RestRequest, build: (cur: KubeObject) => KubeObject): Promise<KubeObject> {
    const { info, path } = req;
    // The first attempt starts from the store's cached copy (no etcd read):
    // the write is a compare-and-swap on its resourceVersion, and anything
    // that fails on it (stale copy, a check the copy may have misled) is
    // decided again on a consistent read. A dry run answers from a consistent read.
    let optimistic = !isDryRun(req);
    const deadline = Date.now() + CONFLICT_RETRY_DEADLINE_MS;
    for (let attempt = 0; ; attempt++) {
      const cached = optimistic ? this.storage.getCached?.(info.plural, path.namespace, path.name!) : undefined;
      optimistic = false;
      // Frozen: nothing on the way may change it, so the store compares the result with it as it is (no second decode).
      const cur = deepFreeze(cached ?? (await this.storage.get(info.plural, path.namespace, path.name!)));
      try {
        return await this.writeOnce(req, build, cur, attempt < MAX_CONFLICT_RETRIES && Date.now() < deadline);
      } catch (err) {
        // A stale cached copy is retried at once; a lost race on a consistent read backs off first.
        if (err === RETRY && !cached) await sleep(conflictBackoffMs(attempt));
        if (err === RETRY || cached) continue;
        throw err;
      }
    }
  }

  /** One attempt of write() on `cur`; RETRY after a conflict with a concurrent writer worth retrying. */
  private async writeOnce(req: RestRequest, build: (cur: KubeObject) => KubeObject, cur: KubeObject, mayRetry: boolean): Promise<KubeObject> {
    const { info, path } = req;
    const desired = build(cur);
    const wanted = desired.metadata.resourceVersion;
    if (wanted && wanted !== cur.metadata.resourceVersion) {
      throw conflict(info.plural, path.name!, 'the object has been modified; please apply your changes to the latest version and try again', info.group || undefined);
    }
    const next = guarded('update', () => prepareUpdate(info, path.subresource, cur, desired));
    // An apply to /status decided the managers already: its entries are the ones to store.
    if (path.subresource === 'status' && APPLIED.has(desired)) next.metadata.managedFields = desired.metadata.managedFields;
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    // Per-kind I/O (a Service's addresses) is for writes of the object itself, not its subresources.
    const hooks = path.subresource === undefined ? this.hooks(info) : undefined;
    hooks?.prepareUpdate?.(next, cur);
    this.validate(info, next, cur);
    if (!APPLIED.has(desired)) setManagedFields(next, this.trackUpdate(req, cur, next));
    this.admit(req.attrs, cur, next);
    if (isDryRun(req)) {
      await hooks?.beforeUpdate?.(next, cur, true);
      return next;
    }
    let undo: Undo | undefined;
    try {
      undo = await hooks?.beforeUpdate?.(next, cur, false);
      const updated = await this.storage.update(info.plural, next, { current: cur });
      await hooks?.afterUpdate?.(cur, updated);
      return updated;
    } catch (err) {
      await undo?.();
      if (!wanted && isReason(err, 'Conflict') && mayRetry) throw RETRY;
      throw err;
    }
  }

  /** PUT of an object, its status or its scale. */
  async update(req: RestRequest): Promise<RestResponse> {
    const { info, path } = req;
    const raw = decodeObjectBody(req.body, req.contentType)!;
    if (path.subresource === 'scale') {
      const scale = this.normalize(req, raw, { kind: 'Scale', apiVersion: 'autoscaling/v1' });
      const updated = await this.write(req, (cur) => fromScale(cur, scale));
      return { code: 200, body: toScale(updated) };
    }
    const obj = this.normalize(req, raw, this.expectedType(info));
    const warnings = path.subresource === undefined ? checkFields(req, obj) : [];
    // The decoded body itself on the first attempt; a retry decodes it afresh (an attempt may have changed it).
    let fresh = true;
    const updated = await this.write(req, () => {
      if (fresh) return (fresh = false), obj;
      return this.normalize(req, decodeObjectBody(req.body, req.contentType)!, this.expectedType(info));
    });
    return { code: 200, ...objectBody(info, updated), ...(warnings.length ? { warnings } : {}) };
  }

  /** PATCH of an object, its status or its scale. */
  async patch(req: RestRequest): Promise<RestResponse> {
    const { info, path } = req;
    if (mediaType(req.contentType) === PATCH_TYPES.apply) return this.apply(req);
    if (req.query.force !== undefined) {
      throw invalid('PatchOptions', '', [{ type: 'FieldValueForbidden', field: 'force', message: 'may not be specified for non-apply patch' }], 'meta.k8s.io');
    }
    const type = patchTypeOf(req.contentType);
    const patch = decodePatchBody(req.body);
    const scale = path.subresource === 'scale';
    const expect = scale ? { kind: 'Scale', apiVersion: 'autoscaling/v1' } : this.expectedType(info);
    let warnings: string[] = [];
    const updated = await this.write(req, (cur) => {
      const base = scale ? toScale(cur) : withType(info, cur);
      const baseRv = base.metadata.resourceVersion;
      const patched = applyPatch(type, base, patch);
      if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) throw badRequest('the patched document is not an object');
      const obj = this.normalize(req, patched as Record<string, unknown>, expect);
      // Only what the patch brings is judged: unknown fields already stored (written under Warn or Ignore) stay.
      if (path.subresource === undefined) warnings = checkFields(req, obj, new Set(unknownFields(info, cur)));
      // Only a resourceVersion the patch itself sets is a precondition.
      if (obj.metadata.resourceVersion === baseRv) delete obj.metadata.resourceVersion;
      return scale ? fromScale(cur, obj) : obj;
    });
    return { code: 200, ...(scale ? { body: toScale(updated) } : objectBody(info, updated)), ...(warnings.length ? { warnings } : {}) };
  }

  /**
   * Server-side apply: PATCH with `application/apply-patch+yaml`. Creates the
   * object when it does not exist (201), as Kubernetes does.
   */
  private async apply(req: RestRequest): Promise<RestResponse> {
    const { info, path } = req;
    checkFieldManager(req.query.fieldManager, true, info.kind);
    if (path.subresource !== undefined && path.subresource !== 'status') throw badRequest(`apply is not supported on the ${path.subresource} subresource`);
    const force = boolParam(req.query, 'force') === true;
    const config = this.normalize(req, decodeApplyBody(req.body), this.expectedType(info));
    const warnings = path.subresource === undefined ? checkFields(req, config) : [];
    const apply = (live: KubeObject | undefined) => {
      const out = guarded('apply', () => applyConfiguration({ info, live, config, manager: req.query.fieldManager!, force, ...(path.subresource ? { subresource: path.subresource } : {}) }));
      // Only a resourceVersion the configuration itself sets is a precondition.
      if (config.metadata.resourceVersion === undefined) delete out.metadata.resourceVersion;
      APPLIED.add(out);
      return out;
    };
    try {
      const updated = await this.write(req, (cur) => apply(withType(info, cur)));
      return { code: 200, ...objectBody(info, updated), ...(warnings.length ? { warnings } : {}) };
    } catch (err) {
      if (!isReason(err, 'NotFound') || path.subresource !== undefined) throw err;
    }
    return this.createObject(req, apply(undefined), warnings);
  }

  /** managedFields after a write that is not an apply: the writer owns what it changed (see updateManagers). */
  private trackUpdate(req: RestRequest, cur: KubeObject | undefined, next: KubeObject): ManagedFieldsEntry[] | undefined {
    const { info, path } = req;
    checkFieldManager(req.query.fieldManager, false, info.kind);
    const requested = next.metadata.managedFields as unknown;
    // A client that sends managedFields other than the stored ones sets them (kubectl's apply migration does); none or [] keeps them.
    const reset = Array.isArray(requested) && requested.length > 0 && !sameJson(requested, cur?.metadata.managedFields);
    const managers = decodeManagers(reset || !cur ? next : cur);
    const scope = { hasStatus: info.subresources.includes('status'), ...(path.subresource ? { subresource: path.subresource } : {}) };
    const writer = {
      manager: req.query.fieldManager || managerFromUserAgent(req.userAgent),
      operation: 'Update' as const,
      apiVersion: groupVersion(info),
      ...(path.subresource ? { subresource: path.subresource } : {}),
    };
    // A create compares with nothing: the members of the new object are enough, their values are not needed.
    const updated = updateManagers(managers, fieldValues(info, cur, scope), fieldValues(info, next, scope, cur !== undefined), writer);
    // Nothing changed hands: the stored entries stay as they are (no re-encoding on a no-op write).
    if (updated === managers && !reset && cur) return cur.metadata.managedFields;
    return encodeManagers(updated);
  }

  // ------------------------------------------------------------- binding

  /** POST pods/{name}/binding (or namespaces/{ns}/bindings): sets spec.nodeName once (the Pod strategy's bindPod). */
  async bind(req: RestRequest): Promise<RestResponse> {
    const { path, info } = req;
    const binding = decodeObjectBody(req.body, req.contentType)!;
    if (binding.apiVersion === undefined) binding.apiVersion = 'v1';
    if (binding.kind === undefined) binding.kind = 'Binding';
    if (binding.apiVersion !== 'v1' || binding.kind !== 'Binding') throw badRequest('the body must be a v1 Binding');
    const md = (binding.metadata ?? {}) as Record<string, unknown>;
    if (typeof md !== 'object' || Array.isArray(md)) throw badRequest('metadata must be an object');
    const name = path.name ?? (md.name as string | undefined);
    if (typeof name !== 'string' || name === '') {
      throw invalid('Binding', '', [{ type: 'FieldValueRequired', field: 'metadata.name', message: 'name is required' }]);
    }
    if (path.name && md.name !== undefined && md.name !== path.name) {
      throw badRequest(`the name of the object (${String(md.name)}) does not match the name on the URL (${path.name})`);
    }
    if (md.namespace !== undefined && md.namespace !== path.namespace) {
      throw badRequest(`the namespace of the provided object (${String(md.namespace)}) does not match the namespace sent on the request (${path.namespace})`);
    }
    const target = binding.target as { kind?: unknown; name?: unknown } | undefined;
    const errors: FieldError[] = [];
    if (!target || typeof target !== 'object') errors.push({ type: 'FieldValueRequired', field: 'target', message: 'target is required' });
    else {
      if (typeof target.name !== 'string' || target.name === '') errors.push({ type: 'FieldValueRequired', field: 'target.name', message: 'node name is required' });
      if (target.kind !== undefined && target.kind !== '' && target.kind !== 'Node') errors.push({ type: 'FieldValueNotSupported', field: 'target.kind', message: 'must be empty or Node' });
    }
    if (errors.length) throw invalid('Binding', name, errors);
    const node = target!.name as string;
    const annotations = md.annotations;
    if (isDryRun(req)) {
      await this.storage.get(info.plural, path.namespace, name);
      return { code: 201, body: successStatus() };
    }
    const attrs = { ...req.attrs, name };
    const extra = annotations && typeof annotations === 'object' && !Array.isArray(annotations) ? (annotations as Record<string, string>) : undefined;
    await this.storage.guaranteedUpdate(
      info.plural,
      path.namespace,
      name,
      (pod) => {
        const next = bindPod(pod, node, extra);
        this.admit(attrs, pod, next);
        return next;
      },
      { frozen: true },
    );
    return { code: 201, body: successStatus() };
  }

  // -------------------------------------------------------------- delete

  /** DELETE of one object. */
  async delete(req: RestRequest): Promise<RestResponse> {
    const { info, path } = req;
    const options = deleteOptions(req);
    const { object, deleted } = await this.deleteOne(req, info, path.namespace, path.name!, options);
    if (deleted && !info.deletion.returnsObject) {
      return { code: 200, body: successStatus({ name: path.name, group: info.group, kind: info.plural, uid: object.metadata.uid }) };
    }
    return { code: 200, body: withType(info, object) };
  }

  /** The delete of one object with Kubernetes' grace period and propagation rules. */
  private async deleteOne(req: RestRequest, info: ResourceInfo, namespace: string | undefined, name: string, options: DeleteOptions) {
    const cur = await this.storage.get(info.plural, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) {
      throw conflict(info.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`, info.group || undefined);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflict(info.plural, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`, info.group || undefined);
    }
    this.admit({ ...req.attrs, name }, cur, undefined);
    const policy = info.deletion;
    const finalizers: string[] = [];
    if (options.propagationPolicy === 'Foreground') finalizers.push('foregroundDeletion');
    if (options.propagationPolicy === 'Orphan') finalizers.push('orphan');
    finalizers.push(...policy.finalizers);
    const grace = policy.gracePeriodSeconds(cur, options.gracePeriodSeconds);
    if (isDryRun(req) || options.dryRun?.includes('All')) {
      // Nothing is written: the answer is the object as it stands.
      const marked = finalizers.length > 0 || (cur.metadata.finalizers?.length ?? 0) > 0 || grace > 0;
      return { object: cur, deleted: !marked };
    }
    if (finalizers.length > 0 && !cur.metadata.deletionTimestamp) {
      await this.storage.guaranteedUpdate(info.plural, namespace, name, (o) => {
        const list = o.metadata.finalizers ?? [];
        for (const f of finalizers) if (!list.includes(f)) list.push(f);
        o.metadata.finalizers = list;
        policy.prepareForDelete?.(o);
        return o;
      });
    }
    // Preconditions were checked above; the uid keeps a re-created namesake safe.
    const result = await this.storage.delete(info.plural, namespace, name, { gracePeriodSeconds: grace, preconditions: { uid: cur.metadata.uid! } });
    if (result.deleted) await this.hooks(info)?.afterDelete?.(result.object);
    return result;
  }

  /** DELETE of a collection, with selectors: returns the list of what was deleted or marked. */
  async deleteCollection(req: RestRequest): Promise<RestResponse> {
    const { info, path, query } = req;
    const options = deleteOptions(req);
    const predicate = selectorPredicate(info, query.labelSelector, query.fieldSelector);
    const { items } = await this.storage.list(info.plural, path.namespace, predicate ? { predicate } : {});
    const out: KubeObject[] = [];
    for (const item of items) {
      try {
        const r = await this.deleteOne(req, info, item.metadata.namespace, item.metadata.name!, { ...options, preconditions: undefined });
        out.push(withType(info, r.object));
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
      }
    }
    const rv = await this.storage.currentRevision();
    return { code: 200, body: { kind: info.listKind, apiVersion: groupVersion(info), metadata: { resourceVersion: rv }, items: out } };
  }
}


/** Sets metadata.managedFields, leaving the key out when no manager owns anything (as Kubernetes does). */
function setManagedFields(obj: KubeObject, entries: ManagedFieldsEntry[] | undefined): void {
  if (entries && entries.length > 0) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
}

/**
 * `?fieldValidation=Strict|Warn|Ignore` (Warn when absent, as Kubernetes; duplicates are checked under Strict only):
 * fields the kind does not know are a 422 naming each under Strict, and
 * warnings under Warn. `known` are unknown fields already stored, not judged again.
 */
function checkFields(req: RestRequest, obj: KubeObject, known?: Set<string>): string[] {
  const mode = req.query.fieldValidation ?? 'Warn';
  if (mode !== 'Strict' && mode !== 'Warn' && mode !== 'Ignore' && mode !== '') {
    throw badRequest(`fieldValidation: Unsupported value: ${JSON.stringify(mode.slice(0, 100))}: supported values: "Ignore", "Warn", "Strict"`);
  }
  if (mode === 'Ignore') return [];
  // A second parse of the body: only for Strict (kubectl's writes), never on the controllers' hot paths.
  const duplicates = mode === 'Strict' ? duplicateFields(req.body, req.contentType) : [];
  const unknown = unknownFields(req.info, obj).filter((f) => !known?.has(f));
  if (unknown.length === 0 && duplicates.length === 0) return [];
  const messages = [...duplicates.map((f) => `duplicate field "${f}"`), ...unknown.map((f) => `unknown field "${f}"`)];
  if (mode === 'Strict') {
    const causes = [
      ...duplicates.map((f) => ({ type: 'FieldValueDuplicate' as const, field: f, message: `strict decoding error: duplicate field "${f}"` })),
      ...unknown.map((f) => ({ type: 'FieldValueInvalid' as const, field: f, message: `strict decoding error: unknown field "${f}"` })),
    ];
    throw invalid(req.info.kind, obj.metadata?.name ?? '', causes, req.info.group || undefined);
  }
  return messages;
}

/** `?dryRun=All` (kubectl diff, --dry-run=server): everything but the write. Any other value is a 400, as in Kubernetes. */
function isDryRun(req: RestRequest): boolean {
  const v = req.query.dryRun;
  if (v === undefined || v === '') return false;
  if (v !== 'All') throw badRequest(`dryRun: Unsupported value: "${v}": supported values: "All"`);
  return true;
}

/** A `Status` of success, as Kubernetes returns for deletes and bindings. */
export function successStatus(details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', ...(details ? { details } : {}) };
}

function parseNonNegativeInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,9}$/.test(v)) throw badRequest(`${name} must be a non-negative integer`);
  return Number(v);
}

/** DeleteOptions from the body (JSON/YAML) or the query string. */
function deleteOptions(req: RestRequest): DeleteOptions {
  const body = decodeObjectBody(req.body, req.contentType, true) ?? {};
  const opts = body as DeleteOptions & Record<string, unknown>;
  if (opts.kind !== undefined && opts.kind !== 'DeleteOptions') throw badRequest('the body of a DELETE must be DeleteOptions');
  const q = req.query;
  const errors: FieldError[] = [];
  let grace: unknown = opts.gracePeriodSeconds;
  if (q.gracePeriodSeconds !== undefined) grace = /^-?\d{1,9}$/.test(q.gracePeriodSeconds) ? Number(q.gracePeriodSeconds) : NaN;
  if (grace !== undefined && grace !== null && (typeof grace !== 'number' || !Number.isInteger(grace))) {
    errors.push({ type: 'FieldValueInvalid', field: 'gracePeriodSeconds', message: 'must be an integer' });
  }
  const policy = q.propagationPolicy ?? opts.propagationPolicy;
  if (policy !== undefined && policy !== null && !['Orphan', 'Background', 'Foreground'].includes(policy as string)) {
    errors.push({ type: 'FieldValueNotSupported', field: 'propagationPolicy', message: 'supported values: "Orphan", "Background", "Foreground"' });
  }
  let orphan = opts.orphanDependents as unknown;
  const orphanParam = boolParam(q, 'orphanDependents');
  if (orphanParam !== undefined) orphan = orphanParam;
  const pre = opts.preconditions as unknown;
  if (pre !== undefined && pre !== null && (typeof pre !== 'object' || Array.isArray(pre))) {
    errors.push({ type: 'FieldValueTypeInvalid', field: 'preconditions', message: 'must be an object' });
  }
  if (errors.length) throw invalid('DeleteOptions', '', errors);
  const out: DeleteOptions = {};
  const dry = opts.dryRun as unknown;
  if (dry !== undefined && dry !== null) {
    if (!Array.isArray(dry) || dry.some((d) => d !== 'All')) throw badRequest(`dryRun: Unsupported value: ${JSON.stringify(dry)}: supported values: "All"`);
    if (dry.length > 0) out.dryRun = ['All'];
  }
  if (typeof grace === 'number') out.gracePeriodSeconds = Math.max(0, grace);
  if (policy) out.propagationPolicy = policy as DeleteOptions['propagationPolicy'];
  else if (orphan === true) out.propagationPolicy = 'Orphan';
  if (pre && typeof pre === 'object') {
    const p = pre as { uid?: unknown; resourceVersion?: unknown };
    out.preconditions = {
      ...(typeof p.uid === 'string' && p.uid ? { uid: p.uid } : {}),
      ...(typeof p.resourceVersion === 'string' && p.resourceVersion ? { resourceVersion: p.resourceVersion } : {}),
    };
  }
  return out;
}

/** 404 for a subresource this resource does not have. */
export function noSuchSubresource(info: ResourceInfo, sub: string): ApiError {
  return notFound(`${info.plural}/${sub}`, '', info.group || undefined);
}
