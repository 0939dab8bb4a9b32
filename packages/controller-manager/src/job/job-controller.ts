/**
 * The Job controller: runs a Job's pods until `completions` succeed (or,
 * without completions, until one succeeds and the rest finish), at most
 * `parallelism` at a time, and fails the Job when `backoffLimit` failures
 * are exceeded or `activeDeadlineSeconds` passes. Failed pods are replaced
 * after an exponential back-off (10 s doubling, at most 6 min). Pods are
 * counted as Kubernetes does since 1.26, with the
 * `batch.kubernetes.io/job-tracking` finalizer: a finished pod is first
 * listed in `status.uncountedTerminatedPods`, then its finalizer removed,
 * then it moves to the `succeeded`/`failed` counters — so a pod deleted
 * right after it finished is still counted, and counted once. Also:
 * `suspend`, `ttlSecondsAfterFinished`, Indexed completion mode.
 */
import {
  getCondition,
  isPodReady,
  isReason,
  JOB_COMPLETION_INDEX,
  JOB_TRACKING_FINALIZER,
  nowTimestamp,
  objectKey,
  type Condition,
  type Job,
  type JobStatus,
  type KubeObject,
  type Pod,
} from '@flotilla/api';
import type { Informer, ReconcileResult, ResourceClient } from '@flotilla/client';
import { errMessage } from '../context.js';
import type { ControllerMetrics } from '../controller-metrics.js';
import { resolveControllerRef } from '../owner-lookup.js';
import { ownedBy, OwningController, watchDependents, type OwningControllerOptions } from '../owning-controller.js';
import { newControllerRef } from '../replicaset/controller-ref.js';
import { Expectations } from '../replicaset/expectations.js';
import {
  formatIndexes,
  isJobFinished,
  isPodFinished,
  jobBackoffDelay,
  jobCondition,
  jobFinishTime,
  parseIndexes,
  podFinishTime,
  podIndex,
  restartsOf,
} from './job-util.js';

/** Options of a JobController. */
export interface JobControllerOptions extends OwningControllerOptions {
  /** Parallel reconciles. Default 5, like --concurrent-job-syncs. */
  workers?: number;
  /** Reconcile counts, durations and queue depth; none recorded when unset. */
  metrics?: ControllerMetrics;
}

const JOB_API_VERSION = 'batch/v1';
const JOB_KIND = 'Job';
/** Queue keys of pods that carry the tracking finalizer but whose Job is gone. */
const ORPHAN_PREFIX = 'orphan-pod:';

const hasFinalizer = (p: Pod) => p.metadata.finalizers?.includes(JOB_TRACKING_FINALIZER) ?? false;

interface BackoffRecord {
  failuresAfterLastSuccess: number;
  lastFailure: number;
}

/** Runs every Job's pods to completion. */
export class JobController extends OwningController<Job> {
  /** Outstanding pod creations/deletions per Job key. */
  readonly expectations: Expectations;
  private readonly pods: ResourceClient<Pod>;
  private readonly jobs: ResourceClient<Job>;
  private readonly podInformer: Informer<Pod>;
  private readonly jobInformer: Informer<Job>;
  /** Per Job key: consecutive failures since the last success, for the pod back-off. */
  private readonly backoff = new Map<string, BackoffRecord>();
  /** Per Job key: uids whose finalizer this controller removed and the cache may not show yet (never count twice). */
  private readonly finalizersRemoved = new Map<string, Set<string>>();
  /** Per Job key: uids of running pods this controller deleted (suspension, lower parallelism): not failures. */
  private readonly deletedByUs = new Map<string, Set<string>>();
  /** Per Job key: the resourceVersion of this controller's last status write; an older cached Job is not acted on. */
  private readonly lastWrite = new Map<string, number>();

  constructor(options: JobControllerOptions) {
    super(options);
    this.expectations = new Expectations(this.clock);
    this.pods = options.client.resource<Pod>({ apiVersion: 'v1', kind: 'Pod' });
    this.jobs = options.client.resource<Job>({ apiVersion: JOB_API_VERSION, kind: JOB_KIND });
    this.podInformer = options.informers.informer<Pod>('pods');
    this.jobInformer = options.informers.informer<Job>('jobs');
    this.initQueue({
      name: 'job',
      workers: options.workers ?? 5,
      owners: this.jobInformer,
      reads: [this.podInformer],
      metrics: options.metrics,
      expectations: this.expectations,
      onOwnerDeleted: (j) => {
        this.forget(objectKey(j));
        // Its pods keep their finalizer until someone removes it: that is us.
        for (const p of this.podInformer.store.byControllerUid(j.metadata.uid ?? '')) if (hasFinalizer(p)) this.controller.enqueue(ORPHAN_PREFIX + objectKey(p));
      },
    });
    watchDependents({
      dependents: this.podInformer,
      owners: this.jobInformer.store,
      ownerKind: JOB_KIND,
      controller: this.controller,
      expectations: this.expectations,
      onOwnerMissing: (p, event) => {
        if (event !== 'delete' && hasFinalizer(p)) this.controller.enqueue(ORPHAN_PREFIX + objectKey(p));
      },
    });
  }

