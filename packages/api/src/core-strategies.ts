/**
 * The strategy parts of the core kinds that differ from the generic ones:
 * how a pod starts, is bound and is deleted, how a namespace starts and
 * terminates, and a CSR's approval subresource. The registry entries in
 * registry.ts reference these.
 */
import type { CertificateSigningRequest } from './certificates-types.js';
import { conflict } from './errors.js';
import { nowTimestamp } from './helpers.js';
import type { KubeObject } from './meta.js';
import type { DeletionPolicy } from './resource.js';
import { genericPrepareForUpdate } from './strategy.js';

/** Default terminationGracePeriodSeconds of a pod, as Kubernetes'. */
const DEFAULT_POD_GRACE_SECONDS = 30;

/** The finalizer the namespace controller removes once a terminating namespace is empty. */
export const NAMESPACE_FINALIZER = 'kubernetes';

/** The label Kubernetes puts on every namespace (its name), so selectors can pick namespaces. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** A new pod starts Pending whatever status the client sent: the scheduler and the agent write the rest. */
export function preparePodForCreate(obj: KubeObject): void {
  obj.status = { phase: 'Pending' };
}

/**
 * Pods bound to a node stop gracefully: the agent gets the grace period to
 * stop the containers (the client's, else the pod's
 * terminationGracePeriodSeconds, else 30 s). A pod never bound, or already
 * finished, has nothing to stop and goes at once.
 */
export const POD_DELETION: DeletionPolicy = Object.freeze({
  finalizers: [],
  gracePeriodSeconds: (obj: KubeObject, requested: number | undefined) => {
    const pod = obj as KubeObject & { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number }; status?: { phase?: string } };
    const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (!pod.spec?.nodeName || terminal) return 0;
    return requested ?? pod.spec.terminationGracePeriodSeconds ?? DEFAULT_POD_GRACE_SECONDS;
  },
  returnsObject: true,
});

/**
 * The pod a Binding makes of `pod` (not changed): spec.nodeName set once,
 * the Binding's annotations merged, and the PodScheduled condition True.
 * Conflict when the pod is being deleted or already bound.
 */
export function bindPod(pod: KubeObject, nodeName: string, annotations?: Record<string, string>, now: string = nowTimestamp()): KubeObject {
  const name = pod.metadata.name ?? '';
  const spec = (pod.spec ?? {}) as { nodeName?: string };
  if (pod.metadata.deletionTimestamp) throw conflict('pods', name, `pod ${name} is being deleted, cannot be assigned to a host`);
  if (spec.nodeName) throw conflict('pods', name, `pod ${name} is already assigned to node "${spec.nodeName}"`);
  // Shallow copies of what changes: `pod` stays the old object admission compares with.
  const next: KubeObject = { ...pod, metadata: { ...pod.metadata }, spec: { ...spec, nodeName }, status: { ...(pod.status as object | undefined) } };
  if (annotations) next.metadata.annotations = { ...next.metadata.annotations, ...annotations };
  const status = next.status as { conditions?: Array<Record<string, unknown>> };
  const conditions = Array.isArray(status.conditions) ? status.conditions.filter((c) => c?.type !== 'PodScheduled') : [];
  conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now });
  status.conditions = conditions;
  return next;
}

/** A new namespace is Active and labelled with its name. */
export function prepareNamespaceForCreate(obj: KubeObject): void {
  obj.status = { phase: 'Active' };
  if (obj.metadata.name) obj.metadata.labels = { ...obj.metadata.labels, [NAMESPACE_NAME_LABEL]: obj.metadata.name };
}

/** A namespace is deleted by the namespace controller once empty: the server adds its finalizer and marks it Terminating. */
export const NAMESPACE_DELETION: DeletionPolicy = Object.freeze({
  finalizers: [NAMESPACE_FINALIZER],
  gracePeriodSeconds: () => 0,
  prepareForDelete: (obj: KubeObject) => {
    obj.status = { ...(obj.status as object | undefined), phase: 'Terminating' };
  },
  returnsObject: false,
});

const genericCsrUpdate = genericPrepareForUpdate(true);

/** A CSR's `/approval` (kubectl certificate approve|deny) writes its conditions and nothing else; other writes are generic. */
export function prepareCsrForUpdate(desired: KubeObject, cur: KubeObject, subresource: string | undefined): KubeObject {
  if (subresource !== 'approval') return genericCsrUpdate(desired, cur, subresource);
  const next: KubeObject = { ...cur, metadata: { ...cur.metadata } };
  const conditions = (desired as CertificateSigningRequest).status?.conditions;
  const status: Record<string, unknown> = { ...(cur.status as Record<string, unknown> | undefined) };
  if (conditions === undefined) delete status.conditions;
  else status.conditions = conditions;
  next.status = status;
  return next;
}
