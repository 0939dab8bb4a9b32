import { afterEach, describe, expect, it } from 'vitest';
import { getCondition, type KubeObject, type Node, type Pod } from '@flotilla/api';
import type { ApiClient } from '@flotilla/client';
import { FakeApiClient, hangUntilAborted, stopWithRequestsInFlight, type Unanswered } from '@flotilla/client/testing';
import { makeNode, makePod } from './fixtures.js';
import { Scheduler, type SchedulerEventSink } from './scheduler.js';

/** Polls `cond` until true or the deadline passes; never a blind sleep. */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

class RecordingEvents implements SchedulerEventSink {
  readonly events: Array<{ obj: string; type: string; reason: string; message: string }> = [];
  event(obj: KubeObject, type: string, reason: string, message: string): void {
    this.events.push({ obj: `${obj.metadata.namespace}/${obj.metadata.name}`, type, reason, message });
  }
}

const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
});

function start(client: FakeApiClient, opts: { flushIntervalMs?: number; concurrency?: number } = {}) {
  const events = new RecordingEvents();
  // A backstop far longer than any test: only informer events can requeue parked pods here.
  const scheduler = new Scheduler({ client, events, flushIntervalMs: opts.flushIntervalMs ?? 3_600_000, concurrency: opts.concurrency ?? 16 });
  const ac = new AbortController();
  aborts.push(ac);
  const done = scheduler.run(ac.signal);
  return { scheduler, events, ac, done };
}

const bound = (client: FakeApiClient) => client.peekAll<Pod>('pods').filter((p) => p.spec?.nodeName);

