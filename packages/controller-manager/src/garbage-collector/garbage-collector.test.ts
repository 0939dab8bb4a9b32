import { resourceByName, type KubeObject, type OwnerReference, type Pod, type ReplicaSet } from '@flotilla/api';
import type { FakeApiClient } from '@flotilla/client/testing';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, pod, type FakeCluster } from '../fixtures.js';
import { GarbageCollector } from './garbage-collector.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

async function setup(objects: KubeObject[]) {
  cluster = fakeCluster(objects);
  const gc = new GarbageCollector({ ...cluster.deps });
  await cluster.sync();
  return { cluster, gc };
}

function rs(name: string, uid: string, meta: Partial<KubeObject['metadata']> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default', uid, ...meta },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
  };
}

function deployment(name: string, uid: string): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default', uid }, spec: { selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [] } } } };
}

const ref = (kind: string, name: string, uid: string, block = true): OwnerReference => ({
  apiVersion: kind === 'Pod' ? 'v1' : 'apps/v1',
  kind,
  name,
  uid,
  controller: true,
  blockOwnerDeletion: block,
});

/** Adds the finalizer the apiserver adds on DELETE with propagationPolicy Foreground or Orphan (the fake does not). */
function emulatePropagationFinalizers(client: FakeApiClient): void {
  client.prependReactor((a) => {
    const policy = (a.object as { propagationPolicy?: string } | undefined)?.propagationPolicy;
    if (a.verb !== 'delete' || (policy !== 'Foreground' && policy !== 'Orphan')) return;
    const cur = client.peek<KubeObject>(a.resource, a.namespace, a.name!);
    if (!cur || cur.metadata.deletionTimestamp) return;
    cur.metadata.finalizers = [...(cur.metadata.finalizers ?? []), policy === 'Foreground' ? 'foregroundDeletion' : 'orphan'];
    client.seed(cur);
  });
}

const owned = (name: string, owners: OwnerReference[]): Pod => pod(name, { meta: { ownerReferences: owners } });

describe('GarbageCollector.sync', () => {
  it('leaves dependents of an owner that exists alone', async () => {
    const { cluster, gc } = await setup([rs('web', 'rs-1'), owned('p1', [ref('ReplicaSet', 'web', 'rs-1')])]);
    await gc.sync('/pods|default/p1');
    expect(cluster.writes()).toEqual([]);
  });

  it('deletes a dependent whose owner is gone (confirmed by a live GET), in the background', async () => {
    const { cluster, gc } = await setup([owned('p1', [ref('ReplicaSet', 'web', 'rs-1')])]);
    const reads: string[] = [];
    cluster.client.prependReactor((a) => {
      if (a.verb === 'get') reads.push(`${a.resource} ${a.namespace}/${a.name}`);
    });
    await gc.sync('/pods|default/p1');
    expect(reads).toEqual(['replicasets default/web']);
    expect(cluster.writes()).toEqual(['delete pods default/p1']);
    expect(cluster.client.actions[0]!.object).toMatchObject({ propagationPolicy: 'Background', preconditions: { uid: expect.any(String) } });
  });

  it('checks owners it has no cache of with a live GET, and keeps dependents whose owner exists', async () => {
    cluster = fakeCluster([rs('web', 'rs-1'), owned('p1', [ref('ReplicaSet', 'web', 'rs-1')])]);
    // A collector that watches only pods: every owner lookup misses the cache.
    const gc = new GarbageCollector({ ...cluster.deps, resources: [resourceByName('pods')!] });
    await cluster.sync();
    await gc.sync('/pods|default/p1');
    expect(cluster.writes()).toEqual([]);
  });

  it('deletes a dependent whose owner was replaced by a namesake with another uid', async () => {
    const { cluster, gc } = await setup([rs('web', 'rs-2'), owned('p1', [ref('ReplicaSet', 'web', 'rs-1')])]);
    await gc.sync('/pods|default/p1');
    expect(cluster.writes()).toEqual(['delete pods default/p1']);
  });

  it('drops only the references to gone owners when another owner remains', async () => {
    const { cluster, gc } = await setup([rs('a', 'rs-a'), owned('p1', [ref('ReplicaSet', 'a', 'rs-a', false), ref('ReplicaSet', 'gone', 'rs-gone', false)])]);
    await gc.sync('/pods|default/p1');
    expect(cluster.writes()).toEqual(['update pods default/p1']);
    expect(cluster.client.peek<Pod>('pods', 'default', 'p1')!.metadata.ownerReferences?.map((r) => r.uid)).toEqual(['rs-a']);
  });

  it('ignores owner kinds the cluster does not serve', async () => {
    const { cluster, gc } = await setup([pod('p1', { meta: { ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'j', uid: 'widget-1' }] } })]);
    await gc.sync('/pods|default/p1');
    expect(cluster.writes()).toEqual([]);
  });

  it('foreground: deletes the dependents, then removes the finalizer once none block', async () => {
    const deleting = rs('web', 'rs-1', { deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] });
    const { cluster, gc } = await setup([deleting, owned('p1', [ref('ReplicaSet', 'web', 'rs-1')]), owned('p2', [ref('ReplicaSet', 'web', 'rs-1')])]);
    await gc.sync('apps/replicasets|default/web');
    expect(cluster.writes()).toEqual(['delete pods default/p1', 'delete pods default/p2']);
    expect(cluster.client.peek('replicasets', 'default', 'web')).toBeDefined();
    await cluster.cached('pods', 'default/p1', (o) => o === undefined);
    await cluster.cached('pods', 'default/p2', (o) => o === undefined);
    cluster.client.clearActions();
    await gc.sync('apps/replicasets|default/web');
    expect(cluster.writes()).toEqual(['update replicasets default/web']);
    expect(cluster.client.peek('replicasets', 'default', 'web')).toBeUndefined();
  });

  it('foreground: deletes dependents that have dependents of their own with Foreground', async () => {
    const deleting = { ...deployment('d', 'dep-1'), metadata: { ...deployment('d', 'dep-1').metadata, deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] } };
    const { cluster, gc } = await setup([deleting, rs('web', 'rs-1', { ownerReferences: [ref('Deployment', 'd', 'dep-1')] }), owned('p1', [ref('ReplicaSet', 'web', 'rs-1')])]);
    await gc.sync('apps/deployments|default/d');
    expect(cluster.writes()).toEqual(['delete replicasets default/web']);
    expect(cluster.client.actions[0]!.object).toMatchObject({ propagationPolicy: 'Foreground' });
  });

  it('orphan: removes the ownerReference from every dependent, then the finalizer', async () => {
    const deleting = rs('web', 'rs-1', { deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['orphan'] });
    const { cluster, gc } = await setup([deleting, owned('p1', [ref('ReplicaSet', 'web', 'rs-1')]), owned('p2', [ref('ReplicaSet', 'web', 'rs-1')])]);
    await gc.sync('apps/replicasets|default/web');
    expect(cluster.writes()).toEqual(['update pods default/p1', 'update pods default/p2', 'update replicasets default/web']);
    expect(cluster.client.peek<Pod>('pods', 'default', 'p1')!.metadata.ownerReferences).toBeUndefined();
    expect(cluster.client.peek<Pod>('pods', 'default', 'p2')).toBeDefined();
    expect(cluster.client.peek('replicasets', 'default', 'web')).toBeUndefined();
  });
});

