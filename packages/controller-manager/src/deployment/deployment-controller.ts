/**
 * The Deployment controller, following Kubernetes' deployment controller
 * (sync.go, rolling.go, recreate.go, progress.go, rollback.go): one
 * ReplicaSet per pod template, rolling or recreate rollouts, proportional
 * scaling, revisions and history cleanup, pause, rollback, and the
 * Progressing/Available conditions `kubectl rollout status` follows.
 */
import {
  controllerRef,
  deepCopy,
  isReason,
  objectKey,
  podTemplateHash,
  type Deployment,
  type DeploymentStatus,
  type Pod,
  type ReplicaSet,
} from '@flotilla/api';
import type { Informer, ReconcileResult, ResourceClient } from '@flotilla/client';
import { resolveControllerRef, SelectorCache } from '../owner-lookup.js';
import { OwningController, watchDependents, type OwningControllerOptions } from '../owning-controller.js';
import { claim, newControllerRef } from '../replicaset/controller-ref.js';
import {
  activeReplicaSets,
  availableLowerBound,
  byCreation,
  byRevision,
  bySizeNewer,
  bySizeOlder,
  calculateStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  desiredReplicasAnnotation,
  dReplicas,
  equalIgnoreHash,
  findActiveOrLatest,
  findNewReplicaSet,
  findOldReplicaSets,
  getDeploymentCondition,
  hasProgressDeadline,
  isRollingUpdate,
  isSaturated,
  lastRevision,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newDeploymentCondition,
  newRSNewReplicas,
  POD_TEMPLATE_HASH_LABEL,
  Reasons,
  removeDeploymentCondition,
  replicaSetProportion,
  replicasAnnotationsNeedUpdate,
  REVISION_ANNOTATION,
  revisionOf,
  ROLLBACK_TO_ANNOTATION,
  rsReplicas,
  sameStatus,
  setDeploymentCondition,
  setDeploymentRevision,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  skipCopyAnnotation,
  specReplicas,
} from './deployment-util.js';

/** Options of a DeploymentController. */
export interface DeploymentControllerOptions extends OwningControllerOptions {
  /** Parallel reconciles. Default 5 (--concurrent-deployment-syncs). */
  workers?: number;
}

const D_API_VERSION = 'apps/v1';
const D_KIND = 'Deployment';

/** What one sync works on: a private copy of the Deployment and its claimed ReplicaSets. */
interface SyncState {
  d: Deployment;
  rsList: ReplicaSet[];
}

/** Keeps every Deployment's ReplicaSets rolled out to its template. */
export class DeploymentController extends OwningController<Deployment> {
  private readonly deployments: ResourceClient<Deployment>;
  private readonly replicaSets: ResourceClient<ReplicaSet>;
  private readonly dInformer: Informer<Deployment>;
  private readonly rsInformer: Informer<ReplicaSet>;
  private readonly podInformer: Informer<Pod>;
  private readonly selectors = new SelectorCache<Deployment>();

  constructor(options: DeploymentControllerOptions) {
    super(options);
    this.deployments = options.client.resource<Deployment>({ apiVersion: D_API_VERSION, kind: D_KIND });
    this.replicaSets = options.client.resource<ReplicaSet>({ apiVersion: 'apps/v1', kind: 'ReplicaSet' });
    this.dInformer = options.informers.informer<Deployment>('deployments');
    this.rsInformer = options.informers.informer<ReplicaSet>('replicasets');
    this.podInformer = options.informers.informer<Pod>('pods');
    this.initQueue({ name: 'deployment', workers: options.workers ?? 5, owners: this.dInformer, reads: [this.rsInformer, this.podInformer] });
    watchDependents({
      dependents: this.rsInformer,
      owners: this.dInformer.store,
      ownerKind: D_KIND,
      controller: this.controller,
      selectorOf: (d) => this.selectors.get(d),
    });
    // Only Recreate cares about pods: it waits until the old ones are gone.
    this.podInformer.addEventHandler({ onDelete: (pod) => this.podDeleted(pod) });
  }

  // ------------------------------------------------------------------ handlers

