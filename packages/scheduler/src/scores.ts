/**
 * Scores: each rates every feasible node 0–100 for a pod; schedule() adds
 * them up by weight. A score may look at all feasible nodes at once
 * (normalize) when its meaning is relative, like spreading.
 */
import type { NodeInfo, PodInfo } from './snapshot.js';

/** The highest score a node can get from one plugin (Kubernetes' MaxNodeScore). */
export const MAX_NODE_SCORE = 100;

/** One score plugin. */
export interface Score {
  name: string;
  weight: number;
  /** The raw score of one node. */
  score(pod: PodInfo, node: NodeInfo): number;
  /** Rewrites the raw scores of all feasible nodes in place into 0–100, when the raw score is relative. */
  normalize?(pod: PodInfo, scores: number[]): void;
  /**
   * Kubernetes' PreScore `Skip`: true when, for this pod, the score would be
   * the same on every node, so it cannot change the pick and schedule() does
   * not compute it.
   */
  skip?(pod: PodInfo): boolean;
}

/** Kubernetes' leastRequestedScore for one resource: the free share after placing the pod, 0–100. */
export function leastRequestedScore(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/**
 * LeastAllocated (NodeResourcesFit's default scoring strategy): prefers the
 * node with the most CPU and memory left once the pod is on it, counting
 * request-less containers at the Kubernetes defaults so they still spread.
 */
export function leastAllocated(weight = 1): Score {
  return {
    name: 'LeastAllocated',
    weight,
    score(pod, ni) {
      const cpu = leastRequestedScore(ni.nonZeroRequested.milliCPU + pod.nonZeroRequest.milliCPU, ni.allocatable.milliCPU);
      const mem = leastRequestedScore(ni.nonZeroRequested.memory + pod.nonZeroRequest.memory, ni.allocatable.memory);
      return Math.floor((cpu + mem) / 2);
    },
  };
}

/**
 * SelectorSpread-lite: the fewer pods of the same controller (by
 * ownerReference uid) a node already runs, the higher it scores, so a
 * ReplicaSet's replicas land on different nodes. Uniform for ownerless pods.
 */
export function ownerSpread(weight = 2): Score {
  return {
    name: 'OwnerSpread',
    weight,
    // Without an owner every node scores 0, normalised to 100 everywhere.
    skip: (pod) => !pod.ownerUid,
    score(pod, ni) {
      return pod.ownerUid ? (ni.ownerCounts.get(pod.ownerUid) ?? 0) : 0;
    },
    normalize(_pod, scores) {
      let max = 0;
      for (const s of scores) if (s > max) max = s;
      for (let i = 0; i < scores.length; i++) {
        scores[i] = max === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max - scores[i]!)) / max);
      }
    },
  };
}

/** The default scores: resources weight 1, spreading weight 2 (as PodTopologySpread is weighted in Kubernetes). */
export function defaultScores(): Score[] {
  return [leastAllocated(1), ownerSpread(2)];
}
