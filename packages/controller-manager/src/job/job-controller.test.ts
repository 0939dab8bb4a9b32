import { defaultJob, getCondition, JOB_TRACKING_FINALIZER, nowTimestamp, prepareJobForCreate, type Job, type Pod } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient, FakeClock, waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEvents } from '../replicaset/test-fixtures.js';
import { JobController } from './job-controller.js';
import { formatIndexes, jobBackoffDelay, parseIndexes } from './job-util.js';

const T0 = Date.UTC(2024, 0, 1);
const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

function job(spec: Partial<Job['spec']> = {}): Job {
  const j: Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { namespace: 'ns', name: 'work', uid: 'uid-job', generation: 1, creationTimestamp: nowTimestamp(new Date(T0)) },
    spec: { template: { spec: { containers: [{ name: 'c', image: 'img:1' }], restartPolicy: 'Never' } }, ...spec },
  };
  defaultJob(j);
  prepareJobForCreate(j);
  return j;
}

async function setup(objects: Array<Job | Pod>) {
  const clock = new FakeClock(T0);
  const fake = new FakeApiClient({ objects, clock });
  const informers = new InformerFactory(fake, { clock });
  const events = new MemoryEvents();
  const jc = new JobController({ client: fake, informers, recorder: events, clock });
  const stop = new AbortController();
  stops.push(stop);
  informers.start(stop.signal);
  await informers.waitForSync();
  const cache = jc as unknown as { podInformer: { store: { list(): Pod[] } }; jobInformer: { store: { get(k: string): Job | undefined } } };
  /** Waits until the controller's caches show what the fake API holds. */
  const synced = () =>
    waitFor(() => {
      const pods = fake.peekAll<Pod>('pods');
      const cached = cache.podInformer.store.list();
      const j = fake.peekAll<Job>('jobs')[0];
      return (
        cached.length === pods.length &&
        pods.every((p) => cached.some((c) => c.metadata.resourceVersion === p.metadata.resourceVersion)) &&
        (!j || cache.jobInformer.store.get('ns/work')?.metadata.resourceVersion === j.metadata.resourceVersion)
      );
    }, { what: 'caches in sync' });
  /** Sets the phase of every active pod (or the first `n`) as the agent would. */
  const finish = async (phase: 'Succeeded' | 'Failed', n = Infinity) => {
    const pods = fake.peekAll<Pod>('pods').filter((p) => !p.status?.phase || p.status.phase === 'Pending' || p.status.phase === 'Running').slice(0, n);
    for (const p of pods) {
      await fake.resource<Pod>('pods').patchStatus('ns', p.metadata.name!, {
        status: { phase, containerStatuses: [{ name: 'c', ready: false, restartCount: 0, image: 'img:1', imageID: '', state: { terminated: { exitCode: phase === 'Failed' ? 1 : 0, finishedAt: nowTimestamp(new Date(clock.now())) } } }] },
      }, 'merge');
    }
    await synced();
  };
  const status = () => fake.peekAll<Job>('jobs')[0]!.status!;
  const step = async () => {
    await synced();
    const r = await jc.reconcile('ns/work');
    await synced();
    return r;
  };
  return { clock, fake, events, jc, finish, status, step };
}

describe('job-util', () => {
  it('backs off 10 s doubling up to 6 minutes', () => {
    expect([0, 1, 2, 3, 6, 7, 20].map(jobBackoffDelay)).toEqual([0, 10_000, 20_000, 40_000, 320_000, 360_000, 360_000]);
  });
  it('formats completed indexes as Kubernetes does', () => {
    expect(formatIndexes([7, 1, 3, 4, 5, 0])).toBe('0,1,3-5,7');
    expect([...parseIndexes('0,1,3-5,7', 6)]).toEqual([0, 1, 3, 4, 5]);
  });
});

