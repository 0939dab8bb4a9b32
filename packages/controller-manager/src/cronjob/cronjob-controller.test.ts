import { defaultCronJob, nowTimestamp, parseCronSchedule, type CronJob, type Job } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient, FakeClock, waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEvents } from '../replicaset/test-fixtures.js';
import { CronJobController, cronJobJobName, scheduleTimes } from './cronjob-controller.js';

const T0 = Date.UTC(2024, 0, 1, 10, 0, 30);
const MIN = 60_000;
const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

function cronJob(spec: Partial<CronJob['spec']> = {}): CronJob {
  const cj: CronJob = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { namespace: 'ns', name: 'tick', uid: 'uid-cj', creationTimestamp: nowTimestamp(new Date(T0)) },
    spec: { schedule: '*/1 * * * *', jobTemplate: { metadata: { labels: { app: 'tick' } }, spec: { template: { spec: { containers: [{ name: 'c', image: 'img:1' }], restartPolicy: 'Never' } } } }, ...spec },
  };
  defaultCronJob(cj);
  return cj;
}

async function setup(cj: CronJob) {
  const clock = new FakeClock(T0);
  const fake = new FakeApiClient({ objects: [cj], clock });
  const informers = new InformerFactory(fake, { clock });
  const events = new MemoryEvents();
  const cc = new CronJobController({ client: fake, informers, recorder: events, clock });
  const stop = new AbortController();
  stops.push(stop);
  informers.start(stop.signal);
  await informers.waitForSync();
  const cache = cc as unknown as { jobInformer: { store: { list(): Job[] } }; cjInformer: { store: { get(k: string): CronJob | undefined } } };
  const synced = () =>
    waitFor(() => {
      const jobs = fake.peekAll<Job>('jobs');
      const cached = cache.jobInformer.store.list();
      const c = fake.peekAll<CronJob>('cronjobs')[0]!;
      return cached.length === jobs.length && jobs.every((j) => cached.some((x) => x.metadata.resourceVersion === j.metadata.resourceVersion)) && cache.cjInformer.store.get('ns/tick')?.metadata.resourceVersion === c.metadata.resourceVersion;
    }, { what: 'caches in sync' });
  const step = async () => {
    await synced();
    const r = await cc.reconcile('ns/tick');
    await synced();
    return r;
  };
  const jobs = () => fake.peekAll<Job>('jobs').map((j) => j.metadata.name!).sort();
  const status = () => fake.peekAll<CronJob>('cronjobs')[0]!.status ?? {};
  const finishJob = async (name: string, type: 'Complete' | 'Failed') => {
    const at = nowTimestamp(new Date(clock.now()));
    await fake.resource<Job>('jobs').patchStatus('ns', name, { status: { startTime: at, ...(type === 'Complete' ? { completionTime: at } : {}), conditions: [{ type, status: 'True', lastTransitionTime: at }] } }, 'merge');
  };
  return { clock, fake, events, cc, step, jobs, status, finishJob };
}

describe('scheduleTimes', () => {
  it('finds the latest missed time, the count and the next time, also after very many misses', () => {
    const s = parseCronSchedule('*/1 * * * *');
    expect(scheduleTimes(s, undefined, T0, T0 + 30_000)).toEqual({ mostRecent: T0 + 30_000, missed: 1, next: T0 + 90_000 });
    expect(scheduleTimes(s, undefined, T0, T0 + 20_000)).toEqual({ missed: 0, next: T0 + 30_000 });
    const far = scheduleTimes(s, undefined, T0 - 100 * 24 * 60 * MIN, T0);
    expect(far.mostRecent).toBe(T0 - 30_000);
    expect(far.missed).toBe(1000);
  });
  it('names jobs by scheduled minutes since the epoch', () => {
    expect(cronJobJobName('tick', Date.UTC(2024, 0, 1, 10, 1))).toBe('tick-28401721');
  });
});

