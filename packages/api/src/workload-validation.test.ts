import { describe, expect, it } from 'vitest';
import type { DaemonSet } from './apps-types.js';
import type { CronJob, Job } from './batch-types.js';
import { unknownFields } from './known-fields.js';
import { findResource } from './registry.js';
import { defaultCronJob, defaultDaemonSet, defaultJob, prepareJobForCreate, validateCronJob, validateDaemonSet, validateJob } from './workload-validation.js';

const container = { name: 'c', image: 'busybox:1' };

function ds(over: Partial<DaemonSet['spec']> = {}): DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'ns' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [container] } }, ...over },
  };
}

function job(spec: Partial<Job['spec']> = {}): Job {
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi', namespace: 'ns' }, spec: { template: { spec: { containers: [container], restartPolicy: 'Never' } }, ...spec } };
}

function cronJob(spec: Partial<CronJob['spec']> = {}): CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick', namespace: 'ns' },
    spec: { schedule: '*/1 * * * *', jobTemplate: { spec: { template: { spec: { containers: [container], restartPolicy: 'OnFailure' } } } }, ...spec },
  };
}

const fields = (errs: Array<{ field?: string }>) => errs.map((e) => e.field);

describe('DaemonSet', () => {
  it('defaults as Kubernetes: RollingUpdate maxUnavailable 1 / maxSurge 0, 10 revisions, labels from the template', () => {
    const d = ds();
    defaultDaemonSet(d);
    expect(d.spec!.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(d.spec!.revisionHistoryLimit).toBe(10);
    expect(d.metadata.labels).toEqual({ app: 'agent' });
    expect(d.spec!.template.spec.restartPolicy).toBe('Always');
    expect(validateDaemonSet(d)).toEqual([]);
  });

  it('refuses a selector that does not match the template labels, at spec.template.metadata.labels', () => {
    const d = ds({ selector: { matchLabels: { app: 'other' } } });
    defaultDaemonSet(d);
    const errs = validateDaemonSet(d);
    expect(fields(errs)).toEqual(['spec.template.metadata.labels']);
    expect(errs[0]!.message).toContain('`selector` does not match template `labels`');
  });

  it('refuses restartPolicy other than Always, a bad strategy, and a selector change', () => {
    const d = ds({ updateStrategy: { type: 'Sometimes' as never } });
    d.spec!.template.spec.restartPolicy = 'Never';
    defaultDaemonSet(d);
    expect(fields(validateDaemonSet(d))).toEqual(['spec.template.spec.restartPolicy', 'spec.updateStrategy.type']);
    const zero = ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } } });
    defaultDaemonSet(zero);
    expect(fields(validateDaemonSet(zero))).toEqual(['spec.updateStrategy.rollingUpdate.maxUnavailable']);
    const old = ds();
    const cur = ds({ selector: { matchLabels: { app: 'agent', x: 'y' } } });
    cur.spec!.template.metadata!.labels = { app: 'agent', x: 'y' };
    defaultDaemonSet(old);
    defaultDaemonSet(cur);
    expect(fields(validateDaemonSet(cur, old))).toEqual(['spec.selector']);
  });
});

