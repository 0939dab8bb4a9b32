/**
 * Pure decisions of the DaemonSet controller: which nodes should run a
 * daemon pod (node selector, required node affinity, NoSchedule/NoExecute
 * taints against the pod's tolerations plus those Kubernetes adds to every
 * daemon pod), and the pod a DaemonSet places on one node.
 */
import {
  deepCopy,
  type DaemonSet,
  type Node,
  type NodeSelectorRequirement,
  type NodeSelectorTerm,
  type Pod,
  type PodSpec,
  type Toleration,
} from '@flotilla/api';
import { toleratesTaint } from '../node-lifecycle/taints.js';

/** Label with the hash of the template a daemon pod was made from (as Kubernetes' ControllerRevision hash). */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
/** Label with the DaemonSet generation a pod was made at (Kubernetes sets it too). */
export const POD_TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

/**
 * Tolerations Kubernetes adds to every daemon pod: a daemon keeps running
 * on a sick or unreachable node and lands on cordoned and pressured ones.
 */
export function daemonTolerations(spec: Pick<PodSpec, 'hostNetwork'>): Toleration[] {
  const t: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (spec.hostNetwork) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return t;
}

/** The pod's tolerations with the daemon ones added where the pod has no toleration of that key and effect. */
export function withDaemonTolerations(spec: PodSpec): Toleration[] {
  const own = [...(spec.tolerations ?? [])];
  for (const d of daemonTolerations(spec)) {
    if (!own.some((t) => t.key === d.key && t.effect === d.effect)) own.push(d);
  }
  return own;
}

function matchRequirement(r: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && values.includes(v!);
    case 'NotIn':
      return !has || !values.includes(v!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || values.length !== 1 || !/^-?\d+$/.test(v!) || !/^-?\d+$/.test(values[0]!)) return false;
      return r.operator === 'Gt' ? Number(v) > Number(values[0]) : Number(v) < Number(values[0]);
    }
    default:
      return false;
  }
}

function matchTerm(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  if (!exprs.every((r) => matchRequirement(r, labels))) return false;
  return fields.every((r) => r.key === 'metadata.name' && matchRequirement(r, { 'metadata.name': node.metadata.name ?? '' }));
}

/** Whether a daemon pod should be placed on the node, and whether one already there may stay. */
export interface NodeFit {
  shouldRun: boolean;
  shouldContinueRunning: boolean;
}

/**
 * Kubernetes' NodeShouldRunDaemonPod: the node selector and required node
 * affinity must match; an untolerated NoSchedule taint keeps new pods off
 * (an existing one stays); an untolerated NoExecute taint removes it too.
 */
export function nodeShouldRunDaemonPod(node: Node, ds: DaemonSet): NodeFit {
  const spec = ds.spec?.template?.spec;
  const no = { shouldRun: false, shouldContinueRunning: false };
  if (!spec) return no;
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return no;
  const required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && !(required.nodeSelectorTerms ?? []).some((t) => matchTerm(t, node))) return no;
  const tolerations = withDaemonTolerations(spec);
  let shouldRun = true;
  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (tolerations.some((t) => toleratesTaint(t, taint))) continue;
    if (taint.effect === 'NoExecute') return no;
    shouldRun = false;
  }
  return { shouldRun, shouldContinueRunning: true };
}

/**
 * The required node affinity that pins a pod to one node, as Kubernetes'
 * daemon controller writes it: the template's terms with their
 * `metadata.name` field requirement replaced (the default scheduler binds it).
 */
export function pinToNode(spec: PodSpec, nodeName: string): void {
  const pin: NodeSelectorRequirement = { key: 'metadata.name', operator: 'In', values: [nodeName] };
  spec.affinity ??= {};
  spec.affinity.nodeAffinity ??= {};
  const na = spec.affinity.nodeAffinity;
  const terms = na.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const next: NodeSelectorTerm[] = terms.length
    ? terms.map((t) => ({ ...t, matchFields: [...(t.matchFields ?? []).filter((f) => f.key !== 'metadata.name'), pin] }))
    : [{ matchFields: [pin] }];
  na.requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms: next };
}

/** The node a daemon pod is for: its nodeName, or the node its `metadata.name` affinity pins it to. */
export function targetNode(pod: Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  for (const t of pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const f of t.matchFields ?? []) if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
  }
  return undefined;
}

/** The spec of the daemon pod for `nodeName`: the template's, pinned to the node, with the daemon tolerations. */
export function daemonPodSpec(ds: DaemonSet, nodeName: string): PodSpec {
  const spec = deepCopy(ds.spec!.template.spec);
  spec.tolerations = withDaemonTolerations(spec);
  pinToNode(spec, nodeName);
  return spec;
}

/** An int-or-percent of `total`; percentages round up (as Kubernetes does for DaemonSet maxUnavailable and maxSurge). */
export function scaledValue(v: number | string | undefined, total: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  return m ? Math.ceil((Number(m[1]) * total) / 100) : fallback;
}
