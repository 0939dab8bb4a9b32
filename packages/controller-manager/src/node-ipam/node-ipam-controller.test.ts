import { conflict, type Event, type KubeObject, type Lease, type Node } from '@flotilla/api';
import { overrideResource } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, node, type FakeCluster } from '../fixtures.js';
import { claimName, NodeIpamController, POD_CIDR_CLAIM_LABEL, POD_CIDR_CLAIM_NODE_UID, POD_CIDR_CLAIM_RANGE } from './node-ipam-controller.js';
import { parseCidr } from '@flotilla/network';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

function withUid(n: Node, uid = `uid-${n.metadata.name}`): Node {
  n.metadata.uid = uid;
  return n;
}

/** A claim Lease on `range` held for node `holder`. */
function claim(range: string, holder: string, uid = `uid-${holder}`): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: claimName(parseCidr(range)!),
      namespace: 'kube-system',
      labels: { [POD_CIDR_CLAIM_LABEL]: 'true' },
      annotations: { [POD_CIDR_CLAIM_NODE_UID]: uid, [POD_CIDR_CLAIM_RANGE]: range },
    },
    spec: { holderIdentity: holder },
  };
}

async function setup(objects: KubeObject[], opts: { clusterCIDR?: string; nodeCIDRMaskSize?: number } = {}) {
  cluster = fakeCluster(objects);
  const c = new NodeIpamController({ ...cluster.deps, ...opts });
  await cluster.sync();
  return { cluster, c };
}

const podCIDR = (c: FakeCluster, name: string) => c.client.peek<Node>('nodes', undefined, name)?.spec;
const claims = (c: FakeCluster) =>
  c.client.peekAll<Lease>('leases')
    .filter((l) => l.metadata.labels?.[POD_CIDR_CLAIM_LABEL])
    .map((l) => `${l.metadata.annotations?.[POD_CIDR_CLAIM_RANGE]}=${l.spec?.holderIdentity}`)
    .sort();
async function events(c: FakeCluster): Promise<string[]> {
  await c.recorder.flush();
  return c.client.peekAll<Event>('events').map((e) => `${e.involvedObject?.name} ${e.type} ${e.reason}`);
}

