/** batch/v1 types (Job, CronJob) with Kubernetes field names. */
import type { PodTemplateSpec } from './core-types.js';
import type { Condition, KubeList, KubeObject, LabelSelector, ObjectMeta } from './meta.js';

/** How a Job counts completions: any N successes, or one success per index 0…N-1. */
export type CompletionMode = 'NonIndexed' | 'Indexed';

/** spec of a Job. */
export interface JobSpec {
  parallelism?: number;
  completions?: number;
  activeDeadlineSeconds?: number;
  backoffLimit?: number;
  backoffLimitPerIndex?: number;
  maxFailedIndexes?: number;
  selector?: LabelSelector;
  manualSelector?: boolean;
  template: PodTemplateSpec;
  ttlSecondsAfterFinished?: number;
  completionMode?: CompletionMode;
  suspend?: boolean;
  podReplacementPolicy?: 'TerminatingOrFailed' | 'Failed';
  podFailurePolicy?: unknown;
  successPolicy?: unknown;
  managedBy?: string;
}

/** Pods that finished but whose finalizer the controller has not yet removed (finalizer-based tracking). */
export interface UncountedTerminatedPods {
  succeeded?: string[];
  failed?: string[];
}

/** status of a Job. */
export interface JobStatus {
  conditions?: Condition[];
  startTime?: string;
  completionTime?: string;
  active?: number;
  succeeded?: number;
  failed?: number;
  terminating?: number;
  completedIndexes?: string;
  failedIndexes?: string;
  uncountedTerminatedPods?: UncountedTerminatedPods;
  ready?: number;
}

/** A Job runs pods until a number of them succeed. */
export interface Job extends KubeObject {
  metadata: ObjectMeta;
  spec?: JobSpec;
  status?: JobStatus;
}

/** The Job a CronJob creates: metadata and spec. */
export interface JobTemplateSpec {
  metadata?: ObjectMeta;
  spec?: JobSpec;
}

/** spec of a CronJob. */
export interface CronJobSpec {
  schedule: string;
  timeZone?: string;
  startingDeadlineSeconds?: number;
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
  suspend?: boolean;
  jobTemplate: JobTemplateSpec;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
}

/** A reference to an active Job (core/v1 ObjectReference). */
export interface JobReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
}

/** status of a CronJob. */
export interface CronJobStatus {
  active?: JobReference[];
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
}

/** A CronJob creates Jobs on a schedule. */
export interface CronJob extends KubeObject {
  metadata: ObjectMeta;
  spec?: CronJobSpec;
  status?: CronJobStatus;
}

/** A list of jobs. */
export type JobList = KubeList<Job>;
/** A list of cron jobs. */
export type CronJobList = KubeList<CronJob>;

/** Label (and selector key) a Job puts on its pods: the Job's uid. */
export const JOB_CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
/** Label a Job puts on its pods: the Job's name. */
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** The labels of Kubernetes before 1.27, still set on pods for old selectors. */
export const LEGACY_JOB_CONTROLLER_UID_LABEL = 'controller-uid';
/** Legacy job-name label. */
export const LEGACY_JOB_NAME_LABEL = 'job-name';
/** Annotation and label with the completion index of a pod of an Indexed Job. */
export const JOB_COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
/** Finalizer the Job controller keeps on its pods until it has counted them. */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** Annotation `kubectl create job --from=cronjob/x` puts on the Job. */
export const CRONJOB_INSTANTIATE_ANNOTATION = 'cronjob.kubernetes.io/instantiate';
/** Annotation with the scheduled time of a Job a CronJob created (RFC 3339). */
export const CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
