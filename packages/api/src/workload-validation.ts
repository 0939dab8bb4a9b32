/**
 * Defaults, server-side create preparation and validation of the workload
 * kinds DaemonSet (apps/v1), Job and CronJob (batch/v1), with Kubernetes'
 * rules and wording, so a bad manifest gets the 422 a real cluster gives.
 */
import type { ControllerRevision, DaemonSet } from './apps-types.js';
import {
  JOB_CONTROLLER_UID_LABEL,
  JOB_NAME_LABEL,
  LEGACY_JOB_CONTROLLER_UID_LABEL,
  LEGACY_JOB_NAME_LABEL,
  type CronJob,
  type Job,
  type JobSpec,
} from './batch-types.js';
import type { PodTemplateSpec } from './core-types.js';
import { isValidTimeZone, parseCronSchedule } from './cron.js';
import { defaultPodTemplate } from './defaults.js';
import type { FieldError } from './errors.js';
import { canonicalJson } from './helpers.js';
import type { KubeObject, LabelSelector } from './meta.js';
import { isDns1123Subdomain } from './names.js';
import { labelSelectorFromObject } from './selectors.js';
import { FieldErrors, validateLabels, validateObjectMeta, validateObjectMetaUpdate, validatePodSpec } from './validation.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- input is untrusted JSON; fields are checked one by one
const isObj = (x: unknown): x is Record<string, any> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
const IMMUTABLE = 'field is immutable';

/** Longest CronJob name: its Jobs append an 11-character suffix and must stay a valid label value. */
export const MAX_CRONJOB_NAME_LENGTH = 52;
/** Longest Job name: it becomes the `batch.kubernetes.io/job-name` label value. */
export const MAX_JOB_NAME_LENGTH = 63;

function nonNegativeInt(e: FieldErrors, field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!isInt(value)) e.invalid(field, value, 'must be an integer');
  else if (value < 0) e.invalid(field, value, 'must be greater than or equal to 0');
}

function positiveInt(e: FieldErrors, field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!isInt(value)) e.invalid(field, value, 'must be an integer');
  else if (value <= 0) e.invalid(field, value, 'must be greater than 0');
}

function bool(e: FieldErrors, field: string, value: unknown): void {
  if (value !== undefined && value !== null && typeof value !== 'boolean') e.invalid(field, value, 'must be a boolean');
}

/** An integer or a percentage; returns the number (percent value for strings) when valid. */
function intOrPercent(e: FieldErrors, field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) e.invalid(field, value, 'must be an integer');
    else if (value < 0) e.invalid(field, value, 'must be greater than or equal to 0');
    else return value;
    return undefined;
  }
  if (typeof value === 'string') {
    const m = /^(\d+)%$/.exec(value);
    if (!m) e.invalid(field, value, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
    else if (Number(m[1]) > 100) e.invalid(field, value, 'must not be greater than 100%');
    else return Number(m[1]);
    return undefined;
  }
  e.invalid(field, value, 'must be an integer or percentage (e.g. 5 or 25%)');
  return undefined;
}

/** Object labels default to the template's when the object has none (DaemonSet, Job). */
function labelsFromTemplate(obj: KubeObject, template: PodTemplateSpec | undefined): void {
  const labels = template?.metadata?.labels;
  if (isObj(obj.metadata) && (!obj.metadata.labels || Object.keys(obj.metadata.labels).length === 0) && isObj(labels) && Object.keys(labels).length > 0) {
    obj.metadata.labels = { ...labels };
  }
}

// ------------------------------------------------------------------ DaemonSet

/** DaemonSet defaults: RollingUpdate with maxUnavailable 1 and maxSurge 0, 10 revisions kept, labels from the template. */
export function defaultDaemonSet(obj: KubeObject): void {
  const ds = obj as DaemonSet;
  if (!isObj(ds.spec)) return;
  const spec = ds.spec;
  spec.updateStrategy ??= {};
  if (isObj(spec.updateStrategy)) {
    spec.updateStrategy.type ??= 'RollingUpdate';
    if (spec.updateStrategy.type === 'RollingUpdate') {
      spec.updateStrategy.rollingUpdate ??= {};
      if (isObj(spec.updateStrategy.rollingUpdate)) {
        spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
        spec.updateStrategy.rollingUpdate.maxSurge ??= 0;
      }
    }
  }
  spec.revisionHistoryLimit ??= 10;
  defaultPodTemplate(spec.template);
  labelsFromTemplate(ds, spec.template);
}

