import type { KubeObject, Namespace } from '@flotilla/api';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, pod, service, type FakeCluster } from '../fixtures.js';
import { NamespaceController } from './namespace-controller.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

const ns = (name: string, meta: Partial<Namespace['metadata']> = {}, phase: 'Active' | 'Terminating' = 'Active'): Namespace => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, ...meta },
  spec: {},
  status: { phase },
});

const terminating = (name: string, phase: 'Active' | 'Terminating' = 'Terminating') => ns(name, { deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['kubernetes'] }, phase);

async function setup(objects: KubeObject[]) {
  cluster = fakeCluster(objects);
  const c = new NamespaceController({ ...cluster.deps });
  await cluster.sync();
  return { cluster, c };
}

describe('NamespaceController.sync', () => {
  it('leaves active namespaces alone', async () => {
    const { cluster, c } = await setup([ns('team'), pod('p', { ns: 'team' })]);
    await c.sync('team');
    expect(cluster.writes()).toEqual([]);
  });

  it('deletes everything in a terminating namespace, then removes the finalizer so it goes', async () => {
    const { cluster, c } = await setup([terminating('team'), pod('p', { ns: 'team' }), service('web', { app: 'web' }, undefined, 'team'), pod('other', { ns: 'default' })]);
    await c.sync('team');
    expect(cluster.writes()).toEqual(['delete pods team/p', 'delete services team/web', 'update namespaces team']);
    expect(cluster.client.peek('namespaces', undefined, 'team')).toBeUndefined();
    expect(cluster.client.peek('pods', 'default', 'other')).toBeDefined();
  });

  it('sets phase Terminating when the apiserver did not, and waits for objects that are still going', async () => {
    const finalizing = pod('p', { ns: 'team', meta: { finalizers: ['example.com/hold'] } });
    const { cluster, c } = await setup([terminating('team', 'Active'), finalizing]);
    const r = await c.sync('team');
    expect(cluster.writes()).toEqual(['update namespaces/status team', 'delete pods team/p']);
    expect(r).toEqual({ requeueAfter: 1000 });
    expect(cluster.client.peek<Namespace>('namespaces', undefined, 'team')!.status?.phase).toBe('Terminating');
    // The pod's own finalizer holds it: the namespace waits, without deleting it again.
    cluster.client.clearActions();
    await cluster.cached<Namespace>('namespaces', 'team', (o) => o?.status?.phase === 'Terminating');
    expect(await c.sync('team')).toEqual({ requeueAfter: 1000 });
    expect(cluster.writes()).toEqual([]);
  });

  it('removes the finalizer from spec.finalizers too', async () => {
    const n = terminating('team');
    n.spec = { finalizers: ['kubernetes'] };
    const { cluster, c } = await setup([n]);
    await c.sync('team');
    expect(cluster.writes()).toEqual(['update namespaces team']);
    expect(cluster.client.actions[0]!.object).toMatchObject({ metadata: { finalizers: [] }, spec: { finalizers: [] } });
  });
});

describe('NamespaceController running', () => {
  it('empties a namespace deleted while running, then it is gone', async () => {
    const { cluster, c } = await setup([ns('team'), pod('a', { ns: 'team' }), pod('b', { ns: 'team' }), service('s', { app: 'x' }, undefined, 'team')]);
    const running = c.run(cluster.signal);
    const { client } = cluster;
    // What the apiserver does on DELETE of a namespace: finalizer, phase, deletionTimestamp.
    const cur = client.peek<Namespace>('namespaces', undefined, 'team')!;
    cur.metadata.finalizers = ['kubernetes'];
    cur.status = { phase: 'Terminating' };
    client.seed(cur);
    await client.resource('namespaces').delete(undefined, 'team');
    await waitFor(() => !client.peek('namespaces', undefined, 'team'), { what: 'namespace gone' });
    expect(client.peekAll('pods').filter((p) => p.metadata.namespace === 'team')).toEqual([]);
    expect(client.peekAll('services')).toEqual([]);
    cluster.stop();
    await running;
  });
});
