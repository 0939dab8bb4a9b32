import { getCondition, type Lease, type Node, type Pod } from '@flotilla/api';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, lease, node, pod, type FakeCluster } from '../fixtures.js';
import { NodeLifecycleController } from './node-lifecycle-controller.js';
import { evictionDelayMs, TAINT_NOT_READY, TAINT_UNREACHABLE, toleratesTaint } from './taints.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

async function setup(objects: Parameters<typeof fakeCluster>[0]) {
  cluster = fakeCluster(objects);
  const c = new NodeLifecycleController({ ...cluster.deps });
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
    const { cluster, c } = await setup([node('n1'), lease('n1')]);
    const r = await c.syncNode('n1');
    expect(cluster.writes()).toEqual([]);
    expect(r).toEqual({ requeueAfter: 8001 });
  });

  it('marks a silent node Unknown, taints it unreachable and its pods not ready, records NodeNotReady', async () => {
    const { cluster, c } = await setup([node('n1'), lease('n1'), pod('p1', { node: 'n1', ip: '10.0.0.1' })]);
    cluster.clock.advance(8000);
    await c.syncNode('n1');
    expect(cluster.writes()).toEqual(['update nodes/status n1', 'update pods/status default/p1', 'update nodes n1']);
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
    cluster.clock.advance(20_000);
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
    expect(await c.syncPod('default/p1')).toEqual({ requeueAfter: 5000 });
    expect(cluster.writes()).toEqual([]);
    cluster.clock.advance(4999);
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
    const c = new NodeLifecycleController({ ...cluster.deps, nodeMonitorGracePeriodMs: 8000, defaultUnreachableTolerationSeconds: 5 });
    await cluster.sync();
    const running = c.run(cluster.signal);
    const { client, clock } = cluster;
    // n2 keeps heartbeating every 2 s; n1 is silent.
    const renew = async () => {
      const l = client.peek<Lease>('leases', 'kube-node-lease', 'n2')!;
      l.spec!.renewTime = new Date(clock.now()).toISOString();
      await client.resource<Lease>('leases').update(l);
    };
    for (let t = 0; t < 10_000; t += 2000) {
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
