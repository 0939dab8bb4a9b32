/**
 * Filters: each decides whether a pod may go on a node and, when it may
 * not, says why in words a user can act on. An empty array means pass.
 * Pure functions of (pod, node); the per-pod facts come precomputed.
 */
import { formatCpu, formatMemory, type Node, type NodeSelectorRequirement, type NodeSelectorTerm, type Taint, type Toleration } from '@flotilla/api';
import type { NodeInfo, PodInfo } from './snapshot.js';
import { portKey } from './snapshot.js';

/** One filter plugin. */
export interface Filter {
  name: string;
  /** Reasons the pod cannot go on the node; empty when it can. */
  filter(pod: PodInfo, node: NodeInfo): string[];
  /**
   * Kubernetes' PreFilter `Skip`: true when, for this pod, the filter passes
   * every node a snapshot lists (a Node object known), so schedule() leaves
   * it out of its per-node loop.
   */
  skip?(pod: PodInfo): boolean;
  /**
   * True when the filter passes every plain node (Ready, schedulable, no
   * NoSchedule/NoExecute taint: NodeStaticInfo.plain) whatever the pod:
   * schedule() then runs it only on the other nodes.
   */
  passesPlainNodes?: boolean;
}

/** Taint the node lifecycle controller puts on a node whose Ready condition is False. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
/** Taint the node lifecycle controller puts on a node whose Ready condition is Unknown. */
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** Taint that stands for spec.unschedulable (a cordoned node). */
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

const PASS: string[] = [];

/** True when the toleration tolerates the taint (key, operator Equal/Exists, value, effect), as corev1's ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  // An empty key with Exists matches every taint; an empty key otherwise matches nothing.
  if (!t.key) return t.operator === 'Exists';
  if (t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** True when any of the tolerations tolerates the taint. */
