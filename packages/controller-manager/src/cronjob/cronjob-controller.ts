/**
 * The CronJob controller (Kubernetes' CronJobControllerV2): at each time
 * the schedule names, in the CronJob's time zone, it creates a Job named
 * `<cronjob>-<scheduled time in minutes since the epoch>` — deterministic,
 * so a retry or a second controller cannot run one time twice — unless
 * the time was missed by more than `startingDeadlineSeconds`, or an older
 * Job still runs under `concurrencyPolicy: Forbid` (`Replace` deletes it
 * instead). It keeps `status.active`, `lastScheduleTime` and
 * `lastSuccessfulTime`, deletes finished Jobs beyond the history limits,
 * and sleeps until the next scheduled time (`requeueAfter`), so the clock
 * it is given is the only source of time.
 */
import {
  CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION,
  getCondition,
  isReason,
  isValidTimeZone,
  nextCronTime,
  nowTimestamp,
  objectKey,
  parseCronSchedule,
  type CronJob,
  type CronJobStatus,
  type CronSchedule,
  type Job,
  type JobReference,
  type KubeObject,
} from '@flotilla/api';
import type { Informer, ReconcileResult, ResourceClient } from '@flotilla/client';
import { errMessage } from '../context.js';
import type { ControllerMetrics } from '../controller-metrics.js';
import { isJobFinished } from '../job/job-util.js';
import { ownedBy, OwningController, watchDependents, type OwningControllerOptions } from '../owning-controller.js';
import { newControllerRef } from '../replicaset/controller-ref.js';

/** Options of a CronJobController. */
export interface CronJobControllerOptions extends OwningControllerOptions {
  /** Parallel reconciles. Default 5, like --concurrent-cron-job-syncs. */
  workers?: number;
  /** Reconcile counts, durations and queue depth; none recorded when unset. */
  metrics?: ControllerMetrics;
}

const CJ_API_VERSION = 'batch/v1';
const CJ_KIND = 'CronJob';
/** Kubernetes warns when more start times than this were missed. */
const TOO_MANY_MISSED = 100;
/** Schedule times walked one by one before jumping to the latest one. */
const WALK_LIMIT = 1000;
/** Wake a little after the scheduled time, so the clock has certainly passed it. */
const NEXT_SLACK_MS = 100;

/** The name of the Job for one scheduled time: `<cronjob>-<minutes since the epoch>`, as Kubernetes names it. */
export function cronJobJobName(cronJobName: string, scheduledMs: number): string {
  return `${cronJobName}-${Math.floor(scheduledMs / 60_000)}`;
}

/** What the schedule says about (earliest, now]: the latest time in it, how many there were, and the next time after now. */
export interface ScheduleTimes {
  mostRecent?: number;
  missed: number;
  next?: number;
}

/** The scheduled times in (earliest, now] (the latest, and how many) and the first one after `now`. */
export function scheduleTimes(s: CronSchedule, timeZone: string | undefined, earliest: number, now: number): ScheduleTimes {
  const next = nextCronTime(s, now, timeZone);
  let t = nextCronTime(s, earliest, timeZone);
  let mostRecent: number | undefined;
  let missed = 0;
  while (t !== undefined && t <= now && missed < WALK_LIMIT) {
    mostRecent = t;
    missed++;
    t = nextCronTime(s, t, timeZone);
  }
  if (t !== undefined && t <= now) {
    // Very many missed times: find the latest one from a window before now that holds one.
    for (let w = 60_000; w < 20 * 366 * 86_400_000; w *= 2) {
      let u = nextCronTime(s, now - w, timeZone);
      if (u === undefined || u > now) continue;
      while (u !== undefined && u <= now) {
        mostRecent = u;
        u = nextCronTime(s, u, timeZone);
      }
      break;
    }
  }
  return { ...(mostRecent !== undefined ? { mostRecent } : {}), missed, ...(next !== undefined ? { next } : {}) };
}

const ts = (ms: number) => nowTimestamp(new Date(ms));
const parseTime = (s: string | undefined) => (s ? Date.parse(s) : NaN);

/** Creates Jobs on schedule for every CronJob. */
export class CronJobController extends OwningController<CronJob> {
  private readonly jobs: ResourceClient<Job>;
  private readonly cronJobs: ResourceClient<CronJob>;
  private readonly jobInformer: Informer<Job>;
  private readonly cjInformer: Informer<CronJob>;
  /** Unexpected jobs already reported, so the Warning is said once. */
  private readonly reported = new Set<string>();

