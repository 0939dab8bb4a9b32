/**
 * The write pipeline every kind goes through, built from its registry
 * entry (ResourceInfo): Kubernetes' BeforeCreate / BeforeUpdate plus the
 * strategy hooks. The apiserver's REST handlers and the fake client both
 * call these, so a test against the fake sees what a real server would store.
 */
import type { FieldError } from './errors.js';
import type { KubeObject } from './meta.js';
import { prepareObjectMetaForCreate, prepareObjectMetaForUpdate } from './object-meta.js';
import type { DeletionPolicy, Requester, ResourceInfo } from './resource.js';

// Objects here are plain JSON; a JSON round trip copies them faster than structuredClone.
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/**
 * A create up to defaults and validation: server-owned metadata dropped, the
 * uid assigned, then the kind's prepareForCreate (status reset, generated
 * fields). The name from generateName is the storage's (it retries on a clash).
 */
export function prepareCreate(info: ResourceInfo, obj: KubeObject, user: Requester): void {
  prepareObjectMetaForCreate(obj.metadata);
  info.prepareForCreate(obj, user);
}

/**
 * The object an update of `cur` stores, from what the client sent to the
 * object itself (`subresource` undefined, or `scale`) or to a subresource:
 * the kind's prepareForUpdate, then the stored identity and deletion fields,
 * and the generation moved when the desired state changed.
 */
export function prepareUpdate(info: ResourceInfo, subresource: string | undefined, cur: KubeObject, desired: KubeObject): KubeObject {
  const next = info.prepareForUpdate(desired, cur, subresource);
  prepareObjectMetaForUpdate(next, cur);
  return next;
}

/** Defaults, then validation (with the old object on update): every problem found, with field paths. */
export function defaultAndValidate(info: ResourceInfo, obj: KubeObject, old?: KubeObject): FieldError[] {
  info.applyDefaults(obj);
  return old === undefined ? info.validate(obj) : info.validateUpdate(obj, old);
}

/**
 * The prepareForUpdate of most kinds: `/status` changes status and nothing
 * else; any other write keeps the stored status when the kind has a status
 * subresource (its controllers own it), and is otherwise taken as sent.
 */
export function genericPrepareForUpdate(hasStatus: boolean): ResourceInfo['prepareForUpdate'] {
  return (desired, cur, subresource) => {
    if (subresource === 'status') return withStatusOf(cur, desired);
    if (hasStatus) {
      if (cur.status === undefined) delete desired.status;
      else desired.status = clone(cur.status);
    }
    return desired;
  };
}

/** `cur` with the status of `desired` (and nothing else of it). */
export function withStatusOf(cur: KubeObject, desired: KubeObject): KubeObject {
  // Shallow: only metadata (resourceVersion) and status are replaced by callers.
  const next: KubeObject = { ...cur, metadata: { ...cur.metadata } };
  if (desired.status === undefined) delete next.status;
  else next.status = desired.status;
  return next;
}

/** The prepareForCreate of most kinds: no status on a new object of a kind with a status subresource (its controllers write it). */
export function genericPrepareForCreate(hasStatus: boolean): (obj: KubeObject) => void {
  return (obj) => {
    if (hasStatus) delete obj.status;
  };
}

/** Deletion of most kinds: at once, no finalizers of the server's own, answered with a Status. */
export const IMMEDIATE_DELETION: DeletionPolicy = Object.freeze({
  finalizers: [],
  gracePeriodSeconds: () => 0,
  returnsObject: false,
});
