/**
 * Pod facts the ReplicaSet and Deployment controllers share: which pods
 * count, when a ready pod is "available", and which pods are worth least
 * when some must go (Kubernetes' ActivePodsWithRanks order).
 */
import { getCondition, isPodReady, type Pod } from '@flotilla/api';

/** Annotation that lets users bias which pods a scale-down removes first (lower cost goes first). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** True for pods that still count toward a controller's replicas: not finished and not being deleted. */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

/** When the pod last became Ready (ms since epoch), or undefined when it is not ready. */
export function podReadySince(pod: Pod): number | undefined {
  const c = getCondition(pod.status?.conditions, 'Ready');
  if (c?.status !== 'True') return undefined;
  const t = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

/**
 * True when the pod has been ready for at least `minReadySeconds` at `now`.
 * A ready pod without a transition time counts as available only when no
 * minimum is asked for, as in Kubernetes.
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  if (!isPodReady(pod)) return false;
  if (!minReadySeconds) return true;
  const since = podReadySince(pod);
  return since !== undefined && since + minReadySeconds * 1000 <= now;
}

/** Milliseconds until a ready-but-not-yet-available pod becomes available; undefined when that is not pending. */
export function msUntilAvailable(pod: Pod, minReadySeconds: number, now: number): number | undefined {
  if (!minReadySeconds || !isPodReady(pod)) return undefined;
  const since = podReadySince(pod);
  if (since === undefined) return undefined;
  const at = since + minReadySeconds * 1000;
  return at > now ? at - now : undefined;
}

/** Milliseconds until the first of `pods` becomes available; undefined when none is about to. */
export function msUntilFirstAvailable(pods: readonly Pod[], minReadySeconds: number, now: number): number | undefined {
  let next: number | undefined;
  for (const p of pods) {
    const ms = msUntilAvailable(p, minReadySeconds, now);
    if (ms !== undefined && (next === undefined || ms < next)) next = ms;
  }
  return next;
}

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function maxRestarts(pod: Pod): number {
  let max = 0;
  for (const cs of pod.status?.containerStatuses ?? []) max = Math.max(max, cs.restartCount ?? 0);
  return max;
}

function deletionCost(pod: Pod): number {
  const raw = pod.metadata.annotations?.[POD_DELETION_COST_ANNOTATION];
  const n = raw === undefined ? 0 : Number(raw);
  return Number.isInteger(n) ? n : 0;
}

function created(pod: Pod): number {
  const t = pod.metadata.creationTimestamp ? Date.parse(pod.metadata.creationTimestamp) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Compares two pods by how little they are worth keeping: negative when
 * `a` should be deleted before `b`. Order: unscheduled < scheduled,
 * Pending < Unknown < Running, not ready < ready, lower deletion cost,
 * more co-located siblings (rank) first, ready for less time, more
 * restarts, newer < older.
 */
export function compareForDeletion(a: Pod, b: Pod, rankA = 0, rankB = 0): number {
  const nodeA = a.spec?.nodeName ? 1 : 0;
  const nodeB = b.spec?.nodeName ? 1 : 0;
  if (nodeA !== nodeB) return nodeA - nodeB;
  const phaseA = PHASE_ORDINAL[a.status?.phase ?? 'Pending'] ?? 0;
  const phaseB = PHASE_ORDINAL[b.status?.phase ?? 'Pending'] ?? 0;
  if (phaseA !== phaseB) return phaseA - phaseB;
  const readyA = isPodReady(a) ? 1 : 0;
  const readyB = isPodReady(b) ? 1 : 0;
  if (readyA !== readyB) return readyA - readyB;
  const costA = deletionCost(a);
  const costB = deletionCost(b);
  if (costA !== costB) return costA - costB;
  if (rankA !== rankB) return rankB - rankA;
  if (readyA && readyB) {
    const ta = podReadySince(a);
    const tb = podReadySince(b);
    // Ready more recently = ready for less time = less valuable.
    if (ta !== undefined && tb !== undefined && ta !== tb) return tb - ta;
  }
  const ra = maxRestarts(a);
  const rb = maxRestarts(b);
  if (ra !== rb) return rb - ra;
  const ca = created(a);
  const cb = created(b);
  if (ca !== cb) return cb - ca;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? 1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? -1 : 0;
}

/**
 * The `count` pods to delete first. Pods sharing a node with more of
 * their siblings rank lower, so a scale-down also spreads what remains.
 */
export function podsToDelete(pods: readonly Pod[], count: number): Pod[] {
  if (count <= 0) return [];
  const perNode = new Map<string, number>();
  for (const p of pods) if (p.spec?.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
  const rank = (p: Pod) => (p.spec?.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0);
  return [...pods].sort((a, b) => compareForDeletion(a, b, rank(a), rank(b))).slice(0, count);
}