  constructor(options: CronJobControllerOptions) {
    super(options);
    this.jobs = options.client.resource<Job>({ apiVersion: 'batch/v1', kind: 'Job' });
    this.cronJobs = options.client.resource<CronJob>({ apiVersion: CJ_API_VERSION, kind: CJ_KIND });
    this.jobInformer = options.informers.informer<Job>('jobs');
    this.cjInformer = options.informers.informer<CronJob>('cronjobs');
    this.initQueue({ name: 'cronjob', workers: options.workers ?? 5, owners: this.cjInformer, reads: [this.jobInformer], metrics: options.metrics });
    // Jobs are not adopted: only the CronJob that controls a Job hears of it.
    watchDependents({ dependents: this.jobInformer, owners: this.cjInformer.store, ownerKind: CJ_KIND, controller: this.controller });
  }

  /** Reconciles one CronJob by key; exposed for tests. */
  override async reconcile(key: string): Promise<ReconcileResult | void> {
    const cj = this.cjInformer.store.get(key);
    if (!cj) return;
    const children = ownedBy(this.jobInformer.store, cj);
    const status: CronJobStatus = structuredClone(cj.status ?? {});
    let active: JobReference[] = [...(status.active ?? [])];
    await this.syncActive(cj, children, status, (a) => (active = a), () => active);

    const result = await this.schedule(cj, status, () => active, (a) => (active = a));
    status.active = active.length ? active : undefined;
    await this.writeStatus(cj, status);
    await this.cleanupHistory(cj, children, active);
    return result;
  }