export function tolerated(tolerations: readonly Toleration[], taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

function describeTaint(t: Taint): string {
  return t.value ? `${t.key}=${t.value}` : t.key;
}

/** Ready=True, and no not-ready/unreachable taint the pod does not tolerate. */
export const nodeReady: Filter = {
  name: 'NodeReady',
  passesPlainNodes: true,
  filter(pod, ni) {
    const st = ni.static;
    // The common case, a healthy untainted node, costs two field reads.
    if (st.readyStatus === 'True' && st.blockingTaints.length === 0) return PASS;
    let reasons: string[] | undefined;
    if (st.readyStatus !== 'True') (reasons ??= []).push(`node is not ready (Ready=${st.readyStatus})`);
    for (const taint of st.blockingTaints) {
      if ((taint.key === TAINT_NOT_READY || taint.key === TAINT_UNREACHABLE) && !tolerated(pod.tolerations, taint)) {
        (reasons ??= []).push(`taint ${describeTaint(taint)}:${taint.effect} not tolerated`);
      }
    }
    return reasons ?? PASS;
  },
};

/** A cordoned node (spec.unschedulable) takes only pods that tolerate the unschedulable taint. */
export const nodeUnschedulable: Filter = {
  name: 'NodeUnschedulable',
  passesPlainNodes: true,
  filter(pod, ni) {
    if (!ni.static.unschedulable) return PASS;
    if (tolerated(pod.tolerations, { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' })) return PASS;
    return ['node is unschedulable (cordoned)'];
  },
};

/** Requests fit in allocatable minus what the node's pods already request; one more pod fits under the pod limit. */
export const nodeResourcesFit: Filter = {
  name: 'NodeResourcesFit',
  filter(pod, ni) {
    let reasons: string[] | undefined;
    if (ni.pods.size + 1 > ni.allocatable.pods) {
      (reasons ??= []).push(`too many pods: ${ni.pods.size} of ${ni.allocatable.pods} in use`);
    }
    const freeCpu = ni.allocatable.milliCPU - ni.requested.milliCPU;
    if (pod.request.milliCPU > 0 && pod.request.milliCPU > freeCpu) {
      (reasons ??= []).push(`cpu wants ${formatCpu(pod.request.milliCPU)}, ${formatCpu(Math.max(0, freeCpu))} free`);
    }
    const freeMem = ni.allocatable.memory - ni.requested.memory;
    if (pod.request.memory > 0 && pod.request.memory > freeMem) {
      (reasons ??= []).push(`memory wants ${formatMemory(pod.request.memory)}, ${formatMemory(Math.max(0, freeMem))} free`);
    }
    return reasons ?? PASS;
  },
};

/** Whether one node selector requirement holds for the given labels (In/NotIn/Exists/DoesNotExist/Gt/Lt). */
export function matchRequirement(req: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  const value = labels[req.key];
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && values.includes(value!);
    case 'NotIn':
      return !has || !values.includes(value!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      // Both sides must be integers; anything else never matches, as in Kubernetes.
      if (!has || values.length !== 1 || !/^-?\d+$/.test(value!) || !/^-?\d+$/.test(values[0]!)) return false;
      const a = Number(value);
      const b = Number(values[0]);
      return req.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** Whether a node selector term matches: every expression (on labels) and every field requirement (metadata.name) holds. */
export function matchTerm(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  // An empty term selects nothing (Kubernetes: "a null or empty node selector term matches no objects").
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of exprs) if (!matchRequirement(r, labels)) return false;
  if (fields.length) {
    const fieldLabels = { 'metadata.name': node.metadata.name ?? '' };
    for (const r of fields) if (r.key !== 'metadata.name' || !matchRequirement(r, fieldLabels)) return false;
  }
  return true;
}

/** spec.nodeSelector labels all present, and at least one required nodeAffinity term matches. */
export const nodeAffinity: Filter = {
  name: 'NodeAffinity',
  skip: (pod) => pod.nodeSelector.length === 0 && !pod.requiredNodeTerms,
  filter(pod, ni) {
    const node = ni.node;
    if (!node) return ['node is unknown'];
    if (pod.nodeSelector.length === 0 && !pod.requiredNodeTerms) return PASS;
    const labels = ni.static.labels;
    let reasons: string[] | undefined;
    for (const [k, v] of pod.nodeSelector) {
      if (labels[k] !== v) (reasons ??= []).push(`nodeSelector ${k}=${v} not matched`);
    }
    const required = pod.requiredNodeTerms;
    if (required && !required.some((t) => matchTerm(t, node))) {
      (reasons ??= []).push('required node affinity not matched');
    }
    return reasons ?? PASS;
  },
};

/**
 * Every NoSchedule/NoExecute taint must be tolerated (PreferNoSchedule only
 * lowers preference). The not-ready/unreachable taints are NodeReady's to
 * report, so a sick node gives one reason, not two.
 */
export const taintToleration: Filter = {
  name: 'TaintToleration',
  passesPlainNodes: true,
  filter(pod, ni) {
    const taints = ni.static.blockingTaints;
    if (taints.length === 0) return PASS;
    let reasons: string[] | undefined;
    for (const taint of taints) {
      if (taint.key === TAINT_NOT_READY || taint.key === TAINT_UNREACHABLE) continue;
      if (!tolerated(pod.tolerations, taint)) (reasons ??= []).push(`taint ${describeTaint(taint)} not tolerated`);
    }
    return reasons ?? PASS;
  },
};

/** No host port of the pod is already taken on the node for the same protocol and an overlapping host IP (0.0.0.0 overlaps all). */
export const nodePorts: Filter = {
  name: 'NodePorts',
  skip: (pod) => pod.hostPorts.length === 0,
  filter(pod, ni) {
    if (pod.hostPorts.length === 0 || ni.usedPorts.size === 0) return PASS;
    let reasons: string[] | undefined;
    for (const hp of pod.hostPorts) {
      const ips = ni.usedPorts.get(portKey(hp));
      if (!ips) continue;
      if (hp.hostIP === '0.0.0.0' || ips.has('0.0.0.0') || ips.has(hp.hostIP)) {
        (reasons ??= []).push(`host port ${hp.hostIP === '0.0.0.0' ? '' : `${hp.hostIP}:`}${hp.port}/${hp.protocol} in use`);
      }
    }
    return reasons ?? PASS;
  },
};

/** The default filters, in the order their reasons are reported. */
export const DEFAULT_FILTERS: readonly Filter[] = [nodeReady, nodeUnschedulable, nodeResourcesFit, nodeAffinity, taintToleration, nodePorts];
