/**
 * Zone disruption, as Kubernetes' node-lifecycle controller judges it:
 * when many nodes of a zone go unready together the cause is more likely
 * the network between them and the control plane (or the control plane
 * itself) than the nodes, and evicting their pods would only make things
 * worse. Pure functions; the controller applies them.
 *
 * - FullDisruption: no node of the zone is ready. If *every* zone is so,
 *   the controller assumes its own view is broken ("master disruption"):
 *   it evicts nothing and lifts the NoExecute taints it set, and when any
 *   node comes back it restarts every node's grace period.
 * - PartialDisruption: more than 2 nodes and at least
 *   `unhealthyZoneThreshold` (55 %) of the zone unready: new NoExecute
 *   taints (evictions) are rate-limited to `secondaryRatePerSecond` nodes a
 *   second in zones over `largeClusterThreshold` nodes, and stopped in
 *   smaller ones.
 */
import type { Node } from '@flotilla/api';

/** A zone's health. */
export type ZoneState = 'Normal' | 'PartialDisruption' | 'FullDisruption';

/** Kubernetes' defaults (kube-controller-manager flags of the same names). */
export const DISRUPTION_DEFAULTS = {
  unhealthyZoneThreshold: 0.55,
  largeClusterSizeThreshold: 50,
  secondaryNodeEvictionRate: 0.01,
} as const;

/** The zone key of a node: region and zone labels, '' when it has none (Kubernetes' GetZoneKey). */
export function zoneOf(node: Node): string {
  const l = node.metadata.labels ?? {};
  const region = l['topology.kubernetes.io/region'] ?? l['failure-domain.beta.kubernetes.io/region'] ?? '';
  const zone = l['topology.kubernetes.io/zone'] ?? l['failure-domain.beta.kubernetes.io/zone'] ?? '';
  return region || zone ? `${region}:\x00:${zone}` : '';
}

/** Kubernetes' ComputeZoneState. */
export function zoneState(ready: number, notReady: number, unhealthyThreshold: number = DISRUPTION_DEFAULTS.unhealthyZoneThreshold): ZoneState {
  if (ready === 0 && notReady > 0) return 'FullDisruption';
  if (notReady > 2 && notReady / (ready + notReady) >= unhealthyThreshold) return 'PartialDisruption';
  return 'Normal';
}

/** Every zone fully disrupted (and at least one zone): the controller's own view is suspect. */
export function allFullyDisrupted(states: ReadonlyMap<string, ZoneState>): boolean {
  if (states.size === 0) return false;
  for (const s of states.values()) if (s !== 'FullDisruption') return false;
  return true;
}

/** Nodes per second that may get NoExecute taints in a zone of this state and size. Infinity = no limit. */
export function evictionRate(state: ZoneState, zoneSize: number, o: { largeClusterSizeThreshold?: number; secondaryNodeEvictionRate?: number } = {}): number {
  if (state !== 'PartialDisruption') return Number.POSITIVE_INFINITY;
  return zoneSize > (o.largeClusterSizeThreshold ?? DISRUPTION_DEFAULTS.largeClusterSizeThreshold) ? (o.secondaryNodeEvictionRate ?? DISRUPTION_DEFAULTS.secondaryNodeEvictionRate) : 0;
}

/** Counts ready / not-ready nodes per zone. */
export function zoneCounts(entries: Iterable<{ zone: string; ready: boolean }>): Map<string, { ready: number; notReady: number }> {
  const out = new Map<string, { ready: number; notReady: number }>();
  for (const e of entries) {
    const c = out.get(e.zone) ?? { ready: 0, notReady: 0 };
    if (e.ready) c.ready++;
    else c.notReady++;
    out.set(e.zone, c);
  }
  return out;
}