  /** Drops what this controller remembers of a Job that is gone. */
  private forget(key: string): void {
    this.expectations.delete(key);
    this.backoff.delete(key);
    this.finalizersRemoved.delete(key);
    this.deletedByUs.delete(key);
    this.lastWrite.delete(key);
  }

  /** Reconciles one Job by key (or an orphaned pod's finalizer); exposed for tests. */
  override async reconcile(key: string): Promise<ReconcileResult | void> {
    if (key.startsWith(ORPHAN_PREFIX)) return this.releaseOrphan(key.slice(ORPHAN_PREFIX.length));
    const job = this.jobInformer.store.get(key);
    if (!job) {
      this.forget(key);
      return;
    }
    // A cached Job older than our own last status write would undo counts: wait for the cache (its update re-queues the key).
    const written = this.lastWrite.get(key);
    if (written !== undefined && Number(job.metadata.resourceVersion) < written) return { requeueAfter: 1_000 };
    const pods = ownedBy(this.podInformer.store, job);
    const now = this.clock.now();
    const removed = this.finalizersRemoved.get(key);
    if (removed) for (const uid of [...removed]) if (!pods.some((p) => p.metadata.uid === uid && hasFinalizer(p))) removed.delete(uid);

    if (isJobFinished(job)) {
      // Everything was counted when it finished; what remains only needs its finalizer gone.
      await this.removeFinalizers(key, pods.filter(hasFinalizer));
      return this.ttl(job, now);
    }
    if (job.metadata.deletionTimestamp) return;

    const status: JobStatus = structuredClone(job.status ?? {});
    const indexed = job.spec?.completionMode === 'Indexed';
    const completions = job.spec?.completions;
    const completed = indexed ? parseIndexes(status.completedIndexes, completions ?? 0) : new Set<number>();
    await this.countFinished(key, job, status, pods, completed, now);
    if (indexed) {
      if (completed.size) status.completedIndexes = formatIndexes(completed);
      else delete status.completedIndexes;
    }

    const active = pods.filter((p) => !isPodFinished(p));
    const suspended = job.spec?.suspend === true;
    const at = nowTimestamp(new Date(now));
    const conditions: Condition[] = (status.conditions ?? []).map((c) => ({ ...c }));
    const setCondition = (c: Condition) => {
      const i = conditions.findIndex((x) => x.type === c.type);
      if (i < 0) conditions.push(c);
      else if (conditions[i]!.status !== c.status || conditions[i]!.reason !== c.reason) conditions[i] = c;
    };
    const wasSuspended = getCondition(conditions, 'Suspended')?.status === 'True';
    if (suspended) {
      if (!wasSuspended) {
        setCondition(jobCondition('Suspended', 'True', 'JobSuspended', 'Job suspended', at));
        this.recorder.event(job, 'Normal', 'Suspended', 'Job suspended');
      }
    } else {
      if (wasSuspended) {
        setCondition(jobCondition('Suspended', 'False', 'JobResumed', 'Job resumed', at));
        this.recorder.event(job, 'Normal', 'Resumed', 'Job resumed');
        // The deadline counts from the resumption, as in Kubernetes.
        status.startTime = at;
      }
      status.startTime ??= at;
    }

    let result: ReconcileResult | undefined;
    let manageErr: unknown;
    const backoffLimit = job.spec?.backoffLimit ?? 6;
    const onFailure = job.spec?.template?.spec?.restartPolicy === 'OnFailure';
    const restarts = onFailure ? restartsOf(active) : 0;
    const pastOnFailure = onFailure && (backoffLimit === 0 ? restarts > 0 : restarts >= backoffLimit);
    const deadline = job.spec?.activeDeadlineSeconds;
    const started = Date.parse(status.startTime ?? '');
    const deadlineAt = !suspended && deadline !== undefined && !Number.isNaN(started) ? started + deadline * 1000 : undefined;
    const succeeded = status.succeeded ?? 0;
    const failure = (status.failed ?? 0) > backoffLimit || pastOnFailure
      ? { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }
      : deadlineAt !== undefined && now >= deadlineAt
        ? { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }
        : undefined;
    const complete = !failure && (indexed ? completed.size >= (completions ?? 0) : completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0);

    if (failure) {
      manageErr = await this.deletePods(key, job, active);
      status.failed = (status.failed ?? 0) + active.length;
      setCondition(jobCondition('Failed', 'True', failure.reason, failure.message, at));
      this.recorder.event(job, 'Warning', failure.reason, failure.message);
      status.active = 0;
      status.ready = 0;
    } else if (complete) {
      manageErr = await this.deletePods(key, job, active);
      setCondition(jobCondition('Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', at));
      status.completionTime = at;
      this.recorder.event(job, 'Normal', 'Completed', 'Job completed');
      status.active = 0;
      status.ready = 0;
    } else {
      let delta = 0;
      // Pods are managed only on a settled view: creations/deletions observed and removed finalizers seen gone.
      if (this.expectations.satisfied(key) && !this.finalizersRemoved.get(key)?.size) {
        try {
          const m = await this.manage(key, job, active, completed, succeeded, now);
          delta = m.delta;
          if (m.requeueAfter !== undefined) result = { requeueAfter: m.requeueAfter };
        } catch (err) {
          manageErr = err;
        }
      }
      // As Kubernetes: the pods just created (or deleted) count at once, before the cache shows them.
      status.active = Math.max(0, active.length + delta);
      status.ready = active.filter(isPodReady).length;
      if (deadlineAt !== undefined) {
        const left = Math.max(1, deadlineAt - now);
        result = { requeueAfter: Math.min(result?.requeueAfter ?? left, left) };
      }
    }
    status.conditions = conditions.length ? conditions : undefined;
    status.succeeded = status.succeeded ?? 0;
    status.failed = status.failed ?? 0;
    status.uncountedTerminatedPods ??= {};
    await this.writeStatus(job, status);
    if (manageErr) throw manageErr;
    if (failure || complete) return this.ttl({ ...job, status }, now);
    return result;
  }