  /** status.active against the Jobs that exist: finished ones leave it (SawCompletedJob), vanished ones too. */
  private async syncActive(cj: CronJob, children: Job[], status: CronJobStatus, set: (a: JobReference[]) => void, get: () => JobReference[]): Promise<void> {
    for (const j of children) {
      const uid = j.metadata.uid;
      const found = get().some((r) => r.uid === uid);
      const finished = isJobFinished(j);
      if (!found && !finished) {
        if (!this.reported.has(uid!)) {
          this.reported.add(uid!);
          this.recorder.event(cj, 'Warning', 'UnexpectedJob', `Saw a job that the controller did not create or forgot: ${j.metadata.name}`);
        }
      } else if (found && finished) {
        const cond = getCondition(j.status?.conditions, 'Complete')?.status === 'True' ? 'Complete' : 'Failed';
        set(get().filter((r) => r.uid !== uid));
        this.recorder.event(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata.name}, condition: ${cond}`);
      }
      if (getCondition(j.status?.conditions, 'Complete')?.status === 'True' && j.status?.completionTime) {
        const t = parseTime(j.status.completionTime);
        if (Number.isNaN(parseTime(status.lastSuccessfulTime)) || t > parseTime(status.lastSuccessfulTime)) status.lastSuccessfulTime = j.status.completionTime;
      }
    }
    // A reference without a Job in the cache: ask the API (the cache may lag behind a create).
    for (const ref of [...get()]) {
      if (children.some((j) => j.metadata.uid === ref.uid)) continue;
      try {
        const j = await this.jobs.get(ref.namespace ?? cj.metadata.namespace, ref.name!);
        if (j.metadata.uid !== ref.uid) set(get().filter((r) => r !== ref));
      } catch (err) {
        if (isReason(err, 'NotFound')) set(get().filter((r) => r !== ref));
        else throw err;
      }
    }
  }

  /** Decides whether this is a time to start a Job and starts it; returns when to look again. */
  private async schedule(cj: CronJob, status: CronJobStatus, active: () => JobReference[], setActive: (a: JobReference[]) => void): Promise<ReconcileResult | undefined> {
    const spec = cj.spec;
    if (!spec || cj.metadata.deletionTimestamp || spec.suspend) return undefined;
    let sched: CronSchedule;
    try {
      sched = parseCronSchedule(spec.schedule);
    } catch (err) {
      this.recorder.event(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(spec.schedule)} : ${errMessage(err)}`);
      return undefined;
    }
    const tz = spec.timeZone ?? undefined;
    if (tz && !isValidTimeZone(tz)) {
      this.recorder.event(cj, 'Warning', 'UnknownTimeZone', `invalid timeZone: ${JSON.stringify(tz)}`);
      return undefined;
    }
    const now = this.clock.now();
    let earliest = parseTime(status.lastScheduleTime ?? cj.metadata.creationTimestamp);
    if (Number.isNaN(earliest)) earliest = now;
    const sds = spec.startingDeadlineSeconds;
    if (sds !== undefined && sds !== null) earliest = Math.max(earliest, now - sds * 1000);
    const times = scheduleTimes(sched, tz, earliest, now);
    const wake = (): ReconcileResult | undefined => (times.next === undefined ? undefined : { requeueAfter: Math.max(0, times.next - now) + NEXT_SLACK_MS });
    const scheduled = times.mostRecent;
    if (scheduled === undefined) return wake();
    if (times.missed > TOO_MANY_MISSED) {
      this.recorder.event(cj, 'Warning', 'TooManyMissedTimes', `too many missed start times: ${times.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`);
    }
    if (sds !== undefined && sds !== null && scheduled + sds * 1000 < now) {
      this.recorder.event(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${ts(scheduled)}`);
      return wake();
    }
    const name = cronJobJobName(cj.metadata.name!, scheduled);
    if (active().some((r) => r.name === name)) return wake();
    if (spec.concurrencyPolicy === 'Forbid' && active().length > 0) {
      this.recorder.event(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      return wake();
    }
    if (spec.concurrencyPolicy === 'Replace') {
      for (const ref of active()) {
        try {
          await this.jobs.delete(ref.namespace ?? cj.metadata.namespace, ref.name!, { propagationPolicy: 'Background' });
          this.recorder.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${ref.name}`);
        } catch (err) {
          if (!isReason(err, 'NotFound')) {
            this.recorder.event(cj, 'Warning', 'FailedDelete', `Deleted job: ${errMessage(err)}`);
            throw err;
          }
        }
        setActive(active().filter((r) => r !== ref));
      }
    }
    const job = this.jobFor(cj, name, scheduled);
    let created: Job;
    try {
      created = await this.jobs.create(job);
      this.recorder.event(cj, 'Normal', 'SuccessfulCreate', `Created job ${name}`);
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) {
        this.recorder.event(cj, 'Warning', 'FailedCreate', `Error creating job: ${errMessage(err)}`);
        throw err;
      }
      // Created before (a lost status write, another controller): ours if it names us as its controller.
      created = await this.jobs.get(cj.metadata.namespace, name);
      const mine = created.metadata.ownerReferences?.some((r) => r.controller && r.uid === cj.metadata.uid);
      if (!mine) {
        this.recorder.event(cj, 'Warning', 'FailedCreate', `Error creating job: job ${name} already exists and is not owned by this CronJob`);
        return wake();
      }
      if (isJobFinished(created)) {
        status.lastScheduleTime = ts(scheduled);
        return wake();
      }
    }
    this.log.info({ cronjob: objectKey(cj), job: name, scheduled: ts(scheduled) }, 'created job');
    setActive([...active().filter((r) => r.uid !== created.metadata.uid), {
      kind: 'Job',
      namespace: created.metadata.namespace,
      name: created.metadata.name,
      uid: created.metadata.uid,
      apiVersion: 'batch/v1',
      resourceVersion: created.metadata.resourceVersion,
    }]);
    status.lastScheduleTime = ts(scheduled);
    return wake();
  }

  private jobFor(cj: CronJob, name: string, scheduled: number): Job {
    const t = cj.spec!.jobTemplate;
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name,
        namespace: cj.metadata.namespace,
        ...(t.metadata?.labels ? { labels: { ...t.metadata.labels } } : {}),
        annotations: { ...(t.metadata?.annotations ?? {}), [CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION]: ts(scheduled) },
        ownerReferences: [newControllerRef(cj, CJ_API_VERSION, CJ_KIND)],
      },
      spec: structuredClone(t.spec!),
    };
  }

  /** Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit. */
  private async cleanupHistory(cj: CronJob, children: Job[], active: JobReference[]): Promise<void> {
    if (cj.metadata.deletionTimestamp) return;
    const finished = children.filter((j) => isJobFinished(j) && !active.some((r) => r.uid === j.metadata.uid) && !j.metadata.deletionTimestamp);
    const started = (j: Job) => parseTime(j.status?.startTime ?? j.metadata.creationTimestamp) || 0;
    const ok = finished.filter((j) => getCondition(j.status?.conditions, 'Complete')?.status === 'True').sort((a, b) => started(a) - started(b));
    const bad = finished.filter((j) => getCondition(j.status?.conditions, 'Failed')?.status === 'True').sort((a, b) => started(a) - started(b));
    const victims = [
      ...ok.slice(0, Math.max(0, ok.length - (cj.spec?.successfulJobsHistoryLimit ?? 3))),
      ...bad.slice(0, Math.max(0, bad.length - (cj.spec?.failedJobsHistoryLimit ?? 1))),
    ];
    for (const j of victims) {
      try {
        await this.jobs.delete(j.metadata.namespace, j.metadata.name!, { propagationPolicy: 'Background' });
        this.recorder.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
      } catch (err) {
        if (!isReason(err, 'NotFound')) this.recorder.event(cj, 'Warning', 'FailedDelete', `Deleted job: ${errMessage(err)}`);
      }
    }
  }

  private async writeStatus(cj: CronJob, status: CronJobStatus): Promise<void> {
    const cur = cj.status ?? {};
    const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    if (same(cur.active, status.active) && same(cur.lastScheduleTime, status.lastScheduleTime) && same(cur.lastSuccessfulTime, status.lastSuccessfulTime)) return;
    const patch = { active: status.active ?? null, lastScheduleTime: status.lastScheduleTime ?? null, lastSuccessfulTime: status.lastSuccessfulTime ?? null };
    await this.cronJobs.patchStatus(cj.metadata.namespace, cj.metadata.name!, { status: patch as unknown as KubeObject['status'] }, 'merge');
  }
}
