import { ApiError, type Pod, type ReplicaSet } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient, FakeClock, waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { podsToDelete } from './pod-util.js';
import { ReplicaSetController, slowStartBatch } from './replicaset-controller.js';
import { GatedClient, kubeletStep, MemoryEvents, pod, replicaSet } from './test-fixtures.js';

const T0 = Date.UTC(2024, 0, 1);
const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

/** A controller over a fake API whose informers run (but whose workers do not: tests call reconcile). */
async function setup(objects: Array<Pod | ReplicaSet>, opts: { gated?: boolean } = {}) {
  const clock = new FakeClock(T0);
  const fake = new FakeApiClient({ objects, clock });
  const client = opts.gated ? new GatedClient(fake) : fake;
  const informers = new InformerFactory(client, { clock });
  const events = new MemoryEvents();
  const rsc = new ReplicaSetController({ client, informers, recorder: events, clock });
  const stop = new AbortController();
  stops.push(stop);
  informers.start(stop.signal);
  await informers.waitForSync();
  return { clock, fake, client, informers, events, rsc, stop };
}

const podsIn = (fake: FakeApiClient) => fake.peekAll<Pod>('pods');
const cached = (rsc: ReplicaSetController, n: number) => waitFor(() => (rsc as unknown as { podInformer: { store: { size(): number } } }).podInformer.store.size() === n, { what: `${n} pods in cache` });