  /**
   * The finalizer protocol: newly finished pods go to uncountedTerminatedPods
   * (written), lose their finalizer, then move to the counters (in `status`,
   * written by the caller).
   */
  private async countFinished(key: string, job: Job, status: JobStatus, pods: Pod[], completed: Set<number>, now: number): Promise<void> {
    const unc = { succeeded: new Set(status.uncountedTerminatedPods?.succeeded ?? []), failed: new Set(status.uncountedTerminatedPods?.failed ?? []) };
    const removed = this.finalizersRemoved.get(key);
    let added = false;
    const dropped: Pod[] = [];
    const deletedByUs = this.deletedByUs.get(key);
    for (const p of pods) {
      const uid = p.metadata.uid!;
      if (!hasFinalizer(p) || !isPodFinished(p) || unc.succeeded.has(uid) || unc.failed.has(uid) || removed?.has(uid)) continue;
      const phase = p.status?.phase;
      if (phase !== 'Succeeded' && phase !== 'Failed' && (job.spec?.suspend || deletedByUs?.has(uid))) {
        // Stopped by this controller (suspension, fewer wanted): neither a success nor a failure, as in Kubernetes.
        dropped.push(p);
        continue;
      }
      (p.status?.phase === 'Succeeded' ? unc.succeeded : unc.failed).add(uid);
      added = true;
    }
    if (dropped.length) await this.removeFinalizers(key, dropped);
    const uncounted = () => ({ succeeded: [...unc.succeeded], failed: [...unc.failed] });
    if (added) {
      const w = await this.jobs.patchStatus(job.metadata.namespace, job.metadata.name!, { status: { uncountedTerminatedPods: uncounted() } }, 'merge');
      this.lastWrite.set(key, Number(w.metadata.resourceVersion));
    }
    if (unc.succeeded.size === 0 && unc.failed.size === 0) return;
    const byUid = new Map(pods.map((p) => [p.metadata.uid!, p]));
    const withFinalizer = [...unc.succeeded, ...unc.failed].map((u) => byUid.get(u)).filter((p): p is Pod => !!p && hasFinalizer(p));
    const failedRemovals = await this.removeFinalizers(key, withFinalizer);
    const rec = this.backoff.get(key) ?? { failuresAfterLastSuccess: 0, lastFailure: 0 };
    for (const [set, field] of [[unc.succeeded, 'succeeded'], [unc.failed, 'failed']] as const) {
      for (const uid of [...set]) {
        if (failedRemovals.has(uid)) continue;
        set.delete(uid);
        status[field] = (status[field] ?? 0) + 1;
        const p = byUid.get(uid);
        if (field === 'succeeded') {
          rec.failuresAfterLastSuccess = 0;
          const idx = p ? podIndex(p) : undefined;
          if (idx !== undefined) completed.add(idx);
        } else {
          rec.failuresAfterLastSuccess++;
          rec.lastFailure = Math.max(rec.lastFailure, (p && podFinishTime(p)) ?? now);
        }
      }
    }
    this.backoff.set(key, rec);
    status.uncountedTerminatedPods = unc.succeeded.size || unc.failed.size ? uncounted() : {};
  }

