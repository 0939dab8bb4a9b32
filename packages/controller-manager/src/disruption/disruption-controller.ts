/**
 * Disruption: keeps each PodDisruptionBudget's status — how many of the
 * pods it selects are healthy (Ready and not terminating), how many must
 * be, and so how many may be disrupted now (`disruptionsAllowed`), which
 * the eviction subresource spends. As in Kubernetes, the expected number
 * of pods is the pods' controllers' `spec.replicas` (a ReplicaSet's) for a
 * percentage or maxUnavailable, and the pod count for an integer
 * minAvailable; pods the eviction subresource recorded in
 * `status.disruptedPods` count as gone for two minutes or until they are.
 */
import {
  canonicalJson,
  jsonEqual,
  deepCopy,
  isPodReady,
  labelSelectorFromObject,
  resolveIntOrPercent,
  type Pod,
  type PodDisruptionBudget,
  type PodDisruptionBudgetStatus,
  type ReplicaSet,
} from '@flotilla/api';
import { Controller, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import type { ControllerDeps } from '../context.js';

/** How long an eviction's entry in status.disruptedPods keeps its pod counted as gone. */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60 * 1000;

/** The status a budget should have over `pods` (already filtered by its selector), `now` in ms. */
export function computeBudgetStatus(pdb: PodDisruptionBudget, pods: readonly Pod[], replicasOf: (ownerKind: string, ownerName: string) => number | undefined, now: number): PodDisruptionBudgetStatus {
  const spec = pdb.spec ?? {};
  const old = pdb.status?.disruptedPods ?? {};
  const disrupted: Record<string, string> = {};
  for (const [name, at] of Object.entries(old)) {
    const pod = pods.find((p) => p.metadata.name === name);
    if (pod && !pod.metadata.deletionTimestamp && now - Date.parse(at) < DISRUPTED_POD_TIMEOUT_MS) disrupted[name] = at;
  }
  const live = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const currentHealthy = live.filter((p) => isPodReady(p) && !p.metadata.deletionTimestamp && !(p.metadata.name! in disrupted)).length;
  let expectedPods = live.length;
  let desiredHealthy: number;
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null || typeof spec.minAvailable === 'string') {
    // Scale of the pods' controllers; pods without one count as one each.
    const owners = new Map<string, number>();
    let orphans = 0;
    for (const p of live) {
      const ref = p.metadata.ownerReferences?.find((r) => r.controller);
      const replicas = ref ? replicasOf(ref.kind, ref.name) : undefined;
      if (ref && replicas !== undefined) owners.set(`${ref.kind}/${ref.name}`, replicas);
      else orphans++;
    }
    expectedPods = [...owners.values()].reduce((a, b) => a + b, 0) + orphans;
    desiredHealthy = spec.maxUnavailable !== undefined && spec.maxUnavailable !== null
      ? Math.max(0, expectedPods - resolveIntOrPercent(spec.maxUnavailable, expectedPods, true))
      : resolveIntOrPercent(spec.minAvailable, expectedPods, true);
  } else {
    desiredHealthy = typeof spec.minAvailable === 'number' ? spec.minAvailable : 0;
  }
  const disruptionsAllowed = Math.max(0, currentHealthy - desiredHealthy);
  const status: PodDisruptionBudgetStatus = {
    observedGeneration: pdb.metadata.generation ?? 1,
    disruptionsAllowed,
    currentHealthy,
    desiredHealthy,
    expectedPods,
    ...(Object.keys(disrupted).length ? { disruptedPods: disrupted } : {}),
  };
  const allowed = disruptionsAllowed > 0;
  const prev = pdb.status?.conditions?.find((c) => c.type === 'DisruptionAllowed');
  const condStatus = allowed ? 'True' : 'False';
  status.conditions = [
    {
      type: 'DisruptionAllowed',
      status: condStatus,
      reason: allowed ? 'SufficientPods' : 'InsufficientPods',
      message: '',
      observedGeneration: status.observedGeneration,
      lastTransitionTime: prev && prev.status === condStatus && prev.lastTransitionTime ? prev.lastTransitionTime : new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'),
    },
  ];
  return status;
}