describe('ReplicaSetController.reconcile', () => {
  it('creates the missing pods from the template with an ownerReference, in slow-start batches', async () => {
    const rs = replicaSet('web', 3);
    const { fake, rsc, events } = await setup([rs]);
    await rsc.reconcile('ns/web');
    const creates = fake.actionsOf('create', 'pods');
    expect(creates).toHaveLength(3);
    for (const c of creates) {
      const p = c.object as Pod;
      expect(p.metadata.generateName).toBe('web-');
      expect(p.metadata.labels).toEqual({ app: 'web' });
      expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
      expect(p.spec?.containers[0]?.image).toBe('img:1');
    }
    expect(events.reasons()).toEqual(['SuccessfulCreate', 'SuccessfulCreate', 'SuccessfulCreate']);
    // Status was computed from the cache before the new pods were seen; observedGeneration is recorded.
    const st = fake.actionsOf('patch', 'replicasets');
    expect(st).toHaveLength(1);
    expect(st[0]!.subresource).toBe('status');
    expect((st[0]!.object as { status: ReplicaSet['status'] }).status).toMatchObject({ replicas: 0, observedGeneration: 1 });
  });

  it('slowStartBatch runs 1, 2, 4, … and stops after the first failing batch', async () => {
    let calls = 0;
    const r = await slowStartBatch(10, 1, async () => {
      calls++;
      if (calls === 5) throw new Error('quota');
    });
    // Batches 1, 2, 4: the fifth call (in the third batch) fails; the batch finishes, nothing more starts.
    expect(calls).toBe(7);
    expect(r.successes).toBe(6);
    expect((r.error as Error).message).toBe('quota');
  });

  it('never over-creates while its creations are not yet observed (lagging informer)', async () => {
    const rs = replicaSet('web', 2);
    const { fake, client, rsc } = await setup([rs], { gated: true });
    (client as GatedClient).pause();
    await rsc.reconcile('ns/web');
    await rsc.reconcile('ns/web');
    await rsc.reconcile('ns/web');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(2);
    expect(rsc.expectations.pending('ns/web')).toEqual({ add: 2, del: 0 });
    (client as GatedClient).resume();
    await cached(rsc, 2);
    expect(rsc.expectations.satisfied('ns/web')).toBe(true);
    await rsc.reconcile('ns/web');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(2);
  });

  it('expectations expire after five minutes as a safety net', async () => {
    const rs = replicaSet('web', 1);
    const { fake, client, rsc, clock } = await setup([rs], { gated: true });
    (client as GatedClient).pause();
    await rsc.reconcile('ns/web');
    clock.advance(4 * 60_000);
    await rsc.reconcile('ns/web');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(1);
    clock.advance(2 * 60_000);
    await rsc.reconcile('ns/web');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(2);
  });

  it('deletes the least valuable pods first', async () => {
    const rs = replicaSet('web', 2, { app: 'web' });
    const o = { owner: rs, app: 'web' };
    const pods = [
      pod('old-ready', { ...o, node: 'n1', phase: 'Running', readySince: T0 - 100_000, created: T0 - 200_000 }),
      pod('unscheduled', { ...o, created: T0 - 300_000 }),
      pod('running-not-ready', { ...o, node: 'n2', phase: 'Running', created: T0 - 300_000 }),
      pod('new-ready', { ...o, node: 'n3', phase: 'Running', readySince: T0 - 10_000, created: T0 - 20_000 }),
    ];
    const { fake, rsc, events } = await setup([rs, ...pods]);
    await rsc.reconcile('ns/web');
    expect(fake.actionsOf('delete', 'pods').map((a) => a.name).sort()).toEqual(['running-not-ready', 'unscheduled']);
    expect(events.reasons()).toEqual(['SuccessfulDelete', 'SuccessfulDelete']);
    await cached(rsc, 2);
    expect(rsc.expectations.satisfied('ns/web')).toBe(true);
  });

  it('ranks pods for deletion: pending < running, not ready < ready, ready less long, more restarts, newer', () => {
    const rs = replicaSet('web', 0);
    const o = { owner: rs, node: 'n' };
    const ready = (name: string, since: number, extra: Partial<Parameters<typeof pod>[1]> = {}) => pod(name, { ...o, phase: 'Running', readySince: since, created: T0 - 500_000, ...extra });
    const order = podsToDelete(
      [
        ready('long-ready', T0 - 400_000),
        ready('short-ready', T0 - 1000),
        ready('restarts', T0 - 400_000, { restarts: 5 }),
        ready('newer', T0 - 400_000, { created: T0 - 450_000 }),
        pod('pending', { ...o, phase: 'Pending' }),
        pod('unknown', { ...o, phase: 'Unknown' }),
      ],
      6,
    ).map((p) => p.metadata.name);
    expect(order).toEqual(['pending', 'unknown', 'short-ready', 'restarts', 'newer', 'long-ready']);
  });

  it('adopts matching orphans and releases owned pods that no longer match', async () => {
    const rs = replicaSet('web', 2);
    const orphan = pod('orphan', { app: 'web' });
    const strayOwned = pod('stray', { app: 'other', owner: rs });
    const foreign = pod('foreign', { app: 'web' });
    foreign.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'uid-x', controller: true }];
    const { fake, rsc } = await setup([rs, orphan, strayOwned, foreign]);
    await rsc.reconcile('ns/web');
    const patches = fake.actionsOf('patch', 'pods');
    expect(patches.map((a) => a.name).sort()).toEqual(['orphan', 'stray']);
    expect(fake.peek<Pod>('pods', 'ns', 'orphan')?.metadata.ownerReferences?.[0]).toMatchObject({ uid: 'uid-web', controller: true, blockOwnerDeletion: true });
    expect(fake.peek<Pod>('pods', 'ns', 'stray')?.metadata.ownerReferences).toBeUndefined();
    expect(fake.peek<Pod>('pods', 'ns', 'foreign')?.metadata.ownerReferences?.[0]?.uid).toBe('uid-x');
    // One adopted pod counts: exactly one more is created.
    expect(fake.actionsOf('create', 'pods')).toHaveLength(1);
  });

  it('does not adopt when a fresh read shows the ReplicaSet is gone or being deleted', async () => {
    const rs = replicaSet('web', 1);
    const { fake, rsc } = await setup([rs, pod('orphan', { app: 'web' })]);
    fake.prependReactor((a) => {
      if (a.verb === 'get' && a.resource === 'replicasets') throw new ApiError('NotFound', 'gone');
    });
    await rsc.reconcile('ns/web');
    expect(fake.actionsOf('patch', 'pods')).toHaveLength(0);
    const { fake: fake2, rsc: rsc2 } = await setup([rs, pod('orphan', { app: 'web' })]);
    fake2.prependReactor((a) => {
      if (a.verb === 'get' && a.resource === 'replicasets') {
        const cur = fake2.peek<ReplicaSet>('replicasets', 'ns', 'web')!;
        cur.metadata.uid = 'someone-else';
        fake2.seed(cur);
      }
    });
    await expect(rsc2.reconcile('ns/web')).rejects.toThrow(/is gone/);
    expect(fake2.actionsOf('patch', 'pods')).toHaveLength(0);
  });

  it('reports ready and available replicas with minReadySeconds and asks to look again when one becomes available', async () => {
    const rs = replicaSet('web', 3, { minReadySeconds: 10 });
    const o = { owner: rs, node: 'n1', phase: 'Running' as const };
    const { fake, rsc } = await setup([rs, pod('a', { ...o, readySince: T0 - 60_000 }), pod('b', { ...o, readySince: T0 - 4000 }), pod('c', { ...o })]);
    const res = await rsc.reconcile('ns/web');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(0);
    const st = (fake.actionsOf('patch', 'replicasets')[0]!.object as { status: ReplicaSet['status'] }).status;
    expect(st).toMatchObject({ replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 2, availableReplicas: 1, observedGeneration: 1 });
    expect(res).toEqual({ requeueAfter: 6000 });
  });

  it('writes status only when it changed', async () => {
    const rs = replicaSet('web', 1);
    rs.status = { replicas: 1, fullyLabeledReplicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 };
    const { fake, rsc } = await setup([rs, pod('a', { owner: rs, app: 'web', node: 'n', phase: 'Running', readySince: T0 })]);
    await rsc.reconcile('ns/web');
    expect(fake.actions).toEqual([]);
  });

  it('on failed creates sets ReplicaFailure, records FailedCreate, retries, and clears the condition once creates work', async () => {
    const rs = replicaSet('web', 2);
    const { fake, rsc, events } = await setup([rs]);
    let fail = true;
    fake.prependReactor((a) => {
      if (fail && a.verb === 'create' && a.resource === 'pods') throw new ApiError('Forbidden', 'exceeded quota: pods=2');
    });
    await expect(rsc.reconcile('ns/web')).rejects.toThrow(/exceeded quota/);
    expect(events.events[0]).toMatchObject({ type: 'Warning', reason: 'FailedCreate', message: 'Error creating: exceeded quota: pods=2' });
    // The first batch (1 pod) failed: nothing further was attempted and no creation is expected.
    expect(fake.actionsOf('create', 'pods')).toHaveLength(1);
    expect(rsc.expectations.satisfied('ns/web')).toBe(true);
    const cond = fake.peek<ReplicaSet>('replicasets', 'ns', 'web')?.status?.conditions?.[0];
    expect(cond).toMatchObject({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' });
    fail = false;
    await waitFor(() => (rsc as unknown as { rsInformer: { store: { get(k: string): ReplicaSet | undefined } } }).rsInformer.store.get('ns/web')?.status?.conditions);
    await rsc.reconcile('ns/web');
    expect(podsIn(fake)).toHaveLength(2);
    expect(fake.peek<ReplicaSet>('replicasets', 'ns', 'web')?.status?.conditions).toBeUndefined();
  });
});