describe('CronJobController.reconcile', () => {
  it('creates a Job at each scheduled minute, named <cronjob>-<minutes>, owned by the CronJob, then sleeps until the next', async () => {
    const { clock, events, step, jobs, status, fake } = await setup(cronJob());
    // Created at 10:00:30: the first time is 10:01.
    expect(await step()).toEqual({ requeueAfter: 30_000 + 100 });
    expect(jobs()).toEqual([]);
    clock.advance(30_000);
    expect(await step()).toEqual({ requeueAfter: MIN + 100 });
    const name = cronJobJobName('tick', T0 + 30_000);
    expect(jobs()).toEqual([name]);
    const job = fake.peekAll<Job>('jobs')[0]!;
    expect(job.metadata.labels).toEqual({ app: 'tick' });
    expect(job.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: 'uid-cj', controller: true, blockOwnerDeletion: true }]);
    expect(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2024-01-01T10:01:00Z');
    expect(status()).toMatchObject({ lastScheduleTime: '2024-01-01T10:01:00Z', active: [{ kind: 'Job', name, namespace: 'ns', apiVersion: 'batch/v1' }] });
    expect(events.reasons()).toEqual(['SuccessfulCreate']);
    // The same minute again creates nothing.
    await step();
    expect(jobs()).toEqual([name]);
  });

  it('concurrencyPolicy Forbid: no new Job while one runs; the next time after it finished starts one', async () => {
    const { clock, events, step, jobs, status, finishJob } = await setup(cronJob({ concurrencyPolicy: 'Forbid' }));
    clock.advance(30_000);
    await step();
    const first = jobs()[0]!;
    clock.advance(MIN);
    await step();
    expect(jobs()).toEqual([first]);
    expect(events.reasons()).toContain('JobAlreadyActive');
    await finishJob(first, 'Complete');
    await step();
    // The finished Job leaves status.active (SawCompletedJob); the missed 10:02 is still within reach and starts now.
    expect(events.reasons()).toContain('SawCompletedJob');
    expect(jobs()).toHaveLength(2);
    expect(status().lastSuccessfulTime).toBeDefined();
  });

  it('concurrencyPolicy Replace deletes the running Job; Allow runs both', async () => {
    const replace = await setup(cronJob({ concurrencyPolicy: 'Replace' }));
    replace.clock.advance(30_000);
    await replace.step();
    const first = replace.jobs()[0]!;
    replace.clock.advance(MIN);
    await replace.step();
    expect(replace.fake.actionsOf('delete', 'jobs').map((a) => a.name)).toEqual([first]);
    expect(replace.jobs()).toEqual([cronJobJobName('tick', T0 + 90_000)]);

    const allow = await setup(cronJob());
    allow.clock.advance(30_000);
    await allow.step();
    allow.clock.advance(MIN);
    await allow.step();
    expect(allow.jobs()).toHaveLength(2);
    expect(allow.status().active).toHaveLength(2);
  });

  it('startingDeadlineSeconds: a time missed by more is skipped, one within it still starts', async () => {
    const late = await setup(cronJob({ schedule: '0 * * * *', startingDeadlineSeconds: 10 }));
    // The 11:00 run is noticed at 11:00:20, 20 s late: skipped; the controller sleeps until 12:00.
    late.clock.advance(59 * MIN + 50_000);
    expect(await late.step()).toEqual({ requeueAfter: 59 * MIN + 40_000 + 100 });
    expect(late.jobs()).toEqual([]);
    const inTime = await setup(cronJob({ schedule: '0 * * * *', startingDeadlineSeconds: 30 }));
    inTime.clock.advance(59 * MIN + 50_000);
    await inTime.step();
    expect(inTime.jobs()).toEqual([cronJobJobName('tick', Date.UTC(2024, 0, 1, 11))]);
  });

  it('suspend creates nothing; history limits delete the oldest finished Jobs', async () => {
    const sus = await setup(cronJob({ suspend: true }));
    sus.clock.advance(5 * MIN);
    expect(await sus.step()).toBeUndefined();
    expect(sus.jobs()).toEqual([]);

    const { clock, step, jobs, finishJob, fake } = await setup(cronJob({ successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 }));
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(i === 0 ? 30_000 : MIN);
      await step();
      names.push(cronJobJobName('tick', clock.now() - (clock.now() % MIN)));
    }
    await finishJob(names[0]!, 'Complete');
    await finishJob(names[1]!, 'Complete');
    await finishJob(names[2]!, 'Failed');
    await step();
    expect(fake.actionsOf('delete', 'jobs').map((a) => a.name)).toEqual([names[0]]);
    expect(jobs()).toEqual([...names.slice(1)].sort());
  });

  it('kubectl create job --from=cronjob: a Job it did not create is reported once, not adopted', async () => {
    const { fake, events, step, status } = await setup(cronJob());
    await fake.resource<Job>('jobs').create({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { namespace: 'ns', name: 'manual', annotations: { 'cronjob.kubernetes.io/instantiate': 'manual' }, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: 'uid-cj', controller: true }] },
      spec: { template: { spec: { containers: [{ name: 'c', image: 'img:1' }], restartPolicy: 'Never' } } },
    });
    await step();
    await step();
    expect(events.reasons().filter((r) => r === 'UnexpectedJob')).toHaveLength(1);
    expect(status().active).toBeUndefined();
  });
});
