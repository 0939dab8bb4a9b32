/**
 * PodTopologySpread: a pod's `topologySpreadConstraints` spread the pods its
 * label selector matches (in its namespace) over the values ("domains") of
 * a node label. A DoNotSchedule constraint is a filter — a node is refused
 * when placing the pod there would leave its domain more than maxSkew above
 * the emptiest domain, or when the node lacks the label; a ScheduleAnyway
 * constraint is a score — the fewer matching pods in a node's domain, the
 * better. Domains are the label values of the nodes the pod could go to by
 * its nodeSelector and required node affinity (nodeAffinityPolicy Honor, as
 * Kubernetes' default). minDomains and matchLabelKeys are not implemented.
 */
import { labelSelectorFromObject, type TopologySpreadConstraint } from '@flotilla/api';
import { nodeAffinity, type Filter } from './filters.js';
import { MAX_NODE_SCORE, type Score } from './scores.js';
import type { NodeInfo, PodInfo } from './snapshot.js';

/** One constraint with its matching pods counted per domain. */
interface CountedConstraint {
  c: TopologySpreadConstraint;
  /** Domain (label value) → matching pods there, for every eligible domain (zeros included). */
  counts: Map<string, number>;
  /** The emptiest eligible domain's count. */
  min: number;
}

/** The constraints of the pod that can be applied (a topology key, a positive maxSkew). */
function constraintsOf(pod: PodInfo): TopologySpreadConstraint[] {
  const list = pod.pod.spec?.topologySpreadConstraints;
  if (!Array.isArray(list)) return [];
  return list.filter((c) => c && typeof c.topologyKey === 'string' && c.topologyKey !== '' && typeof c.maxSkew === 'number' && c.maxSkew > 0);
}

/** Counts, per constraint, the pods it selects in each domain of the nodes the pod may use. */
function count(pod: PodInfo, nodes: readonly NodeInfo[], constraints: TopologySpreadConstraint[]): CountedConstraint[] {
  const ns = pod.pod.metadata.namespace;
  const eligible = nodes.filter((ni) => ni.node && nodeAffinity.filter(pod, ni).length === 0);
  return constraints.map((c) => {
    // No selector matches nothing, as Kubernetes reads a nil selector here.
    const selector = c.labelSelector ? labelSelectorFromObject(c.labelSelector) : undefined;
    const counts = new Map<string, number>();
    for (const ni of eligible) {
      const domain = ni.node!.metadata.labels?.[c.topologyKey];
      if (domain === undefined) continue;
      let n = counts.get(domain) ?? 0;
      if (selector) {
        for (const p of ni.pods.values()) {
          if (p.key !== pod.key && p.pod.metadata.namespace === ns && !p.pod.metadata.deletionTimestamp && selector.matches(p.pod.metadata.labels ?? {})) n++;
        }
      }
      counts.set(domain, n);
    }
    let min = Infinity;
    for (const n of counts.values()) if (n < min) min = n;
    return { c, counts, min: min === Infinity ? 0 : min };
  });
}

/** True when the pod itself counts towards a constraint (its own labels match the selector), as Kubernetes' selfMatchNum. */
function selfMatch(pod: PodInfo, c: TopologySpreadConstraint): number {
  return c.labelSelector && labelSelectorFromObject(c.labelSelector).matches(pod.pod.metadata.labels ?? {}) ? 1 : 0;
}

/** The filter and score of one scheduling decision; undefined when the pod has no constraints. */
export interface SpreadPlugins {
  filter: Filter | undefined;
  score: Score | undefined;
}

/**
 * The PodTopologySpread filter and score for `pod` over the whole cluster
 * (`nodes`, all of them, not just those the decision looks at): counted once
 * per decision, then read per node.
 */
export function topologySpread(pod: PodInfo, nodes: readonly NodeInfo[], weight = 2): SpreadPlugins | undefined {
  const constraints = constraintsOf(pod);
  if (constraints.length === 0) return undefined;
  const counted = count(pod, nodes, constraints);
  const hard = counted.filter((k) => k.c.whenUnsatisfiable !== 'ScheduleAnyway');
  const soft = counted.filter((k) => k.c.whenUnsatisfiable === 'ScheduleAnyway');
  const filter: Filter | undefined = hard.length
    ? {
        name: 'PodTopologySpread',
        filter(p, ni) {
          const reasons: string[] = [];
          for (const k of hard) {
            const domain = ni.node?.metadata.labels?.[k.c.topologyKey];
            if (domain === undefined) {
              reasons.push(`node(s) didn't have the label ${k.c.topologyKey} of a topology spread constraint`);
              continue;
            }
            const skew = (k.counts.get(domain) ?? 0) + selfMatch(p, k.c) - k.min;
            if (skew > k.c.maxSkew) reasons.push(`node(s) didn't match pod topology spread constraints (${k.c.topologyKey}=${domain}: skew ${skew} > maxSkew ${k.c.maxSkew})`);
          }
          return reasons;
        },
      }
    : undefined;
  const score: Score | undefined = soft.length
    ? {
        name: 'PodTopologySpread',
        weight,
        // Raw: matching pods in the node's domains (a node without the label counts as the fullest).
        score(_p, ni) {
          let total = 0;
          for (const k of soft) {
            const domain = ni.node?.metadata.labels?.[k.c.topologyKey];
            let most = 0;
            for (const n of k.counts.values()) if (n > most) most = n;
            total += domain === undefined ? most + 1 : (k.counts.get(domain) ?? 0);
          }
          return total;
        },
        normalize(_p, scores) {
          let max = 0;
          let min = Infinity;
          for (const s of scores) {
            if (s > max) max = s;
            if (s < min) min = s;
          }
          for (let i = 0; i < scores.length; i++) scores[i] = max === min ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max - scores[i]!)) / (max - min));
        },
      }
    : undefined;
  return { filter, score };
}