/** Keeps PodDisruptionBudget statuses current. */
export class DisruptionController {
  /** The work queue and workers (key: the budget's namespace/name). */
  readonly controller: Controller;
  private readonly pdbs: Informer<PodDisruptionBudget>;
  private readonly pods: Informer<Pod>;
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly api: ResourceClient<PodDisruptionBudget>;
  private readonly log: Logger;

  constructor(deps: ControllerDeps) {
    this.log = deps.logger;
    this.pdbs = deps.informers.informer<PodDisruptionBudget>('poddisruptionbudgets');
    this.pods = deps.informers.informer<Pod>('pods');
    this.replicaSets = deps.informers.informer<ReplicaSet>('replicasets');
    this.api = deps.client.resource<PodDisruptionBudget>('poddisruptionbudgets');
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'disruption',
      reconcile: deps.metrics ? deps.metrics.instrument('disruption', reconcile) : reconcile,
      informers: [this.pdbs, this.pods, this.replicaSets],
      workers: deps.workers ?? 2,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('disruption', this.controller.queue);
    this.pdbs.addEventHandler({
      onAdd: (p) => this.controller.enqueue(p),
      onUpdate: (_o, p) => this.controller.enqueue(p),
    });
    this.pods.addEventHandler({
      onAdd: (p) => this.enqueueBudgetsOf(p),
      onUpdate: (o, p) => {
        this.enqueueBudgetsOf(p);
        if (!jsonEqual(o.metadata.labels ?? {}, p.metadata.labels ?? {})) this.enqueueBudgetsOf(o);
      },
      onDelete: (p) => this.enqueueBudgetsOf(p),
    });
    this.replicaSets.addEventHandler({
      onUpdate: (o, rs) => {
        if (o.spec?.replicas === rs.spec?.replicas) return;
        for (const p of this.pdbs.store.byNamespace(rs.metadata.namespace ?? 'default')) this.controller.enqueue(p);
      },
    });
  }

  /** Runs the workers until `signal` aborts (informers are started by the manager). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private selects(pdb: PodDisruptionBudget, pod: Pod): boolean {
    try {
      return labelSelectorFromObject(pdb.spec?.selector ?? {}).matches(pod.metadata.labels ?? {});
    } catch {
      return false;
    }
  }

  private enqueueBudgetsOf(pod: Pod): void {
    for (const pdb of this.pdbs.store.byNamespace(pod.metadata.namespace ?? 'default')) if (this.selects(pdb, pod)) this.controller.enqueue(pdb);
  }

  /** One budget: recompute its status and write it when it changed. */
  async sync(key: string): Promise<{ requeueAfter?: number } | void> {
    const pdb = this.pdbs.store.get(key);
    if (!pdb) return;
    const ns = pdb.metadata.namespace ?? 'default';
    const pods = this.pods.store.byNamespace(ns).filter((p) => this.selects(pdb, p));
    const replicasOf = (kind: string, name: string) => (kind === 'ReplicaSet' ? this.replicaSets.store.get(`${ns}/${name}`)?.spec?.replicas ?? 1 : undefined);
    const status = computeBudgetStatus(pdb, pods, replicasOf, Date.now());
    const comparable = (s: PodDisruptionBudgetStatus | undefined) => canonicalJson({ ...(s ?? {}), conditions: (s?.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: undefined })) });
    if (comparable(pdb.status) !== comparable(status)) {
      const next = deepCopy(pdb) as PodDisruptionBudget;
      next.status = status;
      // A 409 (an eviction took an allowance meanwhile) re-runs the sync on the fresh object.
      await this.api.updateStatus(next);
      this.log.debug({ pdb: key, allowed: status.disruptionsAllowed, healthy: status.currentHealthy, desired: status.desiredHealthy }, 'budget status updated');
    }
    // Entries of disruptedPods expire: look again then.
    return status.disruptedPods ? { requeueAfter: 10_000 } : {};
  }
}
