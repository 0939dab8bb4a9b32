/**
 * The object-metadata rules every kind shares, in one place: which fields
 * the server owns, how generateName becomes a name, and which change counts
 * as a new generation. The REST handlers, the etcd and in-memory storages
 * and the fake client all call these, so they cannot drift apart.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { KubeObject, ObjectMeta } from './meta.js';

/** The alphabet Kubernetes uses for generated name suffixes: no vowels (no words), no look-alikes. */
const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** Length of the random suffix, as Kubernetes' SimpleNameGenerator. */
const NAME_SUFFIX_LENGTH = 5;
/** Longest generateName base kept, so base plus suffix still fits a 63-character name. */
const MAX_GENERATE_NAME_BASE = 58;

/** `generateName` plus 5 random characters, as Kubernetes' SimpleNameGenerator does. */
export function generateObjectName(base: string): string {
  const trimmed = base.length > MAX_GENERATE_NAME_BASE ? base.slice(0, MAX_GENERATE_NAME_BASE) : base;
  let suffix = '';
  for (let i = 0; i < NAME_SUFFIX_LENGTH; i++) suffix += NAME_SUFFIX_ALPHABET[randomInt(NAME_SUFFIX_ALPHABET.length)];
  return trimmed + suffix;
}

/** Metadata fields only the server sets: a client's values are dropped on create and replaced by the stored ones on update. */
export const SERVER_OWNED_METADATA = ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const;

/**
 * Kubernetes' BeforeCreate for metadata: what a client sent in server-owned
 * fields is dropped and the uid is assigned now (a kind's prepareForCreate may
 * need it, as a Job's selector does; every storage keeps a uid it is given).
 */
export function prepareObjectMetaForCreate(md: ObjectMeta): void {
  for (const f of SERVER_OWNED_METADATA) delete md[f];
  md.uid = randomUUID();
}

/**
 * The fields of a new object the storage fills in when it writes it: the
 * name from generateName (when `name` is not given), the uid unless already
 * assigned, the creation time, generation 1, and no deletion marks (nothing
 * is born being deleted). Returns a copy of `md`; resourceVersion is the storage's.
 */
export function completeObjectMetaForCreate(md: ObjectMeta, creationTimestamp: string, name?: string): ObjectMeta {
  const out: ObjectMeta = { ...md, uid: md.uid || randomUUID(), creationTimestamp, generation: 1 };
  const n = name ?? (md.name || (md.generateName ? generateObjectName(md.generateName) : undefined));
  if (n !== undefined) out.name = n;
  delete out.resourceVersion;
  delete out.deletionTimestamp;
  delete out.deletionGracePeriodSeconds;
  return out;
}

/**
 * Kubernetes' BeforeUpdate for metadata: the identity and deletion fields of
 * `next` are the stored object's whatever the client sent (a field the stored
 * object lacks is removed), and generation moves by {@link nextGeneration}.
 */
export function prepareObjectMetaForUpdate(next: KubeObject, cur: KubeObject): void {
  const nm = next.metadata;
  const cm = cur.metadata;
  for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
    if (cm[f] === undefined) delete nm[f];
    else (nm as Record<string, unknown>)[f] = cm[f];
  }
  nm.generation = nextGeneration(cur, next);
}

/**
 * Marks an object for deletion (finalizers pending or a grace period to
 * run): the deletion time and grace period set, and generation moved the
 * first time, as Kubernetes' BeforeDelete does.
 */
export function markForDeletion(md: ObjectMeta, deletionTimestamp: string, gracePeriodSeconds: number): void {
  if (md.deletionTimestamp === undefined) md.generation = (md.generation ?? 1) + 1;
  md.deletionTimestamp = deletionTimestamp;
  md.deletionGracePeriodSeconds = gracePeriodSeconds;
}

/** The generation of `next` written over `cur`: one more when its desired state changed ({@link generationChanged}). */
export function nextGeneration(cur: KubeObject, next: KubeObject): number {
  return (cur.metadata.generation ?? 1) + (generationChanged(cur, next) ? 1 : 0);
}

/**
 * True when anything but `metadata` and `status` differs: the change that
 * Kubernetes counts as a new generation (spec, data, rules, ...). The type
 * fields (apiVersion, kind) are not state: a store may not keep them.
 */
export function generationChanged(oldObj: KubeObject, newObj: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o as KubeObject & { status?: unknown };
    return rest;
  };
  return !jsonEqual(strip(oldObj), strip(newObj));
}

/** Deep equality of JSON values (objects, arrays, scalars); key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  // undefined-valued keys vanish in JSON, so they must not count as differences.
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!jsonEqual(ao[k], bo[k])) return false;
  return true;
}
