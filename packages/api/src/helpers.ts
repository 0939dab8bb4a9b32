/** Small pure helpers that controllers, the agent and the apiserver share. */
import { createHash } from 'node:crypto';
import type { Pod, PodTemplateSpec } from './core-types.js';
import type { Condition, KubeObject, OwnerReference } from './meta.js';

/** A deep copy of a JSON-shaped value; objects from caches are copied before they are changed. */
export function deepCopy<T>(obj: T): T {
  return obj === undefined ? obj : (structuredClone(obj) as T);
}

/** The cache/work-queue key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** Splits a key made by objectKey back into namespace (undefined when cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The condition of the given type, if any. */
export function getCondition<C extends Condition>(conditions: readonly C[] | undefined, type: string): C | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * Sets a condition in place and returns the array. lastTransitionTime only
 * moves when the status changes, so clients can tell how long it has held.
 */
export function setCondition<C extends Condition>(conditions: C[] | undefined, cond: C, now: string = nowTimestamp()): C[] {
  const list = conditions ?? [];
  const i = list.findIndex((c) => c.type === cond.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next = { ...cond } as C;
  if (prev && prev.status === cond.status) {
    next.lastTransitionTime = prev.lastTransitionTime ?? cond.lastTransitionTime ?? now;
  } else {
    next.lastTransitionTime = cond.lastTransitionTime ?? now;
  }
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Removes a condition type in place and returns the array. */
export function removeCondition<C extends Condition>(conditions: C[] | undefined, type: string): C[] {
  const list = conditions ?? [];
  const i = list.findIndex((c) => c.type === type);
  if (i >= 0) list.splice(i, 1);
  return list;
}

/** True when the pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return getCondition(pod.status?.conditions, 'Ready')?.status === 'True';
}

/** True when the pod has finished for good (Succeeded or Failed). */
export function isPodTerminal(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** The ownerReference that marks the object's managing controller (controller: true). */
export function controllerRef(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** JSON with object keys sorted, so equal values give equal text in every process. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

// Kubernetes' SafeEncodeString alphabet: no vowels or look-alikes, so a hash never spells a word.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * A stable short hash of a pod template (the `pod-template-hash` label):
 * the same template gives the same value in every process. The
 * `pod-template-hash` label itself is left out so re-hashing is stable.
 * `collisionCount` changes the hash, as the Deployment controller needs.
 */
export function podTemplateHash(template: PodTemplateSpec, collisionCount?: number): string {
  const t = deepCopy(template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  const h = createHash('sha256').update(canonicalJson(t));
  if (collisionCount !== undefined && collisionCount > 0) h.update(`/${collisionCount}`);
  const digest = h.digest();
  let n = digest.readUInt32BE(0);
  let out = '';
  // Up to 10 characters like Kubernetes' hashes (log_27(2^32) ≈ 6.7, so 7 here).
  for (let i = 0; i < 7; i++) {
    out += SAFE_ALPHABET[n % SAFE_ALPHABET.length];
    n = Math.floor(n / SAFE_ALPHABET.length);
  }
  return out;
}

/** Now as RFC 3339 in UTC without fractional seconds (metav1.Time): `2024-01-02T03:04:05Z`. */
export function nowTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Now as RFC 3339 with microseconds (metav1.MicroTime), as Leases and events.k8s.io use. */
export function nowMicroTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d+)Z$/, (_m, ms: string) => `.${ms.padEnd(6, '0')}Z`);
}
