/**
 * The ReplicaSet controller: keeps `spec.replicas` pods that match the
 * selector and carry the ReplicaSet's controller ownerReference, with
 * Kubernetes semantics — adoption and release, slow-start batched
 * creation, least-valuable-first deletion, expectations so a lagging cache
 * never causes over-creation, and status through `/status` only when it
 * changed.
 */
import {
  ApiError,
  canonicalJson,
  controllerRef,
  deepCopy,
  getCondition,
  isPodReady,
  isReason,
  nowTimestamp,
  objectKey,
  selectorFromSet,
  type Condition,
  type KubeObject,
  type Pod,
  type ReplicaSet,
  type ReplicaSetStatus,
} from '@flotilla/api';
import type { Informer, ReconcileResult, ResourceClient } from '@flotilla/client';
import { SelectorCache } from '../owner-lookup.js';
import { ownedBy, OwningController, watchDependents, type OwningControllerOptions } from '../owning-controller.js';
import { claim, newControllerRef } from './controller-ref.js';
import { Expectations } from './expectations.js';
import { isPodActive, isPodAvailable, msUntilFirstAvailable, podsToDelete } from './pod-util.js';

/** Kept here too, where importers of this package have always found it. */
export type { EventSink } from '../owning-controller.js';

/** Options of a ReplicaSetController. */
export interface ReplicaSetControllerOptions extends OwningControllerOptions {
  /** Parallel reconciles. Default 5, like kube-controller-manager's --concurrent-replicaset-syncs. */
  workers?: number;
  /** Most pods created or deleted in one reconcile (Kubernetes' burstReplicas). Default 500. */
  burstReplicas?: number;
  /** How long expectations may block a key before they are ignored. Default 5 minutes. */
  expectationsTimeoutMs?: number;
}

/** Index of pods that have no controller, by namespace: the orphans a ReplicaSet may adopt. */
export const ORPHAN_PODS_INDEX = 'flotilla.io/orphan-pods-by-namespace';

const RS_API_VERSION = 'apps/v1';
const RS_KIND = 'ReplicaSet';
const SLOW_START_INITIAL_BATCH = 1;

/** Runs `fn` `count` times in batches of 1, 2, 4, …; stops after the first batch with a failure. */
export async function slowStartBatch(count: number, initialBatch: number, fn: () => Promise<void>): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initialBatch); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += batch - failed.length;
    if (failed.length) return { successes, error: failed[0]!.reason };
    remaining -= batch;
  }
  return { successes };
}

function isNamespaceTerminating(err: unknown): boolean {
  return err instanceof ApiError && (err.status.details?.causes?.some((c) => c.reason === 'NamespaceTerminating') || (err.reason === 'Forbidden' && /being terminated/.test(err.message)));
}

const errText = (err: unknown) => (err as Error)?.message ?? String(err);

/** Keeps the pods of every ReplicaSet at `spec.replicas`. */
export class ReplicaSetController extends OwningController<ReplicaSet> {
  /** Outstanding creations/deletions per ReplicaSet key. */
  readonly expectations: Expectations;
  private readonly pods: ResourceClient<Pod>;
  private readonly replicaSets: ResourceClient<ReplicaSet>;
  private readonly podInformer: Informer<Pod>;
  private readonly rsInformer: Informer<ReplicaSet>;
  private readonly burst: number;
  private readonly selectors = new SelectorCache<ReplicaSet>();

  constructor(options: ReplicaSetControllerOptions) {
    super(options);
    this.burst = options.burstReplicas ?? 500;
    this.expectations = new Expectations(this.clock, options.expectationsTimeoutMs);
    this.pods = options.client.resource<Pod>({ apiVersion: 'v1', kind: 'Pod' });
    this.replicaSets = options.client.resource<ReplicaSet>({ apiVersion: RS_API_VERSION, kind: RS_KIND });
    this.podInformer = options.informers.informer<Pod>('pods');
    this.rsInformer = options.informers.informer<ReplicaSet>('replicasets');
    this.podInformer.addIndexer(ORPHAN_PODS_INDEX, (p) => (controllerRef(p) || !p.metadata.namespace ? [] : [p.metadata.namespace]));
    this.initQueue({ name: 'replicaset', workers: options.workers ?? 5, owners: this.rsInformer, reads: [this.podInformer], expectations: this.expectations });
    watchDependents({
      dependents: this.podInformer,
      owners: this.rsInformer.store,
      ownerKind: RS_KIND,
      controller: this.controller,
      expectations: this.expectations,
      selectorOf: (rs) => this.selectors.get(rs),
      onControlledUpdate: (rs, old, cur) => {
        const minReady = rs.spec?.minReadySeconds ?? 0;
        // Availability changes with time, not with an event: look again when the pod has been ready long enough.
        if (minReady > 0 && !isPodReady(old) && isPodReady(cur)) this.controller.enqueueAfter(rs, minReady * 1000);
      },
    });
  }

  // ------------------------------------------------------------------ reconcile

