/**
 * One scheduling decision: filter the nodes, score the ones left, pick the
 * best. Pure over the snapshot; binding is the caller's business.
 */
import type { Pod } from '@flotilla/api';
import { DEFAULT_FILTERS, type Filter } from './filters.js';
import { defaultScores, type Score } from './scores.js';
import { toPodInfo, type NodeInfo, type PodInfo, type Snapshot } from './snapshot.js';

/** The pod fits: bind it here. */
export interface ScheduleSuccess {
  node: string;
  unschedulable?: undefined;
}

/** No node fits: why, per node, and a Kubernetes-style summary. */
export interface ScheduleFailure {
  unschedulable: true;
  node?: undefined;
  /** Node name → every reason it was filtered out. */
  reasons: Record<string, string[]>;
  /** `0/3 nodes are available: node-2: cpu wants 500m, 200m free; node-3: taint dedicated=gpu not tolerated.` */
  message: string;
}

/** The outcome of schedule(). */
export type ScheduleResult = ScheduleSuccess | ScheduleFailure;

/** The plugins a decision uses; the defaults match the design. */
export interface ScheduleOptions {
  filters?: readonly Filter[];
  scores?: readonly Score[];
  /** How many nodes the failure message names before summarising the rest. */
  maxNodesInMessage?: number;
}

// 32-bit FNV-1a: cheap, stable across processes, and good enough to spread ties.
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Breaks ties between equally scored nodes by a hash of (pod, node): the
 * same pod always gets the same node (deterministic, testable) while
 * different pods pick different nodes among equals (spread).
 */
export function tieBreakRank(podKey: string, nodeName: string): number {
  return fnv1a(nodeName, fnv1a(podKey + '\u0000'));
}

/** Runs every filter on one node and returns all reasons it fails (empty when it fits). */
export function filterNode(pod: PodInfo, ni: NodeInfo, filters: readonly Filter[] = DEFAULT_FILTERS): string[] {
  let reasons: string[] | undefined;
  for (const f of filters) {
    const r = f.filter(pod, ni);
    if (r.length) (reasons ??= []).push(...r);
  }
  return reasons ?? [];
}

/** The Kubernetes-style summary of a failed decision. */
export function failureMessage(total: number, reasons: Record<string, string[]>, maxNodes = 10): string {
  if (total === 0) return '0/0 nodes are available: no nodes available to schedule pods.';
  const names = Object.keys(reasons).sort();
  const parts = names.slice(0, maxNodes).map((n) => `${n}: ${reasons[n]!.join(' and ')}`);
  if (names.length > maxNodes) {
    // Name a few nodes and count the rest by reason, so a 1,000-node message stays readable.
    const counts = new Map<string, number>();
    for (const n of names.slice(maxNodes)) {
      for (const r of reasons[n]!) {
        // Per-node numbers differ; count by the kind of reason, like Kubernetes' "3 Insufficient cpu".
        const kind = r.replace(/^(cpu|memory) wants .*$/, 'insufficient $1').replace(/: \d+ of \d+ in use$/, '');
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
      }
    }
    const summary = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k, c]) => `${c} ${k}`);
    parts.push(`and ${names.length - maxNodes} more node(s): ${summary.join(', ')}`);
  }
  return `0/${total} nodes are available: ${parts.join('; ')}.`;
}

/**
 * Chooses a node for the pod from the snapshot, or explains per node why
 * none fits. Cost: one pass of the filters and scores over the nodes.
 */
export function schedule(pod: Pod | PodInfo, snapshot: Snapshot, options: ScheduleOptions = {}): ScheduleResult {
  const pi = toPodInfo(pod);
  const filters = options.filters ?? DEFAULT_FILTERS;
  const scores = options.scores ?? defaultScores();
  const nodes = snapshot.nodes();

  const feasible: NodeInfo[] = [];
  const reasons: Record<string, string[]> = {};
  for (const ni of nodes) {
    const r = filterNode(pi, ni, filters);
    if (r.length) reasons[ni.name] = r;
    else feasible.push(ni);
  }
  if (feasible.length === 0) {
    return { unschedulable: true, reasons, message: failureMessage(nodes.length, reasons, options.maxNodesInMessage) };
  }
  if (feasible.length === 1) return { node: feasible[0]!.name };

  const total = new Array<number>(feasible.length).fill(0);
  const raw = new Array<number>(feasible.length);
  for (const s of scores) {
    for (let i = 0; i < feasible.length; i++) raw[i] = s.score(pi, feasible[i]!);
    s.normalize?.(pi, raw);
    for (let i = 0; i < feasible.length; i++) total[i]! += s.weight * raw[i]!;
  }

  const tieKey = pi.pod.metadata.uid || pi.key;
  let best = 0;
  let bestRank = tieBreakRank(tieKey, feasible[0]!.name);
  for (let i = 1; i < feasible.length; i++) {
    if (total[i]! < total[best]!) continue;
    const rank = tieBreakRank(tieKey, feasible[i]!.name);
    if (total[i]! > total[best]! || rank < bestRank) {
      best = i;
      bestRank = rank;
    }
  }
  return { node: feasible[best]!.name };
}
