/**
 * Pure facts the Job controller works from: finished pods, the pod-failure
 * back-off, the `completedIndexes` text form, and Job conditions.
 */
import { getCondition, JOB_COMPLETION_INDEX, type Condition, type Job, type Pod } from '@flotilla/api';

/** First delay before a failed Job pod is replaced (Kubernetes' DefaultJobPodFailureBackOff). */
export const JOB_BACKOFF_BASE_MS = 10_000;
/** The longest delay (Kubernetes' MaxJobPodFailureBackOff). */
export const JOB_BACKOFF_MAX_MS = 360_000;

/** Delay before the next pod after `failures` consecutive failures: 0, 10 s, 20 s, 40 s, … at most 6 min. */
export function jobBackoffDelay(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(JOB_BACKOFF_MAX_MS, JOB_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30));
}

/** A pod that will not run any more: Succeeded, Failed, or being deleted. */
export function isPodFinished(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' || !!p.metadata.deletionTimestamp;
}

/** When a finished pod finished (its last container's finishedAt), or undefined. */
export function podFinishTime(p: Pod): number | undefined {
  let last: number | undefined;
  for (const cs of p.status?.containerStatuses ?? []) {
    const t = Date.parse((cs.state as { terminated?: { finishedAt?: string } } | undefined)?.terminated?.finishedAt ?? '');
    if (!Number.isNaN(t) && (last === undefined || t > last)) last = t;
  }
  return last;
}

/** The completion index of a pod of an Indexed Job, or undefined. */
export function podIndex(p: Pod): number | undefined {
  const raw = p.metadata.annotations?.[JOB_COMPLETION_INDEX] ?? p.metadata.labels?.[JOB_COMPLETION_INDEX];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** Parses `1,3-5,7` into the set of indexes (ignoring anything malformed or ≥ `max`). */
export function parseIndexes(text: string | undefined, max: number): Set<number> {
  const out = new Set<number>();
  for (const part of (text ?? '').split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b && i < max; i++) out.add(i);
  }
  return out;
}

/** Formats indexes as Kubernetes does: ascending, runs of three or more as `a-b`. */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(',');
}

/** True when the Job has a True Complete or Failed condition. */
export function isJobFinished(job: Job): boolean {
  return ['Complete', 'Failed'].some((t) => getCondition(job.status?.conditions, t)?.status === 'True');
}

/** When the Job finished (completionTime, else the Failed condition's transition), or undefined. */
export function jobFinishTime(job: Job): number | undefined {
  const t = Date.parse(job.status?.completionTime ?? getCondition(job.status?.conditions, 'Failed')?.lastTransitionTime ?? '');
  return Number.isNaN(t) ? undefined : t;
}

/** A Job condition as Kubernetes writes it (lastProbeTime and lastTransitionTime both set). */
export function jobCondition(type: string, status: Condition['status'], reason: string, message: string, at: string): Condition {
  return { type, status, lastProbeTime: at, lastTransitionTime: at, reason, message };
}

/** Container restarts of the active pods: with restartPolicy OnFailure these count toward backoffLimit. */
export function restartsOf(pods: readonly Pod[]): number {
  let n = 0;
  for (const p of pods) for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) n += cs.restartCount ?? 0;
  return n;
}