describe('GarbageCollector running', () => {
  it('cascades a Background delete Deployment → ReplicaSet → pods and leaves unrelated objects', async () => {
    const { cluster, gc } = await setup([
      deployment('d', 'dep-1'),
      rs('web', 'rs-1', { ownerReferences: [ref('Deployment', 'd', 'dep-1')] }),
      owned('p1', [ref('ReplicaSet', 'web', 'rs-1')]),
      owned('p2', [ref('ReplicaSet', 'web', 'rs-1')]),
      pod('mine'),
    ]);
    const running = gc.run(cluster.signal);
    const { client } = cluster;
    await client.resource('deployments').delete('default', 'd', { propagationPolicy: 'Background' });
    await waitFor(() => client.peekAll('pods').length === 1 && client.peekAll('replicasets').length === 0, { what: 'cascade' });
    expect(client.peekAll('pods').map((p) => p.metadata.name)).toEqual(['mine']);
    cluster.stop();
    await running;
  });

  it('finds orphans at start: dependents whose owners vanished while nobody watched', async () => {
    const { cluster, gc } = await setup([owned('p1', [ref('ReplicaSet', 'gone', 'rs-x')]), pod('mine')]);
    const running = gc.run(cluster.signal);
    await waitFor(() => cluster.client.peek('pods', 'default', 'p1') === undefined, { what: 'orphan deleted' });
    expect(cluster.client.peek('pods', 'default', 'mine')).toBeDefined();
    cluster.stop();
    await running;
  });

  it('foreground delete of a Deployment removes pods, then the ReplicaSet, then the Deployment', async () => {
    const dep = deployment('d', 'dep-1');
    const { cluster, gc } = await setup([dep, rs('web', 'rs-1', { ownerReferences: [ref('Deployment', 'd', 'dep-1')] }), owned('p1', [ref('ReplicaSet', 'web', 'rs-1')])]);
    const running = gc.run(cluster.signal);
    const { client } = cluster;
    emulatePropagationFinalizers(client);
    const order: string[] = [];
    client.prependReactor((a) => {
      if (a.verb === 'delete' || (a.verb === 'update' && a.resource !== 'events')) order.push(`${a.verb} ${a.resource}`);
    });
    await client.resource('deployments').delete('default', 'd', { propagationPolicy: 'Foreground' });
    await waitFor(() => !client.peek('deployments', 'default', 'd'), { what: 'deployment gone' });
    expect(client.peekAll('replicasets')).toEqual([]);
    expect(client.peekAll('pods')).toEqual([]);
    // Pods go before the ReplicaSet's finalizer is released, which goes before the Deployment's.
    expect(order.indexOf('delete pods')).toBeGreaterThan(-1);
    expect(order.indexOf('delete pods')).toBeLessThan(order.lastIndexOf('update replicasets'));
    expect(order.lastIndexOf('update replicasets')).toBeLessThan(order.lastIndexOf('update deployments'));
    cluster.stop();
    await running;
  });
});