describe('Scheduler with a FakeApiClient', () => {
  it('binds pending pods, spreads one owner over the nodes and never overcommits', async () => {
    const nodes = ['node-1', 'node-2', 'node-3'].map((n) => makeNode(n, { cpu: '2', memory: '4Gi' }));
    const pods = Array.from({ length: 12 }, (_, i) => makePod(`web-${i}`, { cpu: '500m', memory: '256Mi', ownerUid: 'rs-web' }));
    const client = new FakeApiClient({ objects: [...nodes, ...pods] });
    const { scheduler } = start(client);

    await until(() => bound(client).length === 12, '12 bindings');
    const perNode: Record<string, number> = {};
    for (const p of bound(client)) perNode[p.spec!.nodeName!] = (perNode[p.spec!.nodeName!] ?? 0) + 1;
    expect(perNode).toEqual({ 'node-1': 4, 'node-2': 4, 'node-3': 4 });
    expect(client.actionsOf('create', 'pods').filter((a) => a.subresource === 'binding')).toHaveLength(12);
    expect(scheduler.metrics.attempts.get({ result: 'scheduled' })).toBe(12);

    // The cluster is now exactly full: one more pod must wait, not overcommit.
    client.seed(makePod('web-12', { cpu: '500m', ownerUid: 'rs-web' }));
    await until(() => scheduler.unschedulablePods().includes('default/web-12'), 'web-12 parked');
    expect(bound(client)).toHaveLength(12);
  });

  it('takes higher-priority pods first: the one place left goes to the higher spec.priority', async () => {
    const node = makeNode('node-1', { cpu: '1', memory: '4Gi' });
    const low = makePod('a-low', { cpu: '1' });
    const high = makePod('b-high', { cpu: '1' });
    high.spec!.priority = 1000;
    // Both are queued before the one worker starts (it waits for the caches); the queue orders them.
    const client = new FakeApiClient({ objects: [node, low, high] });
    const { scheduler } = start(client, { concurrency: 1 });
    await until(() => bound(client).length === 1 && scheduler.unschedulablePods().length === 1, 'one bound, one parked');
    expect(bound(client).map((p) => p.metadata.name)).toEqual(['b-high']);
    expect(scheduler.unschedulablePods()).toEqual(['default/a-low']);
  });

  it('reports an unfittable pod per node, then places it as soon as a node with room is added', async () => {
    const client = new FakeApiClient({
      objects: [
        makeNode('node-1', { cpu: '1', unschedulable: true }),
        makeNode('node-2', { cpu: '1' }),
        makeNode('node-3', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
        makePod('filler', { cpu: '800m', nodeName: 'node-2', phase: 'Running' }),
        makePod('big', { cpu: '500m' }),
      ],
    });
    const { scheduler, events } = start(client);
    const want = '0/3 nodes are available: node-1: node is unschedulable (cordoned); node-2: cpu wants 500m, 200m free; node-3: taint dedicated=gpu not tolerated.';

    await until(() => getCondition(client.peek<Pod>('pods', 'default', 'big')?.status?.conditions, 'PodScheduled') !== undefined, 'PodScheduled condition');
    const cond = getCondition(client.peek<Pod>('pods', 'default', 'big')!.status!.conditions, 'PodScheduled')!;
    expect(cond).toMatchObject({ status: 'False', reason: 'Unschedulable', message: want });
    expect(events.events).toContainEqual({ obj: 'default/big', type: 'Warning', reason: 'FailedScheduling', message: want });
    expect(scheduler.unschedulablePods()).toEqual(['default/big']);
    // Our own status write must not make it spin: one status update, one attempt.
    expect(client.actionsOf('update', 'pods').filter((a) => a.subresource === 'status')).toHaveLength(1);
    expect(scheduler.metrics.attempts.get({ result: 'unschedulable' })).toBe(1);

    // A node with room appears: the node event alone requeues it (the backstop is an hour away).
    client.seed(makeNode('node-4', { cpu: '4' }));
    await until(() => client.peek<Pod>('pods', 'default', 'big')?.spec?.nodeName === 'node-4', 'big bound to node-4');
    expect(events.events.filter((e) => e.reason === 'Scheduled').map((e) => e.message)).toContain('Successfully assigned default/big to node-4');
    await until(() => scheduler.unschedulablePods().length === 0, 'parked set empty');
  });

  it('requeues parked pods when a pod is deleted and frees room', async () => {
    const client = new FakeApiClient({
      objects: [makeNode('node-1', { cpu: '1' }), makePod('filler', { cpu: '800m', nodeName: 'node-1', phase: 'Running' }), makePod('waiting', { cpu: '500m' })],
    });
    const { scheduler } = start(client);
    await until(() => scheduler.unschedulablePods().includes('default/waiting'), 'waiting parked');
    await client.resource('pods').delete('default', 'filler');
    await until(() => client.peek<Pod>('pods', 'default', 'waiting')?.spec?.nodeName === 'node-1', 'waiting bound');
  });

  it('drops a pod whose binding answers 409 and forgets the assumption when binding fails', async () => {
    const client = new FakeApiClient({ objects: [makeNode('node-1', { cpu: '1' }), makePod('a', { cpu: '600m' })] });
    let failures = 1;
    client.prependReactor((action) => {
      if (action.subresource === 'binding' && failures-- > 0) throw new Error('connection reset');
    });
    const { scheduler } = start(client);
    // The first binding fails: the assumption must be forgotten or the retry would find node-1 full.
    await until(() => client.peek<Pod>('pods', 'default', 'a')?.spec?.nodeName === 'node-1', 'a bound after a retry');
    expect(scheduler.metrics.attempts.get({ result: 'error' })).toBe(1);
    expect(scheduler.snapshot.isAssumed('default/a')).toBe(false);
    expect(scheduler.snapshot.get('node-1')!.requested.milliCPU).toBe(600);
  });

  it('leaves pods of other schedulers and bound pods alone', async () => {
    const client = new FakeApiClient({
      objects: [makeNode('node-1'), makePod('other', { schedulerName: 'someone-else' }), makePod('mine')],
    });
    start(client);
    await until(() => client.peek<Pod>('pods', 'default', 'mine')?.spec?.nodeName === 'node-1', 'mine bound');
    expect(client.peek<Pod>('pods', 'default', 'other')!.spec!.nodeName).toBeUndefined();
  });

  it('keeps 1 CPU nodes from overcommitting under many concurrent decisions', async () => {
    const nodes: Node[] = Array.from({ length: 5 }, (_, i) => makeNode(`n${i}`, { cpu: '1', memory: '1Gi' }));
    const pods = Array.from({ length: 60 }, (_, i) => makePod(`p${i}`, { cpu: '250m', ownerUid: `rs${i % 3}` }));
    let inFlight = 0;
    let maxInFlight = 0;
    const client = new FakeApiClient({ objects: [...nodes, ...pods] });
    // Slow bindings so many are in flight at once, as against a real apiserver.
    const realBind = client.bind.bind(client);
    client.bind = async (ns, name, node) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight--;
      return realBind(ns, name, node);
    };
    const { scheduler } = start(client, { concurrency: 16 });
    await until(() => bound(client).length === 20 && scheduler.unschedulablePods().length === 40, '20 bound, 40 parked');
    const cpu: Record<string, number> = {};
    for (const p of bound(client)) cpu[p.spec!.nodeName!] = (cpu[p.spec!.nodeName!] ?? 0) + 250;
    expect(Object.values(cpu)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(maxInFlight).toBeGreaterThan(8);
  });

  it('keeps deciding while bindings are in flight: more bindings overlap than there are workers, up to the pool size', async () => {
    const nodes = Array.from({ length: 4 }, (_, i) => makeNode(`n${i}`, { cpu: '8' }));
    const pods = Array.from({ length: 30 }, (_, i) => makePod(`q${i}`, { cpu: '100m' }));
    const client = new FakeApiClient({ objects: [...nodes, ...pods] });
    // Bindings answer only once released: with bindings holding workers, at most 2 could be in flight.
    let inFlight = 0;
    let maxInFlight = 0;
    const release: Array<() => void> = [];
    const realBind = client.bind.bind(client);
    client.bind = async (ns, name, node) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => release.push(r));
      inFlight--;
      return realBind(ns, name, node);
    };
    const events = new RecordingEvents();
    const scheduler = new Scheduler({ client, events, flushIntervalMs: 3_600_000, concurrency: 2, maxBindingsInFlight: 10 });
    const ac = new AbortController();
    aborts.push(ac);
    void scheduler.run(ac.signal);
    await until(() => inFlight === 10, '10 bindings in flight with 2 workers');
    expect(scheduler.bindingsInFlight).toBe(10);
    // The pool is full: no 11th binding until one answers.
    await new Promise((r) => setTimeout(r, 20));
    expect(maxInFlight).toBe(10);
    await until(() => {
      for (const r of release.splice(0)) r();
      return bound(client).length === 30;
    }, 'all 30 bound once bindings answer');
    await until(() => scheduler.bindingsInFlight === 0, 'pool drained');
    expect(maxInFlight).toBe(10);
    expect(client.actionsOf('create', 'pods').filter((a) => a.subresource === 'binding')).toHaveLength(30);
    expect(scheduler.metrics.attempts.get({ result: 'scheduled' })).toBe(30);
  });
});

describe('Scheduler stopping', () => {
  it('gives up bindings that never answer a second after the stop, instead of waiting on them', async () => {
    const client = new FakeApiClient({ objects: [makeNode('n0', { cpu: '8' }), makePod('p0', { cpu: '100m' }), makePod('p1', { cpu: '100m' })] });
    // An apiserver that stopped answering: each binding hangs, until the signal of the client it was
    // posted through (if any) aborts it, as RestClient's do.
    const hung: Unanswered = { calls: 0, givenUp: 0 };
    const hangingBind = (signal?: AbortSignal) => () => hangUntilAborted(signal, hung);
    client.bind = hangingBind();
    Object.assign(client, { withSignal: (signal: AbortSignal): ApiClient => ({ resource: (t) => client.resource(t), bind: hangingBind(signal) }) });
    const scheduler = new Scheduler({ client, events: new RecordingEvents(), flushIntervalMs: 3_600_000 });
    // Without the stop's signal on the bindings, this never returns.
    await stopWithRequestsInFlight(hung, (signal) => scheduler.run(signal), 2);
    expect(hung.givenUp).toBe(2);
  });
});