  /** Removes the tracking finalizer; returns the uids it could not remove. */
  private async removeFinalizers(key: string, pods: readonly Pod[]): Promise<Set<string>> {
    const failed = new Set<string>();
    if (pods.length === 0) return failed;
    let removed = this.finalizersRemoved.get(key);
    if (!removed) this.finalizersRemoved.set(key, (removed = new Set()));
    await Promise.all(
      pods.map(async (p) => {
        const rest = (p.metadata.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER);
        try {
          await this.pods.patch(p.metadata.namespace, p.metadata.name!, { metadata: { finalizers: rest.length ? rest : null } }, 'merge');
          removed!.add(p.metadata.uid!);
        } catch (err) {
          if (isReason(err, 'NotFound')) removed!.add(p.metadata.uid!);
          else {
            this.log.warn({ job: key, pod: objectKey(p), err: errMessage(err) }, 'removing the job-tracking finalizer failed');
            failed.add(p.metadata.uid!);
          }
        }
      }),
    );
    return failed;
  }

  private async releaseOrphan(podKey: string): Promise<void> {
    const p = this.podInformer.store.get(podKey);
    if (!p || !hasFinalizer(p)) return;
    const ref = p.metadata.ownerReferences?.find((r) => r.controller);
    if (ref?.kind === JOB_KIND && resolveControllerRef(this.jobInformer.store, JOB_KIND, p.metadata.namespace, ref)) return;
    const failed = await this.removeFinalizers(ORPHAN_PREFIX, [p]);
    this.finalizersRemoved.delete(ORPHAN_PREFIX);
    if (failed.size) throw new Error(`removing the job-tracking finalizer of ${podKey} failed`);
  }

