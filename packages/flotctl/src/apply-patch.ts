/**
 * Client-side apply as kubectl does it: the configuration a user applied
 * last is kept in the `kubectl.kubernetes.io/last-applied-configuration`
 * annotation (the same one kubectl writes, so the two tools can take
 * turns), and each apply sends a JSON merge patch that sets what the new
 * configuration says and removes what the previous one set and the new one
 * dropped — leaving alone fields that others (controllers, `kubectl scale`)
 * own. Lists are replaced whole, as in a JSON merge patch, when they differ
 * from the list applied last.
 */
import type { KubeObject } from '@flotilla/api';

/** The annotation holding the last applied configuration (kubectl's name). */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * The merge patch taking `live` to "live, with `desired` applied, minus what
 * `last` had and `desired` no longer has". Empty object: nothing to do.
 */
export function threeWayMergePatch(last: unknown, desired: unknown, live: unknown): JsonObject {
  const patch: JsonObject = {};
  const d = isObject(desired) ? desired : {};
  const l = isObject(live) ? live : {};
  const prev = isObject(last) ? last : {};
  for (const [k, want] of Object.entries(d)) {
    const have = l[k];
    if (isObject(want) && isObject(have)) {
      const sub = threeWayMergePatch(prev[k], want, have);
      if (Object.keys(sub).length > 0) patch[k] = sub;
    } else if (Array.isArray(want) && k in prev) {
      // The server defaults fields inside list items (a container's
      // imagePullPolicy…), so a list is compared with what was applied last,
      // not with the live list, or every apply would "configure" it.
      if (!jsonEqual(want, prev[k])) patch[k] = want;
    } else if (!jsonEqual(want, have)) {
      patch[k] = want;
    }
  }
  for (const k of Object.keys(prev)) {
    if (!(k in d) && k in l) patch[k] = null;
  }
  return patch;
}

/** The object as it will be stored on create: the user's configuration plus the annotation recording it. */
export function withLastApplied(obj: KubeObject): KubeObject {
  const copy = JSON.parse(JSON.stringify(obj)) as KubeObject;
  const record = JSON.parse(JSON.stringify(obj)) as KubeObject;
  delete record.metadata.annotations?.[LAST_APPLIED];
  if (record.metadata.annotations && Object.keys(record.metadata.annotations).length === 0) delete record.metadata.annotations;
  copy.metadata.annotations = { ...(copy.metadata.annotations ?? {}), [LAST_APPLIED]: `${JSON.stringify(record)}\n` };
  return copy;
}

/** The configuration recorded in a live object's annotation, if any (a corrupt one counts as none). */
export function lastApplied(live: KubeObject): unknown {
  const text = live.metadata.annotations?.[LAST_APPLIED];
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * What `apply` must send for `desired` against `live`: `undefined` when the
 * object is unchanged, else the merge patch (which also refreshes the
 * annotation).
 */
export function applyPatch(desired: KubeObject, live: KubeObject): JsonObject | undefined {
  const target = withLastApplied(desired);
  const patch = threeWayMergePatch(lastApplied(live), target as unknown as JsonObject, live as unknown as JsonObject);
  // apiVersion and kind are part of the body, never a change.
  delete patch.apiVersion;
  delete patch.kind;
  return Object.keys(patch).length === 0 ? undefined : patch;
}
