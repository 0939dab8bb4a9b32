/**
 * One scheduling decision: filter the nodes, score the ones left, pick the
 * best. Pure over the snapshot; binding is the caller's business.
 */
import type { Pod } from '@flotilla/api';
import { DEFAULT_FILTERS, type Filter } from './filters.js';
import { defaultScores, type Score } from './scores.js';
import { toPodInfo, type NodeInfo, type PodInfo, type Snapshot } from './snapshot.js';
import { topologySpread } from './topology-spread.js';

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

/** Where the next decision starts its walk over the node list; schedule() advances it past the nodes it looked at. */
export interface NodeCursor {
  next: number;
}

/** The plugins a decision uses; the defaults match the design. */
export interface ScheduleOptions {
  filters?: readonly Filter[];
  scores?: readonly Score[];
  /** How many nodes the failure message names before summarising the rest. */
  maxNodesInMessage?: number;
  /**
   * Kubernetes' percentageOfNodesToScore: stop filtering once this share of
   * the nodes is found feasible and score only those. 0 or unset: adaptive,
   * 50% minus 1% per 125 nodes, at least 5%; 100: every node. Clusters
   * under 100 nodes are always searched whole.
   */
  percentageOfNodesToScore?: number;
  /**
   * Rotating start of the search (Kubernetes' nextStartNodeIndex), so that
   * sampled decisions cover the whole cluster over successive pods. Without
   * it every search starts at the first node.
   */
  cursor?: NodeCursor;
}

/** Kubernetes' minFeasibleNodesToFind: decisions in smaller clusters look at every node. */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
/** Kubernetes' minFeasibleNodesPercentageToFind: the adaptive percentage never drops below this. */
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;

/**
 * How many feasible nodes a decision looks for before it stops filtering,
 * as Kubernetes' numFeasibleNodesToFind: every node below 100 nodes,
 * otherwise `percentage` of them (adaptive when 0) but never fewer than 100.
 * Scoring 420 of 1,000 equal hollow nodes instead of all of them loses
 * nothing that matters and saves more than half of the work.
 */
export function numFeasibleNodesToFind(total: number, percentage = 0): number {
  if (total < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100) return total;
  let pct = percentage;
  if (pct <= 0) pct = Math.max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, 50 - Math.floor(total / 125));
  const n = Math.floor((total * pct) / 100);
  return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

const DEFAULT_SCORES: readonly Score[] = defaultScores();

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
  return fnv1a(nodeName, tieBreakSeed(podKey));
}

// The pod's half of tieBreakRank, computed once per decision rather than once per node.
function tieBreakSeed(podKey: string): number {
  return fnv1a(podKey + '\u0000');
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
 * none fits. Cost: one pass of the filters over the nodes until enough are
 * feasible (see numFeasibleNodesToFind), then the scores over those.
 */
export function schedule(pod: Pod | PodInfo, snapshot: Snapshot, options: ScheduleOptions = {}): ScheduleResult {
  const pi = toPodInfo(pod);
  const nodes = snapshot.nodes();
  // Topology spread needs cluster-wide counts: computed once here, only for pods that ask for it.
  const spread = topologySpread(pi, nodes);
  const baseFilters = options.filters ?? DEFAULT_FILTERS;
  const baseScores = options.scores ?? DEFAULT_SCORES;
  // Filters and scores that cannot tell nodes apart for this pod (PreFilter/PreScore Skip) stay out of the per-node loops.
  const filters = (spread?.filter ? [...baseFilters, spread.filter] : baseFilters).filter((f) => !f.skip?.(pi));
  // On a plain node (Ready, schedulable, untainted: most of them) the node-only checks pass for every pod.
  const plainFilters = filters.filter((f) => !f.passesPlainNodes);
  const scores = (spread?.score ? [...baseScores, spread.score] : baseScores).filter((s) => !s.skip?.(pi));
  const total = nodes.length;
  const wanted = numFeasibleNodesToFind(total, options.percentageOfNodesToScore);
  const cursor = options.cursor;

  const feasible: NodeInfo[] = [];
  let reasons: Record<string, string[]> | undefined;
  let i = cursor && total > 0 ? cursor.next % total : 0;
  let processed = 0;
  while (processed < total && feasible.length < wanted) {
    const ni = nodes[i]!;
    const r = filterNode(pi, ni, ni.static.plain ? plainFilters : filters);
    if (r.length) (reasons ??= {})[ni.name] = r;
    else feasible.push(ni);
    processed++;
    if (++i === total) i = 0;
  }
  if (cursor) cursor.next = i;
  if (feasible.length === 0) {
    const why = reasons ?? {};
    return { unschedulable: true, reasons: why, message: failureMessage(total, why, options.maxNodesInMessage) };
  }
  if (feasible.length === 1) return { node: feasible[0]!.name };

  const sum = new Array<number>(feasible.length).fill(0);
  const raw = new Array<number>(feasible.length);
  for (const s of scores) {
    for (let j = 0; j < feasible.length; j++) raw[j] = s.score(pi, feasible[j]!);
    s.normalize?.(pi, raw);
    for (let j = 0; j < feasible.length; j++) sum[j]! += s.weight * raw[j]!;
  }

  // Only nodes tied with the best so far need a hash.
  const seed = tieBreakSeed(pi.pod.metadata.uid || pi.key);
  let best = 0;
  let bestRank = -1;
  for (let j = 1; j < feasible.length; j++) {
    if (sum[j]! < sum[best]!) continue;
    if (sum[j]! > sum[best]!) {
      best = j;
      bestRank = -1;
      continue;
    }
    if (bestRank < 0) bestRank = fnv1a(feasible[best]!.name, seed);
    const rank = fnv1a(feasible[j]!.name, seed);
    if (rank < bestRank) {
      best = j;
      bestRank = rank;
    }
  }
  return { node: feasible[best]!.name };
}
