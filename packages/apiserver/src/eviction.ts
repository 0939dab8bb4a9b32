/**
 * `POST pods/{name}/eviction` (policy/v1 Eviction): a delete that honours
 * PodDisruptionBudgets, as Kubernetes' eviction REST does. A pod that is
 * already terminal, Pending or terminating is deleted without looking at
 * budgets; otherwise the one budget selecting it must allow a disruption
 * (status.disruptionsAllowed, kept by the disruption controller): the
 * allowance is taken with a compare-and-swap on the budget's status
 * (recording the pod in status.disruptedPods, so the controller does not
 * hand the allowance out again before it sees the pod go), then the pod is
 * deleted. No allowance → 429 TooManyRequests with a DisruptionBudget
 * cause; kubectl drain waits and retries.
 */
import { ApiError, badRequest, isPodReady, labelSelectorFromObject, type KubeObject, type Pod, type PodDisruptionBudget } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { RestHandlers, RestRequest, RestResponse } from './rest-handlers.js';

/** The 429 of a budget that allows no disruption now. */
function budgetExhausted(pdb: PodDisruptionBudget, why: string): ApiError {
  return new ApiError('TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
    causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${pdb.metadata.name} ${why}` }],
  });
}

function parseEviction(body: unknown, name: string): { deleteOptions?: Record<string, unknown> } {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  if (text.trim() === '') return {};
  let ev: { kind?: unknown; metadata?: { name?: unknown }; deleteOptions?: unknown };
  try {
    ev = JSON.parse(text);
  } catch {
    throw badRequest('the request body is not a JSON Eviction');
  }
  if (!ev || typeof ev !== 'object' || Array.isArray(ev)) throw badRequest('the request body must be an Eviction');
  if (ev.kind !== undefined && ev.kind !== 'Eviction') throw badRequest(`the request body must be an Eviction, not ${JSON.stringify(ev.kind)}`);
  if (ev.metadata?.name !== undefined && ev.metadata.name !== name) throw badRequest(`name in URL does not match name in Eviction object: ${JSON.stringify(name)} vs ${JSON.stringify(ev.metadata.name)}`);
  if (ev.deleteOptions !== undefined && (typeof ev.deleteOptions !== 'object' || ev.deleteOptions === null || Array.isArray(ev.deleteOptions))) throw badRequest('Eviction deleteOptions must be an object');
  return ev.deleteOptions ? { deleteOptions: ev.deleteOptions as Record<string, unknown> } : {};
}

/** The budgets of the pod's namespace whose selector matches it (an empty selector matches every pod, as in policy/v1). */
export function budgetsFor(pod: Pod, pdbs: readonly PodDisruptionBudget[]): PodDisruptionBudget[] {
  return pdbs.filter((p) => {
    try {
      return labelSelectorFromObject(p.spec?.selector ?? {}).matches(pod.metadata.labels ?? {});
    } catch {
      return false;
    }
  });
}

/** Serves one eviction: checks the budget, takes an allowance, deletes the pod. */
export async function evictPod(storage: Storage, handlers: RestHandlers, rest: RestRequest): Promise<RestResponse> {
  const namespace = rest.path.namespace!;
  const name = rest.path.name!;
  const { deleteOptions } = parseEviction(rest.body, name);
  const pod = (await storage.get('pods', namespace, name)) as Pod;
  const dryRun = rest.query.dryRun === 'All' || (Array.isArray(deleteOptions?.dryRun) && (deleteOptions!.dryRun as string[]).includes('All'));
  const phase = pod.status?.phase ?? 'Pending';
  // As Kubernetes: nothing to protect in a pod that is finished, not started or already going.
  const ignoreBudgets = phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || !!pod.metadata.deletionTimestamp;
  if (!ignoreBudgets) {
    const list = await storage.list('poddisruptionbudgets', namespace, {});
    const pdbs = budgetsFor(pod, list.items as KubeObject[] as PodDisruptionBudget[]);
    if (pdbs.length > 1) throw new ApiError('InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    const pdb = pdbs[0];
    if (pdb) await takeAllowance(storage, pdb, pod, dryRun);
  }
  const del: RestRequest = {
    ...rest,
    path: { ...rest.path, subresource: undefined },
    attrs: { ...rest.attrs, verb: 'delete', subresource: undefined },
    body: Buffer.from(JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', ...(deleteOptions ?? {}) })),
    contentType: 'application/json',
  };
  await handlers.delete(del);
  return { code: 201, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 } };
}

/** Takes one disruption from the budget (compare-and-swap on its status), or throws the 429. */
async function takeAllowance(storage: Storage, pdb: PodDisruptionBudget, pod: Pod, dryRun: boolean): Promise<void> {
  const name = pod.metadata.name!;
  const check = (p: PodDisruptionBudget): 'free' | 'take' => {
    const st = p.status;
    if ((st?.observedGeneration ?? 0) < (p.metadata.generation ?? 1)) throw budgetExhausted(p, 'is still being processed by the server.');
    // An unready pod may go while the budget is met (IfHealthyBudget), or always (AlwaysAllow): it is not keeping anything available.
    if (!isPodReady(pod)) {
      if (p.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow') return 'free';
      if ((st?.currentHealthy ?? 0) >= (st?.desiredHealthy ?? 0) && (st?.desiredHealthy ?? 0) > 0) return 'free';
    }
    if ((st?.disruptionsAllowed ?? 0) <= 0) throw budgetExhausted(p, `needs ${st?.desiredHealthy ?? 0} healthy pods and has ${st?.currentHealthy ?? 0} currently`);
    return 'take';
  };
  if (check(pdb) === 'free' || dryRun) return;
  await storage.guaranteedUpdate('poddisruptionbudgets', pdb.metadata.namespace, pdb.metadata.name!, (o) => {
    const p = o as PodDisruptionBudget;
    // Re-checked on the latest version: two evictions racing for the last allowance get one 429.
    if (check(p) === 'free') return p;
    const st = p.status!;
    st.disruptionsAllowed -= 1;
    st.disruptedPods = { ...(st.disruptedPods ?? {}), [name]: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    return p;
  });
}