/** The selector and template checks shared by the workload kinds; returns whether the template labels match. */
function validateSelectorAndTemplate(e: FieldErrors, selector: LabelSelector | undefined, template: PodTemplateSpec | undefined, path: string, kindWord: string, required = true): void {
  let matches: ((l: Record<string, string>) => boolean) | undefined;
  if (selector === undefined || selector === null) {
    if (required) e.required(`${path}.selector`);
  } else if (!isObj(selector)) {
    e.invalid(`${path}.selector`, selector, 'must be an object');
  } else {
    try {
      const sel = labelSelectorFromObject(selector);
      if (sel.empty) e.invalid(`${path}.selector`, selector, `empty selector is invalid for ${kindWord}`);
      else matches = (l) => sel.matches(l);
    } catch (err) {
      e.invalid(`${path}.selector`, selector, err instanceof Error ? err.message : String(err));
    }
    if (isObj(selector.matchLabels)) validateLabels(e, selector.matchLabels, `${path}.selector.matchLabels`);
  }
  if (!isObj(template)) {
    e.required(`${path}.template`);
    return;
  }
  if (template.metadata !== undefined) {
    if (!isObj(template.metadata)) e.invalid(`${path}.template.metadata`, template.metadata, 'must be an object');
    else validateLabels(e, template.metadata.labels, `${path}.template.metadata.labels`);
  }
  const labels = isObj(template.metadata?.labels) ? template.metadata!.labels : {};
  if (matches && !matches(labels)) e.invalid(`${path}.template.metadata.labels`, labels, '`selector` does not match template `labels`');
  validatePodSpec(e, template.spec, `${path}.template.spec`);
}