  /** Creates or deletes pods toward the wanted number of active pods. */
  private async manage(key: string, job: Job, active: Pod[], completed: Set<number>, succeeded: number, now: number): Promise<{ delta: number; requeueAfter?: number }> {
    const spec = job.spec!;
    const parallelism = spec.parallelism ?? 1;
    const completions = spec.completions;
    let want: number;
    if (job.spec?.suspend) want = 0;
    else if (spec.completionMode === 'Indexed') want = Math.min(parallelism, (completions ?? 0) - completed.size);
    else if (completions === undefined) want = succeeded > 0 ? active.length : parallelism;
    else want = Math.min(parallelism, completions - succeeded);
    want = Math.max(0, want);
    if (active.length > want) {
      // Not-ready and newest first, as Kubernetes picks.
      const victims = [...active].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp))).slice(0, active.length - want);
      const err = await this.deletePods(key, job, victims, true);
      if (err) throw err;
      return { delta: -victims.length };
    }
    let count = want - active.length;
    if (count === 0) return { delta: 0 };
    const rec = this.backoff.get(key);
    const wait = rec ? rec.lastFailure + jobBackoffDelay(rec.failuresAfterLastSuccess) - now : 0;
    if (wait > 0) {
      this.log.debug({ job: key, waitMs: wait, failures: rec?.failuresAfterLastSuccess }, 'backing off before the next pod');
      return { delta: 0, requeueAfter: wait };
    }
    let indexes: Array<number | undefined> = [];
    if (spec.completionMode === 'Indexed') {
      const busy = new Set(active.map(podIndex));
      for (let i = 0; i < (completions ?? 0) && indexes.length < count; i++) if (!completed.has(i) && !busy.has(i)) indexes.push(i);
      count = indexes.length;
    } else indexes = Array.from({ length: count }, () => undefined);
    if (count === 0) return { delta: 0 };
    this.expectations.expectCreations(key, count);
    const results = await Promise.allSettled(indexes.map((i) => this.createPod(job, i)));
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (let i = 0; i < errors.length; i++) this.expectations.creationObserved(key);
    if (errors.length) throw errors[0]!.reason;
    return { delta: count };
  }

  private async createPod(job: Job, index: number | undefined): Promise<void> {
    const t = job.spec!.template;
    const spec = structuredClone(t.spec);
    const labels = { ...(t.metadata?.labels ?? {}) };
    const annotations = { ...(t.metadata?.annotations ?? {}) };
    if (index !== undefined) {
      labels[JOB_COMPLETION_INDEX] = String(index);
      annotations[JOB_COMPLETION_INDEX] = String(index);
      // As Kubernetes' downward-API variable, given by value: the index is fixed for the pod's life.
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        c.env = [...(c.env ?? []).filter((e) => e.name !== 'JOB_COMPLETION_INDEX'), { name: 'JOB_COMPLETION_INDEX', value: String(index) }];
      }
      if (spec.subdomain) spec.hostname ??= `${job.metadata.name}-${index}`;
    }
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: index === undefined ? `${job.metadata.name}-` : `${job.metadata.name}-${index}-`,
        namespace: job.metadata.namespace,
        labels,
        ...(Object.keys(annotations).length ? { annotations } : {}),
        finalizers: [...(t.metadata?.finalizers ?? []), JOB_TRACKING_FINALIZER],
        ownerReferences: [newControllerRef(job, JOB_API_VERSION, JOB_KIND)],
      },
      spec,
    };
    try {
      const created = await this.pods.create(pod);
      this.recorder.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    } catch (err) {
      this.recorder.event(job, 'Warning', 'FailedCreate', `Error creating: ${errMessage(err)}`);
      throw err;
    }
  }

  /** Deletes pods; returns the first error other than NotFound. */
  private async deletePods(key: string, job: Job, pods: readonly Pod[], notFailures = false): Promise<unknown> {
    if (pods.length === 0) return undefined;
    if (notFailures) {
      let set = this.deletedByUs.get(key);
      if (!set) this.deletedByUs.set(key, (set = new Set()));
      for (const p of pods) set.add(p.metadata.uid!);
    }
    this.expectations.expectDeletions(key, pods.map(objectKey));
    let first: unknown;
    await Promise.all(
      pods.map(async (p) => {
        try {
          await this.pods.delete(p.metadata.namespace, p.metadata.name!);
          this.recorder.event(job, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (err) {
          this.expectations.deletionObserved(key, objectKey(p));
          if (!isReason(err, 'NotFound')) first ??= err;
        }
      }),
    );
    return first;
  }

  /** ttlSecondsAfterFinished: deletes the finished Job (and, through the garbage collector, its pods) once the time is up. */
  private async ttl(job: Job, now: number): Promise<ReconcileResult | void> {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    const finished = jobFinishTime(job);
    if (ttl === undefined || ttl === null || finished === undefined || job.metadata.deletionTimestamp) return;
    const left = finished + ttl * 1000 - now;
    if (left > 0) return { requeueAfter: left };
    try {
      await this.jobs.delete(job.metadata.namespace, job.metadata.name!, { propagationPolicy: 'Background', preconditions: { uid: job.metadata.uid } });
      this.log.info({ job: objectKey(job) }, 'deleted finished job after its ttlSecondsAfterFinished');
    } catch (err) {
      if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
    }
  }

  private async writeStatus(job: Job, status: JobStatus): Promise<void> {
    const fields: Array<keyof JobStatus> = ['conditions', 'startTime', 'completionTime', 'active', 'succeeded', 'failed', 'ready', 'completedIndexes', 'uncountedTerminatedPods'];
    const cur = job.status ?? {};
    if (fields.every((f) => JSON.stringify(cur[f]) === JSON.stringify(status[f]))) return;
    // A merge patch of every field (null clears): no resourceVersion needed, only this controller writes Job status.
    const patch: Record<string, unknown> = {};
    for (const f of fields) patch[f] = status[f] ?? null;
    if (status.uncountedTerminatedPods) patch.uncountedTerminatedPods = { succeeded: status.uncountedTerminatedPods.succeeded ?? null, failed: status.uncountedTerminatedPods.failed ?? null };
    const w = await this.jobs.patchStatus(job.metadata.namespace, job.metadata.name!, { status: patch as KubeObject['status'] }, 'merge');
    this.lastWrite.set(objectKey(job), Number(w.metadata.resourceVersion));
  }
}