describe('NodeIpamController.sync', () => {
  const cases: Array<{
    name: string;
    objects: KubeObject[];
    sync: string;
    opts?: { clusterCIDR?: string; nodeCIDRMaskSize?: number };
    want: { podCIDR?: string; claims: string[]; writes: string[]; events?: string[] };
  }> = [
    {
      name: 'a new node gets the first range and a claim made before the node is written',
      objects: [withUid(node('a'))],
      sync: 'a',
      want: { podCIDR: '10.244.0.0/24', claims: ['10.244.0.0/24=a'], writes: ['create leases kube-system/pod-cidr-10.244.0.0-24', 'update nodes a'] },
    },
    {
      name: 'ranges held by nodes and by claims are skipped',
      objects: [withUid(node('a', { podCIDR: '10.244.0.0/24' })), claim('10.244.0.0/24', 'a'), claim('10.244.1.0/24', 'racing'), withUid(node('b'))],
      sync: 'b',
      want: { podCIDR: '10.244.2.0/24', claims: ['10.244.0.0/24=a', '10.244.1.0/24=racing', '10.244.2.0/24=b'], writes: ['create leases kube-system/pod-cidr-10.244.2.0-24', 'update nodes b'] },
    },
    {
      name: 'a claim a racing manager made for this very node is finished, not duplicated',
      objects: [withUid(node('b')), claim('10.244.5.0/24', 'b')],
      sync: 'b',
      want: { podCIDR: '10.244.5.0/24', claims: ['10.244.5.0/24=b'], writes: ['update nodes b'] },
    },
    {
      name: 'a node with a range keeps it and gets it claimed',
      objects: [withUid(node('fixed', { podCIDR: '10.244.9.0/24', podCIDRs: ['10.244.9.0/24'] }))],
      sync: 'fixed',
      want: { podCIDR: '10.244.9.0/24', claims: ['10.244.9.0/24=fixed'], writes: ['create leases kube-system/pod-cidr-10.244.9.0-24'] },
    },
    {
      name: 'a range outside the cluster range is kept and claims nothing',
      objects: [withUid(node('far', { podCIDR: '192.168.7.0/24' }))],
      sync: 'far',
      want: { podCIDR: '192.168.7.0/24', claims: [], writes: [] },
    },
    {
      name: 'a range overlapping another node\'s is reported, nothing is claimed or changed',
      objects: [withUid(node('a', { podCIDR: '10.244.0.0/24' })), claim('10.244.0.0/24', 'a'), withUid(node('b', { podCIDR: '10.244.0.0/23' }))],
      sync: 'b',
      want: { podCIDR: '10.244.0.0/23', claims: ['10.244.0.0/24=a'], writes: [], events: ['b Warning PodCIDRConflict'] },
    },
    {
      name: 'a hand-set /23 inside the cluster range claims both /24 slots it covers',
      objects: [withUid(node('wide', { podCIDR: '10.244.6.0/23' }))],
      sync: 'wide',
      want: { podCIDR: '10.244.6.0/23', claims: ['10.244.6.0/23=wide', '10.244.6.0/23=wide'], writes: ['create leases kube-system/pod-cidr-10.244.6.0-24', 'create leases kube-system/pod-cidr-10.244.7.0-24'] },
    },
    {
      name: 'slots covered by a hand-set /22 and by a claim are skipped when allocating',
      objects: [withUid(node('wide', { podCIDR: '10.244.0.0/22' })), claim('10.244.4.0/24', 'racing'), withUid(node('b'))],
      sync: 'b',
      want: { podCIDR: '10.244.5.0/24', claims: ['10.244.4.0/24=racing', '10.244.5.0/24=b'], writes: ['create leases kube-system/pod-cidr-10.244.5.0-24', 'update nodes b'] },
    },
    {
      name: 'a hand-set range straddling the end of the cluster range claims only the slot inside it',
      objects: [withUid(node('edge', { podCIDR: '10.9.0.0/23' }))],
      opts: { clusterCIDR: '10.9.1.0/24', nodeCIDRMaskSize: 25 },
      sync: 'edge',
      want: { podCIDR: '10.9.0.0/23', claims: ['10.9.0.0/23=edge', '10.9.0.0/23=edge'], writes: ['create leases kube-system/pod-cidr-10.9.1.0-25', 'create leases kube-system/pod-cidr-10.9.1.128-25'] },
    },
    {
      name: 'exhausted: Event CIDRNotAvailable, the node stays without a range',
      objects: [withUid(node('a', { podCIDR: '10.9.0.0/25' })), claim('10.9.0.0/25', 'a'), withUid(node('b', { podCIDR: '10.9.0.128/25' })), claim('10.9.0.128/25', 'b'), withUid(node('c'))],
      opts: { clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 25 },
      sync: 'c',
      want: { claims: ['10.9.0.0/25=a', '10.9.0.128/25=b'], writes: [], events: ['c Warning CIDRNotAvailable'] },
    },
    {
      name: 'a deleted node\'s claim is released',
      objects: [claim('10.244.3.0/24', 'gone')],
      sync: 'gone',
      want: { claims: [], writes: ['delete leases kube-system/pod-cidr-10.244.3.0-24'] },
    },
    {
      name: 'a claim of a node re-created under the same name is released; the new node gets its own',
      objects: [claim('10.244.3.0/24', 'a', 'old-uid'), withUid(node('a'), 'new-uid')],
      sync: 'a',
      want: { podCIDR: '10.244.0.0/24', claims: ['10.244.0.0/24=a'], writes: ['delete leases kube-system/pod-cidr-10.244.3.0-24', 'create leases kube-system/pod-cidr-10.244.0.0-24', 'update nodes a'] },
    },
    {
      name: 'a node that holds a range drops claims it made for another (a lost race)',
      objects: [withUid(node('a', { podCIDR: '10.244.1.0/24' })), claim('10.244.1.0/24', 'a'), claim('10.244.7.0/24', 'a')],
      sync: 'a',
      want: { podCIDR: '10.244.1.0/24', claims: ['10.244.1.0/24=a'], writes: ['delete leases kube-system/pod-cidr-10.244.7.0-24'] },
    },
    {
      name: 'a stale claim on a node\'s fixed range (holder gone) is taken over',
      objects: [withUid(node('fixed', { podCIDR: '10.244.4.0/24' })), claim('10.244.4.0/24', 'gone')],
      sync: 'fixed',
      want: { podCIDR: '10.244.4.0/24', claims: ['10.244.4.0/24=fixed'], writes: ['update leases kube-system/pod-cidr-10.244.4.0-24'] },
    },
  ];

  for (const tc of cases) {
    it(tc.name, async () => {
      const { cluster: c, c: ctrl } = await setup(tc.objects, tc.opts);
      await ctrl.sync(tc.sync);
      expect(c.writes()).toEqual(tc.want.writes);
      expect(podCIDR(c, tc.sync)?.podCIDR).toBe(tc.want.podCIDR);
      if (tc.want.podCIDR && tc.want.writes.some((w) => w.startsWith('update nodes'))) expect(podCIDR(c, tc.sync)?.podCIDRs).toEqual([tc.want.podCIDR]);
      expect(claims(c)).toEqual(tc.want.claims);
      if (tc.want.events) expect(await events(c)).toEqual(tc.want.events);
    });
  }

  it('ranges are handed out next-fit, as Kubernetes\' cidrset: a released one is reused once the pool comes round; a node is never given a range another node holds', async () => {
    const { cluster: c, c: ctrl } = await setup([withUid(node('a')), withUid(node('b'))], { clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 26 });
    await ctrl.sync('a');
    await ctrl.sync('b');
    expect([podCIDR(c, 'a')?.podCIDR, podCIDR(c, 'b')?.podCIDR]).toEqual(['10.9.0.0/26', '10.9.0.64/26']);
    await c.client.resource('nodes').delete(undefined, 'a');
    await c.cached('nodes', 'a', (o) => o === undefined);
    await ctrl.sync('a');
    await c.cached('leases', `kube-system/${claimName(parseCidr('10.9.0.0/26')!)}`, (o) => o === undefined);
    const nodes = c.client.resource<Node>('nodes');
    for (const name of ['c', 'd', 'e']) {
      await nodes.create(withUid(node(name), `uid-${name}`));
      await c.cached('nodes', name);
      await ctrl.sync(name);
      await c.cached<Node>('nodes', name, (n) => !!n?.spec?.podCIDR);
    }
    // c and d take the two never used; e comes round to a's, not b's (still held).
    expect(['c', 'd', 'e'].map((n) => podCIDR(c, n)?.podCIDR)).toEqual(['10.9.0.128/26', '10.9.0.192/26', '10.9.0.0/26']);
  });

  it('nodes joining together, synced in parallel (the workers), get distinct ranges with one claim create each', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const { cluster: c, c: ctrl } = await setup(names.map((n) => withUid(node(n))), { clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 27 });
    await Promise.all(names.map((n) => ctrl.sync(n)));
    const ranges = names.map((n) => podCIDR(c, n)?.podCIDR);
    expect(ranges.every((r) => r !== undefined)).toBe(true);
    expect(new Set(ranges).size).toBe(names.length);
    expect(claims(c)).toEqual(names.map((n, i) => `${ranges[i]}=${n}`).sort());
    // Each worker skips the slots others are claiming instead of racing them to a failed create.
    expect(c.writes().filter((w) => w.startsWith('create leases'))).toHaveLength(names.length);
  });

  it('a worker whose claim lost (a range taken by another manager, not yet in the cache) passes over the slot another worker is claiming', async () => {
    const { cluster: c, c: ctrl } = await setup([withUid(node('a')), withUid(node('b'))], { clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 27 });
    await c.client.resource<Lease>('leases').create(claim('10.9.0.0/27', 'elsewhere'));
    c.client.clearActions();
    await Promise.all([ctrl.sync('a'), ctrl.sync('b')]);
    expect([podCIDR(c, 'a')?.podCIDR, podCIDR(c, 'b')?.podCIDR]).toEqual(['10.9.0.64/27', '10.9.0.32/27']);
    expect(c.writes().filter((w) => w.startsWith('create leases'))).toEqual([
      'create leases kube-system/pod-cidr-10.9.0.0-27', // a: lost to the other manager
      'create leases kube-system/pod-cidr-10.9.0.32-27', // b
      'create leases kube-system/pod-cidr-10.9.0.64-27', // a again, past b's
    ]);
  });

  it('a lost claim is dropped only if it is still ours: a claim made since for another node under the same name stays', async () => {
    const { cluster: c } = await setup([withUid(node('y')), withUid(node('z'))], { clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 26 });
    const leases = c.client.resource<Lease>('leases');
    const nodes = c.client.resource<Node>('nodes');
    const ours = claimName(parseCidr('10.9.0.0/26')!);
    // While this manager writes y's range, another one gives y 10.9.0.64/26, releases our claim as stale
    // (y holds another range) and claims 10.9.0.0/26 again, for z. Our write of y then conflicts.
    let raced = false;
    const client = overrideResource(c.client, 'nodes', (real) => ({
      update: async (obj) => {
        if (raced || obj.metadata.name !== 'y') return real.update(obj);
        raced = true;
        const y = await nodes.get(undefined, 'y');
        await nodes.update({ ...y, spec: { podCIDR: '10.9.0.64/26', podCIDRs: ['10.9.0.64/26'] } });
        await leases.create(claim('10.9.0.64/26', 'y'));
        await leases.delete('kube-system', ours);
        await leases.create(claim('10.9.0.0/26', 'z'));
        throw conflict('nodes', 'y', 'the object has been modified');
      },
    }));
    const ctrl = new NodeIpamController({ ...c.deps, client, clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 26 });
    await ctrl.sync('y');
    expect(raced).toBe(true);
    expect(podCIDR(c, 'y')?.podCIDR).toBe('10.9.0.64/26');
    expect(claims(c)).toEqual(['10.9.0.0/26=z', '10.9.0.64/26=y']);
  });

  it('a waiting node is looked at again when a range is freed, not on each of its status writes', async () => {
    const { cluster: c, c: ctrl } = await setup(
      [withUid(node('a', { podCIDR: '10.9.0.0/25' })), claim('10.9.0.0/25', 'a'), withUid(node('b', { podCIDR: '10.9.0.128/25' })), claim('10.9.0.128/25', 'b'), withUid(node('c'))],
      { clusterCIDR: '10.9.0.0/24', nodeCIDRMaskSize: 25 },
    );
    // What the controller's workers would be handed next.
    const queued = async (): Promise<string[]> => {
      const keys: string[] = [];
      while (ctrl.controller.queue.len() > 0) keys.push((await ctrl.controller.queue.get())!);
      for (const k of keys) ctrl.controller.queue.done(k);
      return keys.sort();
    };
    await queued(); // the initial adds
    await ctrl.sync('c');
    expect(podCIDR(c, 'c')?.podCIDR).toBeUndefined();

    // A status write of the waiting node (the agent's heartbeat): nothing to do.
    const nodes = c.client.resource<Node>('nodes');
    const waiting = c.client.peek<Node>('nodes', undefined, 'c')!;
    await nodes.update({ ...waiting, status: { ...(waiting.status ?? {}), conditions: [{ type: 'Ready', status: 'True' }] } });
    await c.cached<Node>('nodes', 'c', (n) => n?.status?.conditions?.[0]?.status === 'True');
    expect(await queued()).toEqual([]);

    // Node b goes away: its range is released, and c is queued and gets it.
    await nodes.delete(undefined, 'b');
    await c.cached('nodes', 'b', (o) => o === undefined);
    expect(await queued()).toEqual(['b', 'c']);
    await ctrl.sync('b');
    await c.cached('leases', `kube-system/${claimName(parseCidr('10.9.0.128/25')!)}`, (o) => o === undefined);
    await ctrl.sync('c');
    expect(podCIDR(c, 'c')?.podCIDR).toBe('10.9.0.128/25');
  });

  it('rejects a mask size shorter than the cluster range', () => {
    const c = fakeCluster();
    cluster = c;
    expect(() => new NodeIpamController({ ...c.deps, clusterCIDR: '10.244.0.0/16', nodeCIDRMaskSize: 8 })).toThrow(/mask size 8/);
  });
});