describe('ReplicaSetController.run', () => {
  it('converges on scale up and down, replaces deleted pods, and adopts nothing it should not', async () => {
    const clock = new FakeClock(T0);
    const fake = new FakeApiClient({ objects: [replicaSet('web', 3)], clock });
    const informers = new InformerFactory(fake, { clock });
    const rsc = new ReplicaSetController({ client: fake, informers, clock });
    const stop = new AbortController();
    stops.push(stop);
    const running = rsc.run(stop.signal);
    expect(await rsc.waitForSync()).toBe(true);
    const live = () => podsIn(fake).filter((p) => !p.metadata.deletionTimestamp);
    const settle = async (n: number) => {
      await waitFor(async () => {
        await kubeletStep(fake, clock.now());
        const st = fake.peek<ReplicaSet>('replicasets', 'ns', 'web')?.status;
        return live().length === n && st?.replicas === n && st.readyReplicas === n;
      }, { what: `${n} ready pods`, timeoutMs: 5000 });
    };
    await settle(3);
    await fake.resource<ReplicaSet>('replicasets').patch('ns', 'web', { spec: { replicas: 7 } });
    await settle(7);
    await fake.resource<ReplicaSet>('replicasets').patch('ns', 'web', { spec: { replicas: 2 } });
    await settle(2);
    const victim = live()[0]!.metadata.name!;
    await fake.resource<Pod>('pods').delete('ns', victim);
    await settle(2);
    expect(live().map((p) => p.metadata.name)).not.toContain(victim);
    expect(fake.actionsOf('create', 'pods').filter((a) => !a.subresource)).toHaveLength(8);
    stop.abort();
    await running;
  });
});