describe('JobController.reconcile', () => {
  it('runs `parallelism` pods with the tracking finalizer until `completions` succeed, counting each pod once, then Complete', async () => {
    const { fake, events, finish, status, step } = await setup([job({ completions: 3, parallelism: 2 })]);
    await step();
    let pods = fake.peekAll<Pod>('pods');
    expect(pods).toHaveLength(2);
    expect(pods[0]!.metadata.finalizers).toEqual([JOB_TRACKING_FINALIZER]);
    expect(pods[0]!.metadata.labels).toMatchObject({ 'batch.kubernetes.io/job-name': 'work', 'batch.kubernetes.io/controller-uid': 'uid-job' });
    expect(pods[0]!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Job', name: 'work', controller: true, blockOwnerDeletion: true });
    expect(status()).toMatchObject({ active: 2, succeeded: 0, failed: 0, startTime: nowTimestamp(new Date(T0)) });

    await finish('Succeeded');
    await step();
    // Both counted, finalizers gone; once the cache shows them gone, one more pod for the third completion.
    expect(status()).toMatchObject({ succeeded: 2, uncountedTerminatedPods: {} });
    await step();
    expect(status()).toMatchObject({ succeeded: 2, active: 1 });
    pods = fake.peekAll<Pod>('pods');
    expect(pods.filter((p) => p.metadata.finalizers?.length)).toHaveLength(1);
    await step();
    expect(status().succeeded).toBe(2);

    await finish('Succeeded');
    await step();
    expect(status()).toMatchObject({ succeeded: 3, active: 0, completionTime: nowTimestamp(new Date(T0)) });
    expect(getCondition(status().conditions, 'Complete')).toMatchObject({ status: 'True', reason: 'CompletionsReached' });
    expect(fake.actionsOf('create', 'pods')).toHaveLength(3);
    expect(events.reasons().filter((r) => r === 'Completed')).toHaveLength(1);
  });

  it('replaces failed pods after 10 s, 20 s, … and fails with BackoffLimitExceeded past backoffLimit', async () => {
    const { clock, fake, events, finish, status, step } = await setup([job({ backoffLimit: 2 })]);
    await step();
    await finish('Failed');
    // Counted; the replacement waits 10 s.
    await step();
    let r = await step();
    expect(status().failed).toBe(1);
    expect(fake.actionsOf('create', 'pods')).toHaveLength(1);
    expect(r).toEqual({ requeueAfter: 10_000 });
    clock.advance(10_000);
    await step();
    expect(fake.actionsOf('create', 'pods')).toHaveLength(2);
    await finish('Failed');
    await step();
    r = await step();
    expect(r).toEqual({ requeueAfter: 20_000 });
    clock.advance(20_000);
    await step();
    await finish('Failed');
    await step();
    // failed 3 > backoffLimit 2.
    expect(status().failed).toBe(3);
    expect(getCondition(status().conditions, 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    expect(events.reasons()).toContain('BackoffLimitExceeded');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(3);
    expect(fake.peekAll<Pod>('pods').every((p) => !p.metadata.finalizers?.length)).toBe(true);
  });

  it('fails with DeadlineExceeded after activeDeadlineSeconds, deleting the active pods', async () => {
    const { clock, fake, status, step, events } = await setup([job({ activeDeadlineSeconds: 30, parallelism: 2, completions: 2 })]);
    const r = await step();
    expect(r).toEqual({ requeueAfter: 30_000 });
    clock.advance(30_000);
    await step();
    expect(getCondition(status().conditions, 'Failed')).toMatchObject({ reason: 'DeadlineExceeded' });
    expect(fake.actionsOf('delete', 'pods')).toHaveLength(2);
    expect(events.reasons()).toContain('DeadlineExceeded');
  });

  it('suspend deletes the pods and sets Suspended; resume starts them again', async () => {
    const { fake, status, step } = await setup([job({ parallelism: 2, completions: 4 })]);
    await step();
    await fake.resource<Job>('jobs').patch('ns', 'work', { spec: { suspend: true } }, 'merge');
    await step();
    expect(getCondition(status().conditions, 'Suspended')).toMatchObject({ status: 'True', reason: 'JobSuspended' });
    expect(fake.actionsOf('delete', 'pods')).toHaveLength(2);
    await step();
    await fake.resource<Job>('jobs').patch('ns', 'work', { spec: { suspend: false } }, 'merge');
    await step();
    expect(getCondition(status().conditions, 'Suspended')).toMatchObject({ status: 'False', reason: 'JobResumed' });
    expect(fake.actionsOf('create', 'pods')).toHaveLength(4);
  });

  it('Indexed: one pod per index with JOB_COMPLETION_INDEX, completedIndexes as they succeed', async () => {
    const { fake, finish, status, step } = await setup([job({ completionMode: 'Indexed', completions: 3, parallelism: 3 })]);
    await step();
    const pods = fake.peekAll<Pod>('pods');
    expect(pods.map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']).sort()).toEqual(['0', '1', '2']);
    expect(pods[0]!.spec!.containers[0]!.env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', value: pods[0]!.metadata.annotations!['batch.kubernetes.io/job-completion-index'] });
    await finish('Succeeded', 2);
    await step();
    expect(status().completedIndexes).toMatch(/^\d,\d$/);
    await finish('Succeeded');
    await step();
    expect(status().completedIndexes).toBe('0-2');
    expect(getCondition(status().conditions, 'Complete')?.status).toBe('True');
  });

  it('deletes a finished Job after ttlSecondsAfterFinished', async () => {
    const { clock, fake, finish, step } = await setup([job({ ttlSecondsAfterFinished: 60 })]);
    await step();
    await finish('Succeeded');
    const r = await step();
    expect(r).toEqual({ requeueAfter: 60_000 });
    clock.advance(60_000);
    await step();
    expect(fake.actionsOf('delete', 'jobs')).toHaveLength(1);
  });
});