/** Validates a DaemonSet (create, or update when `old` is given). */
export function validateDaemonSet(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const ds = obj as DaemonSet;
  validateObjectMeta(e, ds.metadata, true, isDns1123Subdomain);
  const spec = ds.spec;
  if (!isObj(spec)) e.required('spec');
  else {
    validateSelectorAndTemplate(e, spec.selector, spec.template, 'spec', 'daemonset');
    const podSpec = spec.template?.spec;
    if (isObj(podSpec) && podSpec.restartPolicy !== undefined && podSpec.restartPolicy !== 'Always') {
      e.notSupported('spec.template.spec.restartPolicy', podSpec.restartPolicy, ['Always']);
    }
    if (isObj(podSpec) && podSpec.activeDeadlineSeconds !== undefined) {
      e.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in DaemonSet is not Supported');
    }
    nonNegativeInt(e, 'spec.minReadySeconds', spec.minReadySeconds);
    nonNegativeInt(e, 'spec.revisionHistoryLimit', spec.revisionHistoryLimit);
    const st = spec.updateStrategy;
    if (st !== undefined) {
      const types = ['OnDelete', 'RollingUpdate'];
      if (!isObj(st)) e.invalid('spec.updateStrategy', st, 'must be an object');
      else if (st.type === undefined) e.required('spec.updateStrategy.type');
      else if (!types.includes(st.type)) e.notSupported('spec.updateStrategy.type', st.type, types);
      else if (st.type === 'RollingUpdate') {
        const ru = st.rollingUpdate;
        if (!isObj(ru)) e.required('spec.updateStrategy.rollingUpdate');
        else {
          const p = 'spec.updateStrategy.rollingUpdate';
          const unavailable = intOrPercent(e, `${p}.maxUnavailable`, ru.maxUnavailable);
          const surge = intOrPercent(e, `${p}.maxSurge`, ru.maxSurge);
          if ((unavailable ?? 0) === 0 && (surge ?? 0) === 0 && unavailable !== undefined && surge !== undefined) {
            e.invalid(`${p}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0');
          }
        }
      }
    }
  }
  if (old) {
    validateObjectMetaUpdate(e, ds.metadata, old.metadata);
    const oldSel = (old as DaemonSet).spec?.selector;
    if (oldSel !== undefined && canonicalJson(ds.spec?.selector) !== canonicalJson(oldSel)) e.invalid('spec.selector', ds.spec?.selector, IMMUTABLE);
  }
  return e.list;
}

// ------------------------------------------------------------------ Job

function defaultJobSpec(spec: JobSpec): void {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? 2147483647 : 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.manualSelector ??= false;
  spec.podReplacementPolicy ??= spec.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed';
  defaultPodTemplate(spec.template);
}

/** Job defaults: completions and parallelism 1 (parallelism 1 alone for a work queue), backoffLimit 6, NonIndexed, not suspended, labels from the template. */
export function defaultJob(obj: KubeObject): void {
  const job = obj as Job;
  if (!isObj(job.spec)) return;
  defaultJobSpec(job.spec);
  labelsFromTemplate(job, job.spec.template);
}

/**
 * What the server sets on a new Job, as Kubernetes' job strategy does:
 * unless `manualSelector`, the pod template gets the
 * `batch.kubernetes.io/controller-uid` and `…/job-name` labels (and their
 * legacy forms) and the selector is `controller-uid=<uid>`. Needs the uid:
 * the apiserver assigns it before calling this.
 */
export function prepareJobForCreate(obj: KubeObject): void {
  const job = obj as Job;
  const uid = job.metadata?.uid;
  if (!isObj(job.spec) || !uid || job.spec.manualSelector === true || !isObj(job.spec.template)) return;
  const t = job.spec.template;
  if (t.metadata !== undefined && !isObj(t.metadata)) return;
  t.metadata ??= {};
  if (t.metadata.labels !== undefined && !isObj(t.metadata.labels)) return;
  const name = job.metadata.name ?? '';
  t.metadata.labels = {
    ...(t.metadata.labels ?? {}),
    [JOB_CONTROLLER_UID_LABEL]: uid,
    [LEGACY_JOB_CONTROLLER_UID_LABEL]: uid,
    ...(name ? { [JOB_NAME_LABEL]: name, [LEGACY_JOB_NAME_LABEL]: name } : {}),
  };
  if (job.spec.selector === undefined || job.spec.selector === null) job.spec.selector = {};
  if (!isObj(job.spec.selector)) return;
  job.spec.selector.matchLabels = { ...(isObj(job.spec.selector.matchLabels) ? job.spec.selector.matchLabels : {}), [JOB_CONTROLLER_UID_LABEL]: uid };
}

/** The spec checks of a Job, also used for a CronJob's jobTemplate (where the selector is not required). */
function validateJobSpec(e: FieldErrors, spec: JobSpec, path: string, isTemplate: boolean): void {
  nonNegativeInt(e, `${path}.parallelism`, spec.parallelism);
  nonNegativeInt(e, `${path}.completions`, spec.completions);
  positiveInt(e, `${path}.activeDeadlineSeconds`, spec.activeDeadlineSeconds);
  nonNegativeInt(e, `${path}.backoffLimit`, spec.backoffLimit);
  nonNegativeInt(e, `${path}.ttlSecondsAfterFinished`, spec.ttlSecondsAfterFinished);
  bool(e, `${path}.suspend`, spec.suspend);
  bool(e, `${path}.manualSelector`, spec.manualSelector);
  const modes = ['NonIndexed', 'Indexed'];
  if (spec.completionMode !== undefined && !modes.includes(spec.completionMode)) e.notSupported(`${path}.completionMode`, spec.completionMode, modes);
  if (spec.completionMode === 'Indexed') {
    if (spec.completions === undefined || spec.completions === null) e.required(`${path}.completions`, 'when completion mode is Indexed');
    else if (isInt(spec.completions) && spec.completions > 100000) e.invalid(`${path}.completions`, spec.completions, 'must be less than or equal to 100000 when completion mode is Indexed');
  }
  if (spec.podFailurePolicy !== undefined && spec.podFailurePolicy !== null) e.forbidden(`${path}.podFailurePolicy`, 'podFailurePolicy is not supported by Flotilla');
  if (spec.successPolicy !== undefined && spec.successPolicy !== null) e.forbidden(`${path}.successPolicy`, 'successPolicy is not supported by Flotilla');
  if (spec.backoffLimitPerIndex !== undefined && spec.backoffLimitPerIndex !== null) e.forbidden(`${path}.backoffLimitPerIndex`, 'backoffLimitPerIndex is not supported by Flotilla');
  validateSelectorAndTemplate(e, spec.selector, spec.template, path, 'job', !isTemplate);
  const podSpec = spec.template?.spec;
  if (isObj(podSpec) && podSpec.restartPolicy !== undefined && podSpec.restartPolicy !== 'OnFailure' && podSpec.restartPolicy !== 'Never') {
    e.notSupported(`${path}.template.spec.restartPolicy`, podSpec.restartPolicy, ['OnFailure', 'Never']);
  }
}

/** Validates a Job (create, or update when `old` is given). */
export function validateJob(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const job = obj as Job;
  validateObjectMeta(e, job.metadata, true, isDns1123Subdomain);
  const name = job.metadata?.name;
  if (typeof name === 'string' && name.length > MAX_JOB_NAME_LENGTH) e.invalid('metadata.name', name, `must be no more than ${MAX_JOB_NAME_LENGTH} characters`);
  const spec = job.spec;
  if (!isObj(spec)) e.required('spec');
  else {
    validateJobSpec(e, spec, 'spec', false);
    if (spec.manualSelector !== true && isObj(spec.selector) && job.metadata?.uid) {
      // Without manualSelector the selector is the server's: exactly controller-uid=<uid>.
      const want = { matchLabels: { [JOB_CONTROLLER_UID_LABEL]: job.metadata.uid } };
      if (canonicalJson({ matchLabels: spec.selector.matchLabels, ...(spec.selector.matchExpressions?.length ? { matchExpressions: spec.selector.matchExpressions } : {}) }) !== canonicalJson(want)) {
        e.invalid('spec.selector', spec.selector, '`selector` not auto-generated');
      }
    }
  }
  if (old) {
    const o = old as Job;
    validateObjectMetaUpdate(e, job.metadata, o.metadata);
    if (isObj(spec) && isObj(o.spec)) {
      if (canonicalJson(spec.selector) !== canonicalJson(o.spec.selector)) e.invalid('spec.selector', spec.selector, IMMUTABLE);
      if (spec.completions !== o.spec.completions) e.invalid('spec.completions', spec.completions, IMMUTABLE);
      if (spec.completionMode !== o.spec.completionMode) e.invalid('spec.completionMode', spec.completionMode, IMMUTABLE);
      // The template may change only while the Job is suspended and has not started (Kubernetes' rule for queues).
      const mutable = o.spec.suspend === true && !(o.status as Job['status'])?.startTime;
      if (!mutable && canonicalJson(spec.template) !== canonicalJson(o.spec.template)) e.invalid('spec.template', spec.template, IMMUTABLE);
    }
  }
  return e.list;
}

// ------------------------------------------------------------------ CronJob

/** CronJob defaults: concurrencyPolicy Allow, not suspended, 3 successful and 1 failed Jobs kept; the job template's pod template defaulted. */
export function defaultCronJob(obj: KubeObject): void {
  const cj = obj as CronJob;
  if (!isObj(cj.spec)) return;
  const spec = cj.spec;
  spec.concurrencyPolicy ??= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  if (isObj(spec.jobTemplate) && isObj(spec.jobTemplate.spec)) defaultPodTemplate(spec.jobTemplate.spec.template);
}

/** Validates a CronJob (create, or update when `old` is given). */
export function validateCronJob(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const cj = obj as CronJob;
  validateObjectMeta(e, cj.metadata, true, isDns1123Subdomain);
  const name = cj.metadata?.name;
  if (typeof name === 'string' && name.length > MAX_CRONJOB_NAME_LENGTH) e.invalid('metadata.name', name, `must be no more than ${MAX_CRONJOB_NAME_LENGTH} characters`);
  const spec = cj.spec;
  if (!isObj(spec)) e.required('spec');
  else {
    const schedule = spec.schedule;
    if (schedule === undefined || schedule === null || schedule === '') e.required('spec.schedule');
    else if (typeof schedule !== 'string') e.invalid('spec.schedule', schedule, 'must be a string');
    else {
      try {
        parseCronSchedule(schedule);
      } catch (err) {
        e.invalid('spec.schedule', schedule, (err as Error).message);
      }
      // A TZ prefix is refused on new objects (use timeZone), and kept on old ones that already had it, as Kubernetes does.
      const oldSchedule = (old as CronJob | undefined)?.spec?.schedule;
      const allowTZ = typeof oldSchedule === 'string' && oldSchedule.includes('TZ');
      if (schedule.includes('TZ')) {
        if (!allowTZ) e.invalid('spec.schedule', schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead');
        else if (spec.timeZone !== undefined && spec.timeZone !== null) e.invalid('spec.schedule', schedule, 'cannot use both timeZone field and TZ or CRON_TZ in schedule');
      }
    }
    if (spec.timeZone !== undefined && spec.timeZone !== null) {
      if (typeof spec.timeZone !== 'string' || spec.timeZone === '') e.invalid('spec.timeZone', spec.timeZone, 'timeZone must be nil or non-empty string');
      else if (spec.timeZone.toLowerCase() === 'local') e.invalid('spec.timeZone', spec.timeZone, 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones');
      else if (!isValidTimeZone(spec.timeZone)) e.invalid('spec.timeZone', spec.timeZone, `unknown time zone ${spec.timeZone}`);
    }
    const policies = ['Allow', 'Forbid', 'Replace'];
    if (spec.concurrencyPolicy === undefined) e.required('spec.concurrencyPolicy');
    else if (!policies.includes(spec.concurrencyPolicy)) e.notSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, policies);
    nonNegativeInt(e, 'spec.startingDeadlineSeconds', spec.startingDeadlineSeconds);
    nonNegativeInt(e, 'spec.successfulJobsHistoryLimit', spec.successfulJobsHistoryLimit);
    nonNegativeInt(e, 'spec.failedJobsHistoryLimit', spec.failedJobsHistoryLimit);
    bool(e, 'spec.suspend', spec.suspend);
    const jt = spec.jobTemplate;
    if (!isObj(jt)) e.required('spec.jobTemplate');
    else {
      if (jt.metadata !== undefined) {
        if (!isObj(jt.metadata)) e.invalid('spec.jobTemplate.metadata', jt.metadata, 'must be an object');
        else validateLabels(e, jt.metadata.labels, 'spec.jobTemplate.metadata.labels');
      }
      if (!isObj(jt.spec)) e.required('spec.jobTemplate.spec');
      else {
        validateJobSpec(e, jt.spec, 'spec.jobTemplate.spec', true);
        if (jt.spec.manualSelector !== true && jt.spec.selector !== undefined && jt.spec.selector !== null) {
          e.invalid('spec.jobTemplate.spec.selector', jt.spec.selector, '`selector` will be auto-generated');
        }
      }
    }
  }
  if (old) validateObjectMetaUpdate(e, cj.metadata, old.metadata);
  return e.list;
}

// ------------------------------------------------------------------ ControllerRevision

/** Validates a ControllerRevision: a non-negative revision; data never changes. */
export function validateControllerRevision(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const cr = obj as ControllerRevision;
  validateObjectMeta(e, cr.metadata, true, isDns1123Subdomain);
  if (cr.revision === undefined || cr.revision === null) e.required('revision');
  else nonNegativeInt(e, 'revision', cr.revision);
  if (old) {
    validateObjectMetaUpdate(e, cr.metadata, old.metadata);
    if (canonicalJson(cr.data ?? null) !== canonicalJson((old as ControllerRevision).data ?? null)) e.invalid('data', '', IMMUTABLE);
  }
  return e.list;
}
