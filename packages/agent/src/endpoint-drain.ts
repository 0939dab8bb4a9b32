/**
 * Before a deleted pod's containers get SIGTERM, wait until no host sends
 * it new connections: every proxy that is alive (fresh Lease) must report
 * that it has applied an EndpointSlice revision at which this pod is no
 * longer `ready`. Kubernetes signals the pod at once and relies on users
 * adding a `preStop: sleep`; here the wait is measured, not guessed, and
 * bounded by the pod's grace period (the time spent counts against it).
 */
import { appliedRevision, leaseFresh, PROXY_LEASE_LABEL, PROXY_LEASE_NAMESPACE, type EndpointSlice, type Lease, type Pod } from '@flotilla/api';
import type { ApiClient } from '@flotilla/client';

/** How the drain ended. */
export type DrainOutcome = 'no-proxies' | 'not-an-endpoint' | 'applied' | 'timeout';

/** Options of waitForEndpointDrain. */
export interface EndpointDrainOptions {
  client: ApiClient;
  /** Wall clock, ms. */
  now?: () => number;
  /** Pause between two looks. Default 50 ms. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** What one look found: done (and why), or still waiting. */
export interface DrainCheck {
  done: boolean;
  outcome?: Exclude<DrainOutcome, 'timeout'>;
  /** The revision every proxy must have applied (when known). */
  revision?: number;
  /** Proxies not there yet. */
  waitingFor?: string[];
}

/**
 * One look (pure over what was listed): `slices` of the pod's namespace,
 * `leases` of the proxies. Done when no proxy is alive, when the pod is in
 * no slice, or when every live proxy applied a revision at which every
 * slice holding the pod says it is not ready.
 */
export function checkDrain(pod: Pod, slices: readonly EndpointSlice[], leases: readonly Lease[], nowMs: number): DrainCheck {
  const live = leases.filter((l) => leaseFresh(l, nowMs));
  if (live.length === 0) return { done: true, outcome: 'no-proxies' };
  const uid = pod.metadata.uid;
  let revision = 0;
  let found = false;
  for (const s of slices) {
    const ep = (s.endpoints ?? []).find((e) => e.targetRef?.kind === 'Pod' && (uid ? e.targetRef.uid === uid : e.targetRef.name === pod.metadata.name));
    if (!ep) continue;
    found = true;
    // Still ready here: the EndpointSlice controller has not caught up yet.
    if (ep.conditions?.ready !== false) return { done: false, waitingFor: ['endpointslice-controller'] };
    revision = Math.max(revision, Number(s.metadata.resourceVersion) || 0);
  }
  if (!found) return { done: true, outcome: 'not-an-endpoint' };
  const behind = live.filter((l) => appliedRevision(l) < revision).map((l) => l.spec?.holderIdentity ?? l.metadata.name!);
  return behind.length === 0 ? { done: true, outcome: 'applied', revision } : { done: false, revision, waitingFor: behind };
}

/** Waits (at most `budgetMs`) until no live proxy sends `pod` new connections; never throws on API errors (they count as "not yet"). */
export async function waitForEndpointDrain(pod: Pod, budgetMs: number, options: EndpointDrainOptions): Promise<{ outcome: DrainOutcome; waitedMs: number; last?: DrainCheck }> {
  const now = options.now ?? Date.now;
  const start = now();
  const poll = options.pollMs ?? 50;
  const slicesApi = options.client.resource<EndpointSlice>('endpointslices');
  const leasesApi = options.client.resource<Lease>('leases');
  let last: DrainCheck | undefined;
  while (!options.signal?.aborted) {
    try {
      const leases = (await leasesApi.list(PROXY_LEASE_NAMESPACE, { labelSelector: `${PROXY_LEASE_LABEL}=proxy` })).items;
      const slices = leases.length ? (await slicesApi.list(pod.metadata.namespace)).items : [];
      last = checkDrain(pod, slices, leases, now());
      if (last.done) return { outcome: last.outcome!, waitedMs: now() - start, last };
    } catch {
      // The API is unreachable or refused: keep trying within the budget.
    }
    if (now() - start + poll > budgetMs) break;
    await new Promise((r) => setTimeout(r, poll));
  }
  return { outcome: 'timeout', waitedMs: now() - start, last };
}
