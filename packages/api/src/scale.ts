/**
 * The `scale` subresource (autoscaling/v1 Scale) of deployments and
 * replicasets: a view of spec.replicas and the selector that `kubectl scale`
 * and autoscalers read and write. Generic over kinds with spec.replicas and
 * spec.selector; the apiserver and the fake client both use it.
 */
import { badRequest, invalid } from './errors.js';
import type { KubeObject, LabelSelector } from './meta.js';

/** A label selector written as the string form of a query (`app=web,tier in (a,b)`). */
export function selectorString(sel: LabelSelector | undefined): string {
  if (!sel || typeof sel !== 'object') return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** The Scale view of a scalable object. */
export function toScale(obj: KubeObject): KubeObject {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: LabelSelector };
  const status = (obj.status ?? {}) as { replicas?: number };
  const md = obj.metadata;
  return {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: {
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      resourceVersion: md.resourceVersion,
      creationTimestamp: md.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: selectorString(spec.selector) },
  };
}

/** The object with the replicas of a Scale written into it; the Scale's resourceVersion is a precondition. */
export function fromScale(cur: KubeObject, scale: KubeObject): KubeObject {
  const spec = scale.spec as { replicas?: unknown } | undefined;
  if (spec !== undefined && (typeof spec !== 'object' || spec === null || Array.isArray(spec))) throw badRequest('spec must be an object');
  const replicas = spec?.replicas ?? 0;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 2 ** 31 - 1) {
    throw invalid('Scale', cur.metadata.name ?? '', [{ type: 'FieldValueInvalid', field: 'spec.replicas', message: 'must be a non-negative integer' }], 'autoscaling');
  }
  const next = structuredClone(cur);
  next.spec = { ...(next.spec as object | undefined), replicas };
  if (scale.metadata.resourceVersion) next.metadata.resourceVersion = scale.metadata.resourceVersion;
  else delete next.metadata.resourceVersion;
  return next;
}
