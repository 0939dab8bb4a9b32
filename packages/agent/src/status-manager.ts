/**
 * Writes pod status through pods/{name}/status, only when it changed: the
 * last written status per pod uid is remembered (the informer cache may lag
 * our own writes), and a 409 re-reads the pod and tries again.
 */
import { isReason, jsonEqual, type Pod, type PodStatus } from '@flotilla/api';
import type { ApiClient, ResourceClient } from '@flotilla/client';
import type { AgentMetrics } from './metrics.js';

/** Drops fields that change without meaning (probe times) so comparisons (jsonEqual) see only real changes. */
function comparable(s: PodStatus | undefined): PodStatus | undefined {
  if (!s) return undefined;
  return { ...s, conditions: (s.conditions ?? []).map(({ lastProbeTime: _p, ...c }) => c) };
}

/** Writes pod statuses that changed. */
export class StatusManager {
  private readonly pods: ResourceClient<Pod>;
  /**
   * Our last write per pod uid, as the kubelet's status manager caches it:
   * the status, its comparable form, and the resourceVersion the write
   * produced (a newer pod whose status differs was changed by someone else).
   */
  private readonly last = new Map<string, { status: PodStatus; comparable: PodStatus | undefined; rv: number | undefined }>();

  constructor(
    client: ApiClient,
    private readonly metrics?: AgentMetrics,
  ) {
    this.pods = client.resource<Pod>({ apiVersion: 'v1', kind: 'Pod' });
  }

  /**
   * The status the next one should be computed from: the one we last wrote,
   * since the informer may not show it yet (computing from the stale copy
   * restamps startTime and transition times, which is a needless second write),
   * plus any condition others added since. The pod's own status until we wrote one.
   */
  base(pod: Pod): PodStatus | undefined {
    const mine = this.last.get(pod.metadata.uid ?? '')?.status;
    if (!mine) return pod.status;
    const others = (pod.status?.conditions ?? []).filter((c) => !mine.conditions?.some((x) => x.type === c.type));
    return others.length ? { ...mine, conditions: [...(mine.conditions ?? []), ...others] } : mine;
  }

  /**
   * True when `status` differs from what the pod shows and either from what
   * we last wrote or the pod is newer than our write (someone else changed
   * the status since, as the node-lifecycle controller's Ready=False on the
   * pods of a node it found silent: without this, a node that answers again
   * before its pods are evicted would keep them out of every Service; the
   * kubelet's status manager reconciles the same way).
   */
  changed(pod: Pod, status: PodStatus): boolean {
    const next = comparable(status);
    if (jsonEqual(comparable(pod.status), next)) return false;
    const mine = this.last.get(pod.metadata.uid ?? '');
    if (!mine || !jsonEqual(mine.comparable, next)) return true;
    const shown = Number(pod.metadata.resourceVersion);
    return mine.rv !== undefined && Number.isFinite(shown) && shown > mine.rv;
  }

  /** Writes `status` if it changed; returns the stored pod when it wrote, undefined when there was nothing to do or the pod is gone. */
  async write(pod: Pod, status: PodStatus): Promise<Pod | undefined> {
    if (!this.changed(pod, status)) return undefined;
    const uid = pod.metadata.uid ?? '';
    let current: Pod = pod;
    for (let attempt = 0; ; attempt++) {
      try {
        // Conditions written by others (the scheduler's PodScheduled) are kept.
        const others = (current.status?.conditions ?? []).filter((c) => !status.conditions?.some((x) => x.type === c.type));
        const body: Pod = { ...current, status: { ...status, conditions: [...(status.conditions ?? []), ...others] } };
        const out = await this.pods.updateStatus(body);
        const rv = Number(out.metadata.resourceVersion);
        this.last.set(uid, { status, comparable: comparable(status), rv: Number.isFinite(rv) ? rv : undefined });
        this.metrics?.statusWrites.inc();
        return out;
      } catch (err) {
        if (isReason(err, 'NotFound')) return undefined;
        if (!isReason(err, 'Conflict') || attempt >= 4) throw err;
        const fresh = await this.pods.get(pod.metadata.namespace, pod.metadata.name ?? '').catch((e: unknown) => {
          if (isReason(e, 'NotFound')) return undefined;
          throw e;
        });
        // A different uid is another pod of the same name: ours is gone.
        if (!fresh || fresh.metadata.uid !== uid) return undefined;
        current = fresh;
      }
    }
  }

  /** Forgets a pod (deleted). */
  forget(uid: string): void {
    this.last.delete(uid);
  }
}