  private podDeleted(pod: Pod): void {
    const ref = controllerRef(pod);
    if (!ref || ref.kind !== 'ReplicaSet') return;
    const rs = this.rsInformer.store.get(`${pod.metadata.namespace}/${ref.name}`);
    if (!rs) return;
    const d = resolveControllerRef(this.dInformer.store, D_KIND, rs.metadata.namespace, controllerRef(rs));
    if (d && d.spec?.strategy?.type === 'Recreate') this.controller.enqueue(d);
  }

  // ------------------------------------------------------------------ sync

  /** Reconciles one Deployment by key (`namespace/name`); exposed for tests. */
  override async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.dInformer.store.get(key);
    if (!cached) return;
    const d = deepCopy(cached) as Deployment;
    const selector = this.selectors.get(cached);
    if (!selector || selector.empty) {
      this.recorder.event(d, 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 1)) {
        await this.writeStatus(d, { ...(d.status ?? {}), observedGeneration: d.metadata.generation ?? 1 });
      }
      return;
    }
    const ns = d.metadata.namespace!;
    const claimed = await claim(
      { owner: d, ownerApiVersion: D_API_VERSION, ownerKind: D_KIND, selector, dependents: this.replicaSets, getOwner: () => this.deployments.get(ns, d.metadata.name!) },
      this.rsInformer.store.byNamespace(ns),
    );
    const st: SyncState = { d, rsList: claimed.map((rs) => deepCopy(rs)) };

    if (d.metadata.deletionTimestamp) {
      const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
      await this.syncDeploymentStatus(st, [...oldRSs, newRS], newRS);
      return;
    }
    await this.checkPausedConditions(st);
    if (d.spec?.paused) return this.sync(st);
    if (rollbackTo(d) !== undefined) return this.rollback(st);
    if (await this.isScalingEvent(st)) return this.sync(st);
    if (d.spec?.strategy?.type === 'Recreate') return this.rolloutRecreate(st);
    return this.rolloutRolling(st);
  }

  /** Writes the status through /status (merge patch of the whole status) and keeps the local copy current. */
  private async writeStatus(d: Deployment, status: DeploymentStatus): Promise<void> {
    const patch = { ...status, conditions: status.conditions?.length ? status.conditions : null };
    await this.deployments.patchStatus(d.metadata.namespace, d.metadata.name!, { status: patch }, 'merge');
    d.status = status;
  }

  /** The status subresource ignores metadata, so the revision annotation is patched on the object itself. */
  private async writeRevision(d: Deployment): Promise<void> {
    const rev = d.metadata.annotations?.[REVISION_ANNOTATION];
    await this.deployments.patch(d.metadata.namespace, d.metadata.name!, { metadata: { annotations: { [REVISION_ANNOTATION]: rev ?? null } } }, 'merge');
  }

  private async checkPausedConditions(st: SyncState): Promise<void> {
    const { d } = st;
    if (!hasProgressDeadline(d)) return;
    const cond = getDeploymentCondition(d.status, 'Progressing');
    if (cond?.reason === Reasons.TimedOut) return;
    const pausedCond = cond?.reason === Reasons.Paused;
    const status: DeploymentStatus = deepCopy(d.status ?? {});
    const now = this.clock.now();
    if (d.spec?.paused && !pausedCond) setDeploymentCondition(status, newDeploymentCondition('Progressing', 'Unknown', Reasons.Paused, 'Deployment is paused', now));
    else if (!d.spec?.paused && pausedCond) setDeploymentCondition(status, newDeploymentCondition('Progressing', 'Unknown', Reasons.Resumed, 'Deployment is resumed', now));
    else return;
    await this.writeStatus(d, status);
  }

  /** Finds (and optionally creates) the new ReplicaSet and syncs revisions (getAllReplicaSetsAndSyncRevision). */
  private async getAllReplicaSetsAndSyncRevision(st: SyncState, create: boolean): Promise<{ newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] }> {
    const existing = findNewReplicaSet(st.d, st.rsList);
    const oldRSs = findOldReplicaSets(st.d, st.rsList, existing);
    const newRS = await this.getNewReplicaSet(st, existing, oldRSs, create);
    return { newRS, oldRSs };
  }

  private replace(st: SyncState, rs: ReplicaSet): ReplicaSet {
    const i = st.rsList.findIndex((r) => r.metadata.uid === rs.metadata.uid);
    if (i >= 0) st.rsList[i] = rs;
    else st.rsList.push(rs);
    return rs;
  }

  private async getNewReplicaSet(st: SyncState, existing: ReplicaSet | undefined, oldRSs: ReplicaSet[], create: boolean): Promise<ReplicaSet | undefined> {
    const { d } = st;
    const now = this.clock.now();
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing) {
      const rsCopy = deepCopy(existing);
      const annotationsUpdated = setNewReplicaSetAnnotations(d, rsCopy, newRevision, true);
      const minReady = d.spec?.minReadySeconds ?? 0;
      if (annotationsUpdated || (rsCopy.spec?.minReadySeconds ?? 0) !== minReady) {
        rsCopy.spec!.minReadySeconds = minReady;
        return this.replace(st, await this.replicaSets.update(rsCopy));
      }
      const revisionChanged = setDeploymentRevision(d, rsCopy.metadata.annotations?.[REVISION_ANNOTATION]);
      if (revisionChanged) await this.writeRevision(d);
      if (hasProgressDeadline(d) && !getDeploymentCondition(d.status, 'Progressing')) {
        const status = deepCopy(d.status ?? {});
        setDeploymentCondition(status, newDeploymentCondition('Progressing', 'True', Reasons.FoundNewRS, `Found new replica set "${rsCopy.metadata.name}"`, now));
        await this.writeStatus(d, status);
      }
      return rsCopy;
    }
    if (!create) return undefined;

    const template = deepCopy(d.spec!.template);
    const hash = podTemplateHash(template, d.status?.collisionCount);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash } };
    const selector = deepCopy(d.spec!.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        ownerReferences: [newControllerRef(d, D_API_VERSION, D_KIND)],
        labels: { ...template.metadata.labels },
      },
      spec: { replicas: 0, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector, template },
    };
    const replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    rs.spec!.replicas = replicas;
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    let createdRS: ReplicaSet;
    let alreadyExisted = false;
    try {
      createdRS = await this.replicaSets.create(rs);
    } catch (err) {
      if (isReason(err, 'AlreadyExists')) {
        // A live read: our own earlier create may simply not be in the cache yet.
        const found = await this.replicaSets.get(d.metadata.namespace, rs.metadata.name!);
        const ref = controllerRef(found);
        if (ref?.uid === d.metadata.uid && equalIgnoreHash(d.spec?.template, found.spec?.template)) {
          createdRS = found;
          alreadyExisted = true;
        } else {
          // A different template hashed to the same name: bump collisionCount so the next hash differs.
          const status = deepCopy(d.status ?? {});
          status.collisionCount = (status.collisionCount ?? 0) + 1;
          await this.writeStatus(d, status);
          this.log.info({ deployment: objectKey(d), replicaset: rs.metadata.name, collisionCount: status.collisionCount }, 'hash collision; bumping collisionCount');
          throw err;
        }
      } else {
        const msg = `Failed to create new replica set "${rs.metadata.name}": ${(err as Error)?.message ?? String(err)}`;
        if (hasProgressDeadline(d)) {
          const status = deepCopy(d.status ?? {});
          setDeploymentCondition(status, newDeploymentCondition('Progressing', 'False', Reasons.FailedRSCreate, msg, now));
          await this.writeStatus(d, status).catch(() => {});
        }
        this.recorder.event(d, 'Warning', Reasons.FailedRSCreate, msg);
        throw err;
      }
    }
    if (!alreadyExisted && replicas > 0) {
      this.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${createdRS.metadata.name} from 0 to ${replicas}`);
    }
    this.replace(st, createdRS);
    if (setDeploymentRevision(d, String(newRevision))) await this.writeRevision(d);
    if (!alreadyExisted && hasProgressDeadline(d)) {
      const status = deepCopy(d.status ?? {});
      setDeploymentCondition(status, newDeploymentCondition('Progressing', 'True', Reasons.NewRSCreated, `Created new replica set "${createdRS.metadata.name}"`, now));
      await this.writeStatus(d, status);
    }
    return createdRS;
  }

  /** Scales a ReplicaSet (and refreshes its replicas annotations); records ScalingReplicaSet. */
  private async scaleReplicaSet(st: SyncState, rs: ReplicaSet, newScale: number): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    const { d } = st;
    const desired = dReplicas(d);
    const max = desired + maxSurge(d);
    const sizeChange = rsReplicas(rs) !== newScale;
    if (!sizeChange && !replicasAnnotationsNeedUpdate(rs, desired, max)) return { scaled: false, rs };
    const oldScale = rsReplicas(rs);
    const copy = deepCopy(rs);
    copy.spec!.replicas = newScale;
    setReplicasAnnotations(copy, desired, max);
    const updated = this.replace(st, await this.replicaSets.update(copy));
    if (sizeChange) {
      const dir = oldScale < newScale ? 'up' : 'down';
      this.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${dir} replica set ${updated.metadata.name} from ${oldScale} to ${newScale}`);
      this.log.info({ deployment: objectKey(d), replicaset: updated.metadata.name, from: oldScale, to: newScale }, `scaled ${dir}`);
    }
    return { scaled: sizeChange, rs: updated };
  }

  private async scaleAndRecord(st: SyncState, rs: ReplicaSet, newScale: number): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    if (rsReplicas(rs) === newScale) return { scaled: false, rs };
    return this.scaleReplicaSet(st, rs, newScale);
  }

  private async isScalingEvent(st: SyncState): Promise<boolean> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    for (const rs of activeReplicaSets([...oldRSs, newRS])) {
      const desired = desiredReplicasAnnotation(rs);
      if (desired !== undefined && desired !== dReplicas(st.d)) return true;
    }
    return false;
  }

  /** Scaling (and, when paused, history cleanup) without rollout progress. */
  private async sync(st: SyncState): Promise<ReconcileResult | void> {
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    await this.scale(st, newRS, oldRSs);
    const cur = this.current(st, newRS, oldRSs);
    if (st.d.spec?.paused && rollbackTo(st.d) === undefined) await this.cleanupDeployment(st, cur.oldRSs);
    await this.syncDeploymentStatus(st, [...cur.oldRSs, cur.newRS], cur.newRS);
  }

  /** The latest copies (after writes during this sync) of the new and old ReplicaSets. */
  private current(st: SyncState, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): { newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] } {
    const byUid = new Map(st.rsList.map((r) => [r.metadata.uid, r]));
    return { newRS: newRS && (byUid.get(newRS.metadata.uid) ?? newRS), oldRSs: oldRSs.map((r) => byUid.get(r.metadata.uid) ?? r) };
  }

  private async scale(st: SyncState, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Promise<void> {
    const { d } = st;
    const replicas = dReplicas(d);
    const only = findActiveOrLatest(newRS, oldRSs);
    if (only) {
      if (rsReplicas(only) !== replicas) await this.scaleAndRecord(st, only, replicas);
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of activeReplicaSets(oldRSs)) await this.scaleAndRecord(st, old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = activeReplicaSets([...oldRSs, newRS]);
    const allowed = replicas > 0 ? replicas + maxSurge(d) : 0;
    const toAdd = allowed - specReplicas(all);
    if (toAdd > 0) all.sort(bySizeNewer);
    else if (toAdd < 0) all.sort(bySizeOlder);
    let added = 0;
    const sizes = new Map<string, number>();
    for (const rs of all) {
      if (toAdd !== 0) {
        const p = replicaSetProportion(rs, d, toAdd, added);
        sizes.set(rs.metadata.name!, rsReplicas(rs) + p);
        added += p;
      } else sizes.set(rs.metadata.name!, rsReplicas(rs));
    }
    for (const [i, rs] of all.entries()) {
      let size = sizes.get(rs.metadata.name!)!;
      // Leftovers from rounding go to the largest ReplicaSet.
      if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
      await this.scaleReplicaSet(st, rs, size);
    }
  }

  // -------------------------------------------------------------- rolling

  private async rolloutRolling(st: SyncState): Promise<ReconcileResult | void> {
    const { d } = st;
    let { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, true);
    if (!newRS) throw new Error(`deployment ${objectKey(d)}: no new ReplicaSet`);
    if (await this.reconcileNewReplicaSet(st, newRS, oldRSs)) {
      ({ newRS, oldRSs } = this.current(st, newRS, oldRSs));
      return this.syncRolloutStatus(st, [...oldRSs, newRS], newRS);
    }
    ({ newRS, oldRSs } = this.current(st, newRS, oldRSs));
    if (await this.reconcileOldReplicaSets(st, newRS!, oldRSs)) {
      ({ newRS, oldRSs } = this.current(st, newRS, oldRSs));
      return this.syncRolloutStatus(st, [...oldRSs, newRS], newRS);
    }
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(st, oldRSs);
    return this.syncRolloutStatus(st, [...oldRSs, newRS], newRS);
  }

  private async reconcileNewReplicaSet(st: SyncState, newRS: ReplicaSet, oldRSs: ReplicaSet[]): Promise<boolean> {
    const replicas = dReplicas(st.d);
    if (rsReplicas(newRS) === replicas) return false;
    if (rsReplicas(newRS) > replicas) return (await this.scaleAndRecord(st, newRS, replicas)).scaled;
    const count = newRSNewReplicas(st.d, [...oldRSs, newRS], newRS);
    return (await this.scaleAndRecord(st, newRS, count)).scaled;
  }

  private async reconcileOldReplicaSets(st: SyncState, newRS: ReplicaSet, allOld: ReplicaSet[]): Promise<boolean> {
    const { d } = st;
    let oldRSs = activeReplicaSets(allOld);
    if (specReplicas(oldRSs) === 0) return false;
    const allPods = specReplicas([...oldRSs, newRS]);
    const minAvailable = dReplicas(d) - maxUnavailable(d);
    const newUnavailable = rsReplicas(newRS) - Math.min(rsReplicas(newRS), newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // Unhealthy old replicas go first: removing them costs no availability and unblocks the rollout.
    const cleaned = await this.cleanupUnhealthyReplicas(st, oldRSs, maxScaledDown);
    oldRSs = cleaned.oldRSs;
    const scaledDown = await this.scaleDownOldReplicaSetsForRollingUpdate(st, [...oldRSs, newRS], oldRSs);
    return cleaned.count + scaledDown > 0;
  }

  private async cleanupUnhealthyReplicas(st: SyncState, oldRSs: ReplicaSet[], maxCleanup: number): Promise<{ oldRSs: ReplicaSet[]; count: number }> {
    const sorted = [...oldRSs].sort(byCreation);
    let total = 0;
    for (const [i, rs] of sorted.entries()) {
      if (total >= maxCleanup) break;
      const replicas = rsReplicas(rs);
      const available = Math.min(replicas, rs.status?.availableReplicas ?? 0);
      if (replicas === 0 || replicas === available) continue;
      const down = Math.min(maxCleanup - total, replicas - available);
      const res = await this.scaleAndRecord(st, rs, replicas - down);
      sorted[i] = res.rs;
      total += down;
    }
    return { oldRSs: sorted, count: total };
  }

  private async scaleDownOldReplicaSetsForRollingUpdate(st: SyncState, allRSs: ReplicaSet[], oldRSs: ReplicaSet[]): Promise<number> {
    const { d } = st;
    const minAvailable = dReplicas(d) - maxUnavailable(d);
    const available = availableLowerBound(allRSs);
    if (available <= minAvailable) return 0;
    const target = available - minAvailable;
    let total = 0;
    for (const rs of [...oldRSs].sort(byCreation)) {
      if (total >= target) break;
      if (rsReplicas(rs) === 0) continue;
      const down = Math.min(rsReplicas(rs), target - total);
      await this.scaleAndRecord(st, rs, rsReplicas(rs) - down);
      total += down;
    }
    return total;
  }

  // ------------------------------------------------------------- recreate

  private async rolloutRecreate(st: SyncState): Promise<ReconcileResult | void> {
    const { d } = st;
    let { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, false);
    let scaledDown = false;
    for (const rs of activeReplicaSets(oldRSs)) if ((await this.scaleAndRecord(st, rs, 0)).scaled) scaledDown = true;
    ({ newRS, oldRSs } = this.current(st, newRS, oldRSs));
    if (scaledDown || this.oldPodsRunning(newRS, oldRSs)) return this.syncRolloutStatus(st, [...oldRSs, newRS], newRS);
    if (!newRS) ({ newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, true));
    await this.scaleAndRecord(st, newRS!, dReplicas(d));
    ({ newRS, oldRSs } = this.current(st, newRS, oldRSs));
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(st, oldRSs);
    return this.syncRolloutStatus(st, [...oldRSs, newRS], newRS);
  }

  /** True while any pod of an old ReplicaSet exists and has not finished (terminating ones included). */
  private oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    if (oldRSs.reduce((n, rs) => n + (rs.status?.replicas ?? 0), 0) > 0) return true;
    for (const rs of oldRSs) {
      if (newRS && rs.metadata.uid === newRS.metadata.uid) continue;
      for (const p of this.podInformer.store.byControllerUid(rs.metadata.uid ?? '')) {
        if (p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed') return true;
      }
    }
    return false;
  }

  // ------------------------------------------------------------- rollback

  private async rollback(st: SyncState): Promise<ReconcileResult | void> {
    const { d } = st;
    const { newRS, oldRSs } = await this.getAllReplicaSetsAndSyncRevision(st, true);
    const all = [...oldRSs, ...(newRS ? [newRS] : [])];
    let revision = rollbackTo(d)!;
    if (revision === 0) {
      revision = lastRevision(all);
      if (revision === 0) {
        this.recorder.event(d, 'Warning', Reasons.RollbackRevisionNotFound, 'Unable to find last revision.');
        return this.clearRollbackTo(d);
      }
    }
    const target = all.find((rs) => revisionOf(rs) === revision);
    if (!target) {
      this.recorder.event(d, 'Warning', Reasons.RollbackRevisionNotFound, 'Unable to find the revision to rollback to.');
      return this.clearRollbackTo(d);
    }
    if (equalIgnoreHash(d.spec?.template, target.spec?.template)) {
      this.recorder.event(d, 'Warning', Reasons.RollbackTemplateUnchanged, `The rollback revision contains the same template as current deployment "${d.metadata.name}"`);
      return this.clearRollbackTo(d);
    }
    const template = deepCopy(target.spec!.template!);
    if (template.metadata?.labels) delete template.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    // The old ReplicaSet's annotations come back too, so they are not overwritten by the current ones.
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (skipCopyAnnotation(k) && k !== ROLLBACK_TO_ANNOTATION) annotations[k] = v;
    for (const [k, v] of Object.entries(target.metadata.annotations ?? {})) if (!skipCopyAnnotation(k)) annotations[k] = v;
    await this.deployments.patch(
      d.metadata.namespace,
      d.metadata.name!,
      [
        // Only if nobody changed the spec meanwhile.
        { op: 'test', path: '/metadata/generation', value: d.metadata.generation },
        { op: 'replace', path: '/spec/template', value: template },
        { op: 'replace', path: '/metadata/annotations', value: annotations },
      ],
      'json',
    );
    this.recorder.event(d, 'Normal', Reasons.RollbackDone, `Rolled back deployment "${d.metadata.name}" to revision ${revision}`);
  }

  /** Drops the rollback request (a JSON patch: no resourceVersion race with our own status writes). */
  private async clearRollbackTo(d: Deployment): Promise<void> {
    await this.deployments.patch(d.metadata.namespace, d.metadata.name!, [{ op: 'remove', path: `/metadata/annotations/${ROLLBACK_TO_ANNOTATION}` }], 'json');
  }

  // --------------------------------------------------------------- status

  private async cleanupDeployment(st: SyncState, oldRSs: ReplicaSet[]): Promise<void> {
    const limit = st.d.spec?.revisionHistoryLimit;
    if (limit === undefined) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort(byRevision);
    for (const rs of cleanable.slice(0, diff)) {
      // Only ReplicaSets that are empty and whose emptiness the ReplicaSet controller has confirmed.
      if ((rs.status?.replicas ?? 0) !== 0 || rsReplicas(rs) !== 0 || (rs.metadata.generation ?? 1) > (rs.status?.observedGeneration ?? 0)) continue;
      try {
        await this.replicaSets.delete(rs.metadata.namespace, rs.metadata.name!);
        this.log.info({ deployment: objectKey(st.d), replicaset: rs.metadata.name }, 'deleted old replica set (revisionHistoryLimit)');
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
      }
    }
  }

  private async syncDeploymentStatus(st: SyncState, allRSs: Array<ReplicaSet | undefined>, newRS: ReplicaSet | undefined): Promise<void> {
    const status = calculateStatus(allRSs, newRS, st.d, this.clock.now());
    if (!sameStatus(st.d.status, status)) await this.writeStatus(st.d, status);
  }

  /** Status plus the Progressing condition; returns when to look again for a progress deadline. */
  private async syncRolloutStatus(st: SyncState, allRSs: Array<ReplicaSet | undefined>, newRS: ReplicaSet | undefined): Promise<ReconcileResult | void> {
    const { d } = st;
    const now = this.clock.now();
    const status = calculateStatus(allRSs, newRS, d, now);
    if (!hasProgressDeadline(d)) removeDeploymentCondition(status, 'Progressing');
    const currentCond = getDeploymentCondition(d.status, 'Progressing');
    const isComplete = status.replicas === status.updatedReplicas && currentCond?.reason === Reasons.NewRSAvailable;
    if (hasProgressDeadline(d) && !isComplete) {
      const name = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
      if (deploymentComplete(d, status)) {
        setDeploymentCondition(status, newDeploymentCondition('Progressing', 'True', Reasons.NewRSAvailable, `${name} has successfully progressed.`, now));
      } else if (deploymentProgressing(d, status)) {
        const cond = newDeploymentCondition('Progressing', 'True', Reasons.RSUpdated, `${name} is progressing.`, now);
        // Progress moves lastUpdateTime even when the reason stays the same: that is what the deadline measures.
        if (currentCond?.status === 'True') cond.lastTransitionTime = currentCond.lastTransitionTime;
        removeDeploymentCondition(status, 'Progressing');
        setDeploymentCondition(status, cond);
      } else if (deploymentTimedOut(d, status, now)) {
        setDeploymentCondition(status, newDeploymentCondition('Progressing', 'False', Reasons.TimedOut, `${name} has timed out progressing.`, now));
      }
    }
    const failures = replicaFailures(allRSs, newRS);
    if (failures) setDeploymentCondition(status, failures);
    else removeDeploymentCondition(status, 'ReplicaFailure');
    if (!sameStatus(d.status, status)) {
      const wasTimedOut = getDeploymentCondition(d.status, 'Progressing')?.reason === Reasons.TimedOut;
      await this.writeStatus(d, status);
      if (!wasTimedOut && getDeploymentCondition(status, 'Progressing')?.reason === Reasons.TimedOut) {
        this.recorder.event(d, 'Warning', Reasons.TimedOut, `Deployment "${d.metadata.name}" has timed out progressing.`);
      }
    }
    return this.requeueStuck(d, status, now);
  }

  /** When a rollout shows no progress, look again when its deadline would pass (requeueStuckDeployment). */
  private requeueStuck(d: Deployment, status: DeploymentStatus, now: number): ReconcileResult | void {
    const cond = getDeploymentCondition(d.status, 'Progressing');
    if (!hasProgressDeadline(d) || !cond) return;
    if (deploymentComplete(d, status) || cond.reason === Reasons.TimedOut) return;
    const from = cond.lastUpdateTime ? Date.parse(cond.lastUpdateTime) : now;
    const after = from + d.spec!.progressDeadlineSeconds! * 1000 - now;
    return { requeueAfter: after < 1000 ? 1000 : after + 1000 };
  }
}

/** The legacy rollback request, or undefined (also for an unparseable one, which is ignored). */
function rollbackTo(d: Deployment): number | undefined {
  const v = d.metadata.annotations?.[ROLLBACK_TO_ANNOTATION];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** The ReplicaFailure condition of the new ReplicaSet (or else of any), as a Deployment condition. */
function replicaFailures(allRSs: Array<ReplicaSet | undefined>, newRS: ReplicaSet | undefined) {
  const pick = (rs: ReplicaSet | undefined) => rs?.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
  const c = pick(newRS) ?? allRSs.map(pick).find(Boolean);
  if (!c) return undefined;
  return { type: 'ReplicaFailure', status: c.status, reason: c.reason, message: c.message, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime };
}