  /** Reconciles one ReplicaSet by key (`namespace/name`); exposed for tests. */
  override async reconcile(key: string): Promise<ReconcileResult | void> {
    const rs = this.rsInformer.store.get(key);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    const selector = this.selectors.get(rs);
    if (!selector) {
      this.recorder.event(rs, 'Warning', 'InvalidSelector', 'the ReplicaSet selector is invalid');
      return;
    }
    const ns = rs.metadata.namespace!;
    const candidates = new Map<string, Pod>();
    for (const p of ownedBy(this.podInformer.store, rs)) candidates.set(objectKey(p), p);
    for (const p of this.podInformer.store.byIndex(ORPHAN_PODS_INDEX, ns)) candidates.set(objectKey(p), p);
    const active = [...candidates.values()].filter(isPodActive);
    const pods = await claim(
      {
        owner: rs,
        ownerApiVersion: RS_API_VERSION,
        ownerKind: RS_KIND,
        selector,
        dependents: this.pods,
        getOwner: () => this.replicaSets.get(ns, rs.metadata.name!),
      },
      active,
    );

    let manageErr: unknown;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      try {
        await this.manageReplicas(key, rs, pods);
      } catch (err) {
        manageErr = err;
      }
    }
    const now = this.clock.now();
    const status = this.calculateStatus(rs, pods, manageErr, now);
    await this.writeStatus(rs, status);
    if (manageErr) throw manageErr;

    const minReady = rs.spec?.minReadySeconds ?? 0;
    const next = msUntilFirstAvailable(pods, minReady, now);
    return next === undefined ? undefined : { requeueAfter: next };
  }

  private async manageReplicas(key: string, rs: ReplicaSet, pods: Pod[]): Promise<void> {
    const desired = rs.spec?.replicas ?? 1;
    const diff = pods.length - desired;
    if (diff < 0) {
      const want = Math.min(-diff, this.burst);
      // Expect before creating: the informer may report a new pod before create() even returns.
      this.expectations.expectCreations(key, want);
      this.log.debug({ replicaset: key, need: desired, have: pods.length, creating: want }, 'too few replicas');
      const { successes, error } = await slowStartBatch(want, SLOW_START_INITIAL_BATCH, () => this.createPod(rs));
      // Creations that failed or were never tried will never be observed.
      for (let i = successes; i < want; i++) this.expectations.creationObserved(key);
      if (error) throw error;
      return;
    }
    if (diff > 0) {
      const victims = podsToDelete(pods, Math.min(diff, this.burst));
      this.expectations.expectDeletions(key, victims.map(objectKey));
      this.log.debug({ replicaset: key, need: desired, have: pods.length, deleting: victims.length }, 'too many replicas');
      const errors: unknown[] = [];
      await Promise.all(victims.map((pod) => this.deleteDependentPod(rs, pod, this.pods, this.expectations, errors)));
      if (errors.length) throw errors[0];
    }
  }

  private async createPod(rs: ReplicaSet): Promise<void> {
    const template = rs.spec?.template;
    const labels = { ...(template?.metadata?.labels ?? {}) };
    if (!template || Object.keys(labels).length === 0) throw new ApiError('Invalid', `unable to create pods for ReplicaSet ${objectKey(rs)}: the template has no labels`);
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`,
        namespace: rs.metadata.namespace,
        labels,
        ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
        ...(template.metadata?.finalizers ? { finalizers: [...template.metadata.finalizers] } : {}),
        ownerReferences: [newControllerRef(rs, RS_API_VERSION, RS_KIND)],
      },
      spec: deepCopy(template.spec),
    };
    try {
      const created = await this.pods.create(pod);
      this.recorder.event(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    } catch (err) {
      // Every create in a terminating namespace fails; nothing to report or retry.
      if (isNamespaceTerminating(err)) return;
      this.recorder.event(rs, 'Warning', 'FailedCreate', `Error creating: ${errText(err)}`);
      throw err;
    }
  }

  private calculateStatus(rs: ReplicaSet, pods: Pod[], manageErr: unknown, now: number): ReplicaSetStatus {
    const templateLabels = selectorFromSet(rs.spec?.template?.metadata?.labels);
    const minReady = rs.spec?.minReadySeconds ?? 0;
    let fullyLabeled = 0;
    let ready = 0;
    let available = 0;
    for (const p of pods) {
      if (templateLabels.matches(p.metadata.labels)) fullyLabeled++;
      if (isPodReady(p)) ready++;
      if (isPodAvailable(p, minReady, now)) available++;
    }
    const conditions: Condition[] = (rs.status?.conditions ?? []).map((c) => ({ ...c }));
    const failure = getCondition(conditions, 'ReplicaFailure');
    if (manageErr && !failure) {
      const diff = pods.length - (rs.spec?.replicas ?? 1);
      conditions.push({
        type: 'ReplicaFailure',
        status: 'True',
        reason: diff < 0 ? 'FailedCreate' : 'FailedDelete',
        message: errText(manageErr),
        lastTransitionTime: nowTimestamp(new Date(now)),
      });
    } else if (!manageErr && failure) {
      conditions.splice(conditions.indexOf(failure), 1);
    }
    const status: ReplicaSetStatus = {
      replicas: pods.length,
      fullyLabeledReplicas: fullyLabeled,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (conditions.length) status.conditions = conditions;
    return status;
  }

  private async writeStatus(rs: ReplicaSet, status: ReplicaSetStatus): Promise<void> {
    const cur = rs.status ?? { replicas: 0 };
    const same =
      (cur.replicas ?? 0) === status.replicas &&
      (cur.fullyLabeledReplicas ?? 0) === status.fullyLabeledReplicas &&
      (cur.readyReplicas ?? 0) === status.readyReplicas &&
      (cur.availableReplicas ?? 0) === status.availableReplicas &&
      cur.observedGeneration === status.observedGeneration &&
      canonicalJson(cur.conditions ?? []) === canonicalJson(status.conditions ?? []);
    if (same) return;
    // A merge patch of the whole status: no resourceVersion needed, and only this controller writes it.
    const patch: KubeObject['status'] = { ...status, conditions: status.conditions ?? null };
    await this.replicaSets.patchStatus(rs.metadata.namespace, rs.metadata.name!, { status: patch }, 'merge');
  }
}
