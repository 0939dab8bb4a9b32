/**
 * The rules of ephemeral containers (`kubectl debug`), as Kubernetes has
 * them: they are added to a running pod only through the
 * `pods/ephemeralcontainers` subresource, only ever added (never changed or
 * removed), their names are unique among all the pod's containers, they
 * may not have ports, probes, resources or lifecycle hooks, and a
 * `targetContainerName` must name a container of the pod.
 */
import { canonicalJson } from './helpers.js';
import type { FieldError } from './errors.js';
import type { EphemeralContainer, Pod } from './core-types.js';
import { defaultPullPolicy } from './defaults.js';
import { isDns1123Label } from './names.js';
import { FieldErrors } from './validation.js';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Fields an ephemeral container may not set: it joins a pod that is already scheduled and sized. */
const FORBIDDEN_FIELDS = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resources', 'resizePolicy'] as const;

/** Defaults of ephemeral containers (as of regular containers: pull policy, termination message). */
export function defaultEphemeralContainers(pod: Pod): void {
  const list = pod.spec?.ephemeralContainers;
  if (!Array.isArray(list)) return;
  for (const c of list) {
    if (!isObj(c)) continue;
    c.imagePullPolicy ??= defaultPullPolicy(typeof c.image === 'string' ? c.image : undefined);
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
  }
}

/** Problems of `spec.ephemeralContainers` of a pod (any write). */
export function validateEphemeralContainers(pod: Pod): FieldError[] {
  const e = new FieldErrors();
  const spec = pod.spec;
  const list = spec?.ephemeralContainers;
  if (list === undefined || list === null) return e.list;
  const field = 'spec.ephemeralContainers';
  if (!Array.isArray(list)) {
    e.invalid(field, list, 'must be a list');
    return e.list;
  }
  const regular = new Set<string>();
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) if (isObj(c) && typeof c.name === 'string') regular.add(c.name);
  const seen = new Set<string>();
  list.forEach((c: EphemeralContainer, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(c)) return e.invalid(p, c, 'must be an object');
    if (!c.name) e.required(`${p}.name`);
    else if (typeof c.name !== 'string') e.invalid(`${p}.name`, c.name, 'must be a string');
    else {
      e.each(`${p}.name`, c.name, isDns1123Label(c.name));
      if (regular.has(c.name) || seen.has(c.name)) e.duplicate(`${p}.name`, c.name);
      seen.add(c.name);
    }
    if (!c.image || (typeof c.image === 'string' && c.image.trim() === '')) e.required(`${p}.image`);
    else if (typeof c.image !== 'string') e.invalid(`${p}.image`, c.image, 'must be a string');
    if (c.imagePullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy)) {
      e.notSupported(`${p}.imagePullPolicy`, c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never']);
    }
    for (const f of ['command', 'args'] as const) {
      if (c[f] !== undefined && (!Array.isArray(c[f]) || !c[f]!.every((x) => typeof x === 'string'))) e.invalid(`${p}.${f}`, c[f], 'must be a list of strings');
    }
    for (const f of FORBIDDEN_FIELDS) {
      const v = (c as unknown as Record<string, unknown>)[f];
      // kubectl debug sends `resources: {}`: an empty value sets nothing.
      const empty = v === undefined || v === null || (isObj(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length === 0);
      if (!empty) e.forbidden(`${p}.${f}`, 'cannot be set for an Ephemeral Container');
    }
    if ((c as { restartPolicy?: unknown }).restartPolicy !== undefined) e.forbidden(`${p}.restartPolicy`, 'cannot be set for an Ephemeral Container');
    if (c.targetContainerName !== undefined && c.targetContainerName !== '') {
      if (typeof c.targetContainerName !== 'string' || !regular.has(c.targetContainerName)) {
        e.notFound(`${p}.targetContainerName`, c.targetContainerName);
      }
    }
    for (const f of ['stdin', 'stdinOnce', 'tty'] as const) {
      if (c[f] !== undefined && typeof c[f] !== 'boolean') e.invalid(`${p}.${f}`, c[f], 'must be a boolean');
    }
  });
  return e.list;
}

/**
 * Problems of a write to `pods/ephemeralcontainers`: the new list must keep
 * every existing ephemeral container exactly as it was (they can only be
 * added), plus the rules of validateEphemeralContainers.
 */
export function validateEphemeralContainersUpdate(pod: Pod, old: Pod): FieldError[] {
  const e = new FieldErrors();
  const next = Array.isArray(pod.spec?.ephemeralContainers) ? pod.spec!.ephemeralContainers! : [];
  const byName = new Map(next.filter(isObj).map((c) => [c.name, c]));
  for (const o of old.spec?.ephemeralContainers ?? []) {
    const n = byName.get(o.name);
    if (!n) e.forbidden('spec.ephemeralContainers', `existing ephemeral containers "${o.name}" may not be removed`);
    else if (canonicalJson(n) !== canonicalJson(o)) e.forbidden('spec.ephemeralContainers', `existing ephemeral containers "${o.name}" may not be changed`);
  }
  return [...e.list, ...validateEphemeralContainers(pod)];
}
