import { getCondition, type Lease, type Node, type Pod } from '@flotilla/api';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, lease, node, pod, type FakeCluster } from '../fixtures.js';
import { defaultProbeIntervalMs, LIVENESS_ENDPOINT_ANNOTATION, NodeLifecycleController } from './node-lifecycle-controller.js';
import type { LivenessSource, ProbeView } from './node-prober.js';
import { evictionDelayMs, TAINT_NOT_READY, TAINT_UNREACHABLE, toleratesTaint } from './taints.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

async function setup(objects: Parameters<typeof fakeCluster>[0], liveness: LivenessSource | false = false) {
  cluster = fakeCluster(objects);
  const c = new NodeLifecycleController({ ...cluster.deps, liveness });
  await cluster.sync();
  return { cluster, c };
}

const taintsOf = (n: Node | undefined) => (n?.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();

describe('taints and tolerations', () => {
  it('matches like Kubernetes ToleratesTaint', () => {
    const taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute' as const };
    expect(toleratesTaint({ operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ key: TAINT_UNREACHABLE, operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoSchedule' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'other', operator: 'Exists' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'k', value: 'v' }, { key: 'k', value: 'v', effect: 'NoExecute' })).toBe(true);
    expect(toleratesTaint({ key: 'k', value: 'w' }, { key: 'k', value: 'v', effect: 'NoExecute' })).toBe(false);
  });

  it('computes the eviction delay: default, own seconds, forever, untolerated', () => {
    const unreachable = [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' as const }];
    const defaults = { [TAINT_UNREACHABLE]: 5 };
    expect(evictionDelayMs(undefined, unreachable, defaults)).toBe(5000);
    expect(evictionDelayMs([{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }], unreachable, defaults)).toBe(60_000);
    expect(evictionDelayMs([{ operator: 'Exists' }], unreachable, defaults)).toBeUndefined();
    expect(evictionDelayMs(undefined, [...unreachable, { key: 'dedicated', value: 'gpu', effect: 'NoExecute' }], defaults)).toBe(0);
    expect(evictionDelayMs([{ key: TAINT_UNREACHABLE, operator: 'Exists', tolerationSeconds: -3 }], unreachable, defaults)).toBe(0);
  });
});

describe('NodeLifecycleController.syncNode', () => {
  it('does nothing while the Lease is fresh and looks again when the grace period would end', async () => {
    const { cluster, c } = await setup([node('n1'), { ...lease('n1'), spec: { ...lease('n1').spec, leaseDurationSeconds: 5 } }]);
    const r = await c.syncNode('n1');
    expect(cluster.writes()).toEqual([]);
    expect(r).toEqual({ requeueAfter: 8001 });
  });

  it("never overrules a Lease that is still valid by its own leaseDurationSeconds (40 s here, grace 8 s)", async () => {
    const { cluster, c } = await setup([node('n1'), lease('n1')]);
    cluster.clock.advance(39_000);
    expect(await c.syncNode('n1')).toEqual({ requeueAfter: 1001 });
    expect(cluster.writes()).toEqual([]);
  });

  it('marks a silent node Unknown, taints it unreachable and its pods not ready, records NodeNotReady', async () => {
    const { cluster, c } = await setup([node('n1'), lease('n1'), pod('p1', { node: 'n1', ip: '10.0.0.1' })]);
    cluster.clock.advance(40_000);
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual(['update nodes n1', 'update nodes/status n1', 'update pods/status default/p1']);
    const n = cluster.client.peek<Node>('nodes', undefined, 'n1')!;
    const ready = getCondition(n.status?.conditions, 'Ready')!;
    expect(ready).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
    expect(ready.lastHeartbeatTime).toBe('2024-01-01T00:00:00Z');
    expect(taintsOf(n)).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
    expect(getCondition(cluster.client.peek<Pod>('pods', 'default', 'p1')!.status?.conditions, 'Ready')?.status).toBe('False');
    await cluster.recorder.flush();
    expect(cluster.client.peekAll('events').map((e) => `${e.reason} ${e.message}`)).toEqual(['NodeNotReady Node n1 status is now: NodeNotReady']);

    // Level-triggered: a second pass over the new state writes nothing.
    await cluster.cached<Node>('nodes', 'n1', (o) => taintsOf(o).length === 2);
    cluster.client.clearActions();
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual([]);
  });

  it('removes the taints when the Lease is renewed again and leaves the Ready condition to the agent', async () => {
    const tainted = node('n1');
    tainted.spec = { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' }, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: 'dedicated', value: 'x', effect: 'NoSchedule' }] };
    tainted.status!.conditions = [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }];
    const { cluster, c } = await setup([tainted, lease('n1')]);
    cluster.clock.advance(41_000);
    await c.syncNode('n1');
    await cluster.cached<Node>('nodes', 'n1', (o) => o?.metadata.resourceVersion !== undefined);
    cluster.client.clearActions();
    // The agent renews its Lease.
    const l = cluster.client.peek<Lease>('leases', 'kube-node-lease', 'n1')!;
    l.spec!.renewTime = '2024-01-01T00:00:30.000000Z';
    await cluster.client.resource<Lease>('leases').update(l);
    await cluster.cached<Lease>('leases', 'kube-node-lease/n1', (o) => o?.spec?.renewTime === l.spec!.renewTime);
    cluster.client.clearActions();
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual(['update nodes n1']);
    const n = cluster.client.peek<Node>('nodes', undefined, 'n1')!;
    expect(taintsOf(n)).toEqual(['dedicated:NoSchedule']);
    expect(getCondition(n.status?.conditions, 'Ready')?.status).toBe('Unknown');
  });

  it('taints a node whose agent reports Ready=False as not-ready', async () => {
    const sick = node('n1');
    sick.status!.conditions = [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', lastHeartbeatTime: '2024-01-01T00:00:00Z' }];
    const { cluster, c } = await setup([sick, lease('n1')]);
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual(['update nodes n1']);
    expect(taintsOf(cluster.client.peek<Node>('nodes', undefined, 'n1'))).toEqual([`${TAINT_NOT_READY}:NoExecute`, `${TAINT_NOT_READY}:NoSchedule`]);
  });
});

describe('NodeLifecycleController.syncPod', () => {
  const unreachableNode = () => node('n1', { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' }, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }] });

  it('evicts a pod after the default unreachable toleration, with a TaintManagerEviction event', async () => {
    const { cluster, c } = await setup([unreachableNode(), lease('n1'), pod('p1', { node: 'n1' })]);
    expect(await c.syncPod('default/p1')).toEqual({ requeueAfter: 1000 });
    expect(cluster.writes()).toEqual([]);
    cluster.clock.advance(999);
    expect(await c.syncPod('default/p1')).toEqual({ requeueAfter: 1 });
    cluster.clock.advance(1);
    await c.syncPod('default/p1');
    expect(cluster.writes()).toEqual(['delete pods default/p1']);
    expect(cluster.client.actions[0]!.object).toMatchObject({ preconditions: { uid: expect.any(String) } });
    await cluster.recorder.flush();
    expect(cluster.client.peekAll('events').map((e) => `${e.reason} ${e.message}`)).toEqual(['TaintManagerEviction Marking for deletion Pod default/p1']);
  });

  it("honours the pod's own tolerationSeconds, tolerates forever, and evicts at once for an untolerated taint", async () => {
    const n = unreachableNode();
    const n2 = node('n2', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }] });
    const { cluster, c } = await setup([
      n,
      n2,
      pod('patient', { node: 'n1', spec: { tolerations: [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }] } }),
      pod('forever', { node: 'n1', spec: { tolerations: [{ operator: 'Exists' }] } }),
      pod('gpu', { node: 'n2' }),
    ]);
    expect(await c.syncPod('default/patient')).toEqual({ requeueAfter: 60_000 });
    expect(await c.syncPod('default/forever')).toBeUndefined();
    await c.syncPod('default/gpu');
    expect(cluster.writes()).toEqual(['delete pods default/gpu']);
  });

  it('does nothing for pods on untainted nodes', async () => {
    const { cluster, c } = await setup([node('n1'), pod('p1', { node: 'n1' })]);
    expect(await c.syncPod('default/p1')).toBeUndefined();
    expect(cluster.writes()).toEqual([]);
  });

  it('force-deletes a pod stuck terminating on an unreachable node once its grace period is over', async () => {
    const stuck = pod('p1', { node: 'n1', meta: { deletionTimestamp: '2024-01-01T00:00:30Z', deletionGracePeriodSeconds: 30, finalizers: [] } });
    const { cluster, c } = await setup([unreachableNode(), stuck]);
    expect(await c.syncPod('default/p1')).toEqual({ requeueAfter: 30_000 });
    cluster.clock.advance(30_000);
    await c.syncPod('default/p1');
    expect(cluster.writes()).toEqual(['delete pods default/p1']);
    expect(cluster.client.actions[0]!.object).toMatchObject({ gracePeriodSeconds: 0 });
  });

  it('leaves terminating pods on healthy nodes to their agent', async () => {
    const going = pod('p1', { node: 'n1', meta: { deletionTimestamp: '2023-12-31T00:00:00Z' } });
    const { cluster, c } = await setup([node('n1'), going]);
    await c.syncPod('default/p1');
    expect(cluster.writes()).toEqual([]);
  });
});

describe('NodeLifecycleController running', () => {
  it('a lease going stale → Unknown + taint → pods evicted after the toleration, tolerating pods stay', async () => {
    cluster = fakeCluster([
      node('n1'),
      lease('n1'),
      node('n2'),
      lease('n2'),
      pod('lost', { node: 'n1' }),
      pod('stays', { node: 'n1', spec: { tolerations: [{ key: TAINT_UNREACHABLE, operator: 'Exists' }] } }),
      pod('elsewhere', { node: 'n2' }),
    ]);
    const c = new NodeLifecycleController({ ...cluster.deps, nodeMonitorGracePeriodMs: 8000, defaultUnreachableTolerationSeconds: 5, liveness: false });
    await cluster.sync();
    const running = c.run(cluster.signal);
    const { client, clock } = cluster;
    // n2 keeps heartbeating every 2 s; n1 is silent.
    const renew = async () => {
      const l = client.peek<Lease>('leases', 'kube-node-lease', 'n2')!;
      l.spec!.renewTime = new Date(clock.now()).toISOString();
      await client.resource<Lease>('leases').update(l);
    };
    // The Lease says 40 s: n1 is judged silent only then.
    for (let t = 0; t < 42_000; t += 2000) {
      await renew();
      await clock.tick(2000);
    }
    await waitFor(() => taintsOf(client.peek<Node>('nodes', undefined, 'n1')).length === 2, { what: 'n1 tainted' });
    expect(taintsOf(client.peek<Node>('nodes', undefined, 'n2'))).toEqual([]);
    expect(client.peek('pods', 'default', 'lost')).toBeDefined();
    for (let t = 0; t < 6000; t += 1000) {
      await renew();
      await clock.tick(1000);
    }
    await waitFor(() => client.peek('pods', 'default', 'lost') === undefined, { what: 'lost pod evicted' });
    expect(client.peek('pods', 'default', 'stays')).toBeDefined();
    expect(client.peek('pods', 'default', 'elsewhere')).toBeDefined();
    cluster.stop();
    await running;
  });
});

/** A liveness source whose answers the test sets. */
class FakeLiveness implements LivenessSource {
  readonly views = new Map<string, ProbeView>();
  readonly endpoints = new Map<string, string | undefined>();
  readonly reconnects: string[] = [];
  setEndpoint(node: string, endpoint: string | undefined): void {
    this.endpoints.set(node, endpoint);
  }
  forget(node: string): void {
    this.endpoints.delete(node);
  }
  view(node: string): ProbeView | undefined {
    return this.views.get(node);
  }
  reconnect(node: string): void {
    this.reconnects.push(node);
  }
  answer(node: string, at: number, state: ProbeView['state'] = 'alive'): void {
    this.views.set(node, { endpoint: 'x', state, lastAnswer: at, everAnswered: true, since: at });
  }
  async run(): Promise<void> {}
}

const probed = (name: string, labels: Record<string, string> = {}) => {
  const n = node(name);
  n.metadata.annotations = { [LIVENESS_ENDPOINT_ANNOTATION]: `127.0.0.1:1${name.length}` };
  n.metadata.labels = labels;
  return n;
};

describe('NodeLifecycleController with the fast liveness signal', () => {
  it('PINGs six times per grace unless told a period: 500 ms at the default 3 s grace, 1.67 s at 10 s; a given period is kept', () => {
    cluster = fakeCluster([]);
    const live = new FakeLiveness();
    expect(new NodeLifecycleController({ ...cluster.deps, liveness: live }).probeIntervalMs).toBe(500);
    expect(new NodeLifecycleController({ ...cluster.deps, liveness: live, probeGracePeriodMs: 10_000 }).probeIntervalMs).toBe(1_667);
    expect(new NodeLifecycleController({ ...cluster.deps, liveness: live, probeGracePeriodMs: 10_000, probeIntervalMs: 2_000 }).probeIntervalMs).toBe(2_000);
    expect(defaultProbeIntervalMs(300)).toBe(100);
  });

  it('learns endpoints from the Node annotation; a probed node is Unknown after the probe grace (3 s) although its Lease says 40 s; the message tells agent-down from silence', async () => {
    const live = new FakeLiveness();
    const { cluster, c } = await setup([probed('n1'), lease('n1'), probed('n2'), lease('n2'), probed('n3'), lease('n3'), probed('n4'), lease('n4')], live);
    expect(live.endpoints.get('n1')).toBe('127.0.0.1:12');
    for (const n of ['n1', 'n2', 'n3', 'n4']) live.answer(n, cluster.clock.now());
    cluster.clock.advance(2_999);
    c.monitorOnce();
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual([]);
    cluster.clock.advance(1);
    live.answer('n2', cluster.clock.now());
    live.answer('n3', cluster.clock.now());
    live.answer('n4', cluster.clock.now());
    live.views.get('n1')!.state = 'refused';
    c.monitorOnce();
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual(['update nodes n1', 'update nodes/status n1']);
    const n = cluster.client.peek<Node>('nodes', undefined, 'n1')!;
    expect(getCondition(n.status?.conditions, 'Ready')?.message).toMatch(/not running.*refuses connections/);
    expect(taintsOf(n)).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
  });

  it('re-probes a node it marked Unknown once it answers again, so its agent re-posts Ready', async () => {
    const live = new FakeLiveness();
    const gone = probed('n1');
    gone.status!.conditions = [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }];
    gone.spec = { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' }, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }] };
    const { cluster, c } = await setup([gone, lease('n1'), probed('n2'), lease('n2')], live);
    live.answer('n1', cluster.clock.now());
    live.answer('n2', cluster.clock.now());
    await c.syncNode('n1');
    expect(live.reconnects).toEqual(['n1']);
    expect(taintsOf(cluster.client.peek<Node>('nodes', undefined, 'n1'))).toEqual([]);
    // Not again within the probe grace.
    await c.syncNode('n1');
    expect(live.reconnects).toEqual(['n1']);
  });

  it('master disruption: every node silent at once → Unknown but no NoExecute taint and no eviction; a node back → fresh grace for all', async () => {
    const live = new FakeLiveness();
    const { cluster, c } = await setup([probed('n1'), lease('n1'), probed('n2'), lease('n2'), pod('p1', { node: 'n1' })], live);
    live.answer('n1', cluster.clock.now());
    live.answer('n2', cluster.clock.now());
    cluster.clock.advance(5_000);
    c.monitorOnce();
    expect(c.inMasterDisruption).toBe(true);
    await c.syncNode('n1');
    await c.syncNode('n2');
    const n1 = cluster.client.peek<Node>('nodes', undefined, 'n1')!;
    expect(getCondition(n1.status?.conditions, 'Ready')?.status).toBe('Unknown');
    expect(taintsOf(n1)).toEqual([`${TAINT_UNREACHABLE}:NoSchedule`]);
    expect(await c.syncPod('default/p1')).toBeUndefined();
    expect(cluster.client.peek('pods', 'default', 'p1')).toBeDefined();

    // n2 answers again: out of master disruption; n1 gets a fresh grace period rather than an instant eviction.
    live.answer('n2', cluster.clock.now());
    c.monitorOnce();
    expect(c.inMasterDisruption).toBe(false);
    await cluster.cached<Node>('nodes', 'n1', (o) => taintsOf(o).length === 1);
    expect((await c.health(cluster.client.peek<Node>('nodes', undefined, 'n1')!)).alive).toBe(true);
    cluster.clock.advance(3_000);
    live.answer('n2', cluster.clock.now());
    c.monitorOnce();
    await c.syncNode('n1');
    expect(taintsOf(cluster.client.peek<Node>('nodes', undefined, 'n1'))).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
  });

  it('partial disruption of a small zone (3 of 4 silent) stops new NoExecute taints; another zone is unaffected', async () => {
    const live = new FakeLiveness();
    const a = (n: string) => probed(n, { 'topology.kubernetes.io/zone': 'a' });
    const b = (n: string) => probed(n, { 'topology.kubernetes.io/zone': 'b' });
    const { cluster, c } = await setup([a('a1'), a('a2'), a('a3'), a('a4'), b('b1'), b('b2'), b('b3')], live);
    const t0 = cluster.clock.now();
    for (const n of ['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3']) live.answer(n, t0);
    cluster.clock.advance(4_000);
    live.answer('a4', cluster.clock.now());
    live.answer('b2', cluster.clock.now());
    live.answer('b3', cluster.clock.now());
    c.monitorOnce();
    expect(c.inMasterDisruption).toBe(false);
    for (const n of ['a1', 'a2', 'a3', 'b1']) await c.syncNode(n);
    for (const n of ['a1', 'a2', 'a3']) expect(taintsOf(cluster.client.peek<Node>('nodes', undefined, n)), n).toEqual([`${TAINT_UNREACHABLE}:NoSchedule`]);
    expect(taintsOf(cluster.client.peek<Node>('nodes', undefined, 'b1'))).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);
  });
});

describe('the eviction clock', () => {
  it('starts when this process tainted the node, not when its informer shows the taint', async () => {
    const live = new FakeLiveness();
    const { cluster, c } = await setup([probed('n1'), probed('n2'), probed('n3'), pod('p1', { node: 'n1' })], live);
    for (const n of ['n1', 'n2', 'n3']) live.answer(n, cluster.clock.now());
    cluster.clock.advance(3_000);
    live.answer('n2', cluster.clock.now());
    live.answer('n3', cluster.clock.now());
    c.monitorOnce();
    await c.syncNode('n1');
    // The informer lags by a second: the default toleration (1 s) has run out when the pod is first looked at.
    cluster.clock.advance(1_000);
    await cluster.cached<Node>('nodes', 'n1', (o) => taintsOf(o).length === 2);
    cluster.client.clearActions();
    await c.syncPod('default/p1');
    expect(cluster.writes()).toEqual(['delete pods default/p1']);
  });
});