describe('Job', () => {
  it('defaults completions/parallelism 1, backoffLimit 6, NonIndexed; the server generates the selector and labels from the uid', () => {
    const j = job();
    defaultJob(j);
    expect(j.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed', suspend: false, manualSelector: false });
    j.metadata.uid = 'u-1';
    prepareJobForCreate(j);
    expect(j.spec!.selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1' } });
    expect(j.spec!.template.metadata!.labels).toEqual({
      'batch.kubernetes.io/controller-uid': 'u-1',
      'batch.kubernetes.io/job-name': 'pi',
      'controller-uid': 'u-1',
      'job-name': 'pi',
    });
    expect(validateJob(j)).toEqual([]);
  });

  it('a work queue (parallelism only) keeps completions unset', () => {
    const j = job({ parallelism: 3 });
    defaultJob(j);
    expect(j.spec!.completions).toBeUndefined();
    expect(j.spec!.parallelism).toBe(3);
  });

  it('refuses restartPolicy Always (the pod default) and a hand-written selector without manualSelector', () => {
    const j = job();
    delete j.spec!.template.spec.restartPolicy;
    j.spec!.selector = { matchLabels: { app: 'x' } };
    j.spec!.template.metadata = { labels: { app: 'x' } };
    defaultJob(j);
    j.metadata.uid = 'u-1';
    prepareJobForCreate(j);
    const errs = validateJob(j);
    expect(fields(errs)).toEqual(['spec.template.spec.restartPolicy', 'spec.selector']);
    expect(errs[0]!.message).toBe('Unsupported value: "Always": supported values: "OnFailure", "Never"');
  });

  it('manualSelector: the user selector must match the template', () => {
    const j = job({ manualSelector: true, selector: { matchLabels: { app: 'a' } } });
    j.spec!.template.metadata = { labels: { app: 'b' } };
    defaultJob(j);
    j.metadata.uid = 'u-1';
    prepareJobForCreate(j);
    expect(fields(validateJob(j))).toEqual(['spec.template.metadata.labels']);
  });

  it('refuses negative counts and an Indexed Job without completions; the template is immutable once started', () => {
    const j = job({ backoffLimit: -1, parallelism: -2, completionMode: 'Indexed', activeDeadlineSeconds: 0 });
    defaultJob(j);
    j.metadata.uid = 'u';
    prepareJobForCreate(j);
    expect(fields(validateJob(j))).toEqual(['spec.parallelism', 'spec.activeDeadlineSeconds', 'spec.backoffLimit', 'spec.completions']);
    const old = job();
    defaultJob(old);
    old.metadata.uid = 'u';
    prepareJobForCreate(old);
    const cur = structuredClone(old);
    cur.spec!.template.spec.containers[0]!.image = 'busybox:2';
    expect(fields(validateJob(cur, old))).toEqual(['spec.template']);
  });
});

describe('CronJob', () => {
  it('defaults concurrencyPolicy Allow, suspend false, history 3/1', () => {
    const c = cronJob();
    defaultCronJob(c);
    expect(c.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    expect(validateCronJob(c)).toEqual([]);
  });

  it('refuses `61 * * * *` at spec.schedule with the cron parser message', () => {
    const c = cronJob({ schedule: '61 * * * *' });
    defaultCronJob(c);
    const errs = validateCronJob(c);
    expect(errs).toEqual([{ type: 'FieldValueInvalid', field: 'spec.schedule', message: 'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' }]);
  });

  it('checks timeZone, refuses TZ in a new schedule, a bad policy, a long name and restartPolicy Always', () => {
    const c = cronJob({ timeZone: 'Mars/Olympus', schedule: 'CRON_TZ=UTC 0 * * * *', concurrencyPolicy: 'Sometimes' as never });
    c.metadata.name = 'x'.repeat(53);
    c.spec!.jobTemplate.spec!.template.spec.restartPolicy = 'Always';
    defaultCronJob(c);
    expect(fields(validateCronJob(c))).toEqual(['metadata.name', 'spec.schedule', 'spec.timeZone', 'spec.concurrencyPolicy', 'spec.jobTemplate.spec.template.spec.restartPolicy']);
    const ok = cronJob({ timeZone: 'Europe/Berlin', schedule: '@hourly' });
    defaultCronJob(ok);
    expect(validateCronJob(ok)).toEqual([]);
  });
});

describe('registry and strict fields', () => {
  it('serves the kinds with status, short names and field schemas', () => {
    expect(findResource('apps', 'v1', 'daemonsets')).toMatchObject({ kind: 'DaemonSet', shortNames: ['ds'], subresources: ['status'] });
    expect(findResource('batch', 'v1', 'jobs')).toMatchObject({ kind: 'Job', subresources: ['status'] });
    expect(findResource('batch', 'v1', 'cronjobs')).toMatchObject({ kind: 'CronJob', shortNames: ['cj'] });
    const c = cronJob();
    (c.spec as unknown as Record<string, unknown>).schedul = 'x';
    (c.spec!.jobTemplate.spec as unknown as Record<string, unknown>).backofLimit = 1;
    expect(unknownFields({ group: 'batch', plural: 'cronjobs' }, c)).toEqual(['spec.jobTemplate.spec.backofLimit', 'spec.schedul']);
    const d = ds();
    (d.spec as unknown as Record<string, unknown>).replicas = 3;
    expect(unknownFields({ group: 'apps', plural: 'daemonsets' }, d)).toEqual(['spec.replicas']);
  });
});

describe('untrusted bodies', () => {
  it('never throw in defaulting, preparation or validation, whatever the shapes', () => {
    const junk: unknown[] = [null, 5, 'x', [], {}, [1], { a: 1 }, true];
    const bodies: Array<Record<string, unknown>> = [];
    for (const j of junk) {
      bodies.push({ spec: j }, { spec: { template: j } }, { spec: { selector: j, template: { metadata: j, spec: j } } });
      bodies.push({ spec: { updateStrategy: j, jobTemplate: j, schedule: j, timeZone: j } }, { spec: { jobTemplate: { spec: j, metadata: j } } });
      bodies.push({ spec: { selector: { matchLabels: j, matchExpressions: j }, template: { metadata: { labels: j } } } }, { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: j } } });
    }
    for (const b of bodies) {
      const run = (d: (o: never) => void, v: (o: never, old?: never) => unknown) => {
        const o = { apiVersion: 'x', kind: 'y', metadata: { name: 'n', namespace: 'ns', uid: 'u' }, ...structuredClone(b) } as never;
        d(o);
        prepareJobForCreate(o);
        v(o);
        v(o, structuredClone(o));
      };
      expect(() => run(defaultDaemonSet, validateDaemonSet), JSON.stringify(b)).not.toThrow();
      expect(() => run(defaultJob, validateJob), JSON.stringify(b)).not.toThrow();
      expect(() => run(defaultCronJob, validateCronJob), JSON.stringify(b)).not.toThrow();
    }
  });
});
