import { randomBytes } from 'node:crypto';
import { isReason, type KubeObject, type OwnerReference } from '@flotilla/api';
import { silentLogger, type ApiClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerManager } from '../src/index.js';
import { startCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;
let client: ApiClient;
const stop = new AbortController();
let running: Promise<void>;
const ns = `gc-${randomBytes(3).toString('hex')}`;

const labels = { app: 'web' };
const template = { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'flotilla/busybox:latest' }] } };

const ownerRef = (o: KubeObject): OwnerReference => ({ apiVersion: o.apiVersion!, kind: o.kind!, name: o.metadata.name!, uid: o.metadata.uid!, controller: true, blockOwnerDeletion: true });

async function exists(resource: string, name: string, namespace: string | undefined = ns): Promise<boolean> {
  try {
    await client.resource(resource).get(namespace, name);
    return true;
  } catch (err) {
    if (isReason(err, 'NotFound')) return false;
    throw err;
  }
}

/** A Deployment → ReplicaSet → 2 pods chain, owned the way the app controllers own them. */
async function chain(name: string): Promise<{ deploy: KubeObject; rs: KubeObject; pods: KubeObject[] }> {
  const deploy = await client.resource('deployments').create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns }, spec: { replicas: 2, selector: { matchLabels: labels }, template } });
  const rs = await client.resource('replicasets').create({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: `${name}-rs`, namespace: ns, ownerReferences: [ownerRef({ ...deploy, apiVersion: 'apps/v1', kind: 'Deployment' })] },
    spec: { replicas: 2, selector: { matchLabels: labels }, template },
  });
  const pods: KubeObject[] = [];
  for (const i of [1, 2]) {
    pods.push(
      await client.resource('pods').create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${name}-pod-${i}`, namespace: ns, labels, ownerReferences: [ownerRef({ ...rs, apiVersion: 'apps/v1', kind: 'ReplicaSet' })] },
        spec: template.spec,
      }),
    );
  }
  return { deploy, rs, pods };
}

beforeAll(async () => {
  cluster = await startCluster('gc');
  client = cluster.client();
  await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const manager = new ControllerManager({ client: cluster.client(), controllers: ['garbage-collector', 'namespace'], logger: silentLogger });
  running = manager.run(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running?.catch(() => undefined);
  await cluster?.stop();
});

describe('garbage collector on the real apiserver and etcd', () => {
  it('Background: deleting a Deployment removes its ReplicaSet and pods', async () => {
    const { pods } = await chain('bg');
    await client.resource('deployments').delete(ns, 'bg', { propagationPolicy: 'Background' });
    await waitFor(async () => !(await exists('replicasets', 'bg-rs')) && !(await exists('pods', pods[0]!.metadata.name!)) && !(await exists('pods', pods[1]!.metadata.name!)), {
      what: 'replicaset and pods collected',
      timeoutMs: 15_000,
      intervalMs: 100,
    });
  });

  it('Foreground: the Deployment stays (foregroundDeletion) until its dependents are gone', async () => {
    const { pods } = await chain('fg');
    const marked = await client.resource('deployments').delete(ns, 'fg', { propagationPolicy: 'Foreground' });
    expect(marked?.metadata.finalizers).toContain('foregroundDeletion');
    const gone = new Map<string, number>();
    await waitFor(
      async () => {
        for (const [r, n] of [['pods', pods[0]!.metadata.name!], ['pods', pods[1]!.metadata.name!], ['replicasets', 'fg-rs'], ['deployments', 'fg']] as const) {
          if (!gone.has(n) && !(await exists(r, n))) gone.set(n, gone.size);
        }
        return gone.size === 4;
      },
      { what: 'foreground cascade', timeoutMs: 15_000, intervalMs: 20 },
    );
    // The owner is the last to go.
    expect(gone.get('fg')).toBe(3);
  });

  it('Orphan: the ReplicaSet goes, its pods stay without the ownerReference', async () => {
    const { pods } = await chain('or');
    await client.resource('replicasets').delete(ns, 'or-rs', { propagationPolicy: 'Orphan' });
    await waitFor(async () => !(await exists('replicasets', 'or-rs')), { what: 'replicaset gone', timeoutMs: 15_000, intervalMs: 100 });
    for (const p of pods) {
      const live = await client.resource('pods').get(ns, p.metadata.name!);
      expect(live.metadata.ownerReferences ?? []).toEqual([]);
    }
    await client.resource('deployments').delete(ns, 'or');
  });

  it('removes dependents whose owner vanished while nobody watched', async () => {
    const orphan = await client.resource('pods').create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'dangling', namespace: ns, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'never-was', uid: '00000000-0000-0000-0000-000000000000' }] },
      spec: template.spec,
    });
    expect(orphan.metadata.uid).toBeTruthy();
    await waitFor(async () => !(await exists('pods', 'dangling')), { what: 'dangling pod collected', timeoutMs: 15_000, intervalMs: 100 });
  });
});

describe('namespace controller on the real apiserver and etcd', () => {
  it('deleting a namespace deletes everything in it, then the namespace', async () => {
    const victim = `${ns}-del`;
    await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: victim } });
    await client.resource('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: victim }, spec: template.spec });
    await client.resource('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: victim }, spec: { selector: labels, ports: [{ port: 80 }] } });
    await client.resource('replicasets').create({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r', namespace: victim }, spec: { replicas: 0, selector: { matchLabels: labels }, template } });
    await client.resource('leases').create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: victim }, spec: {} });
    const marked = await client.resource('namespaces').delete(undefined, victim);
    expect((marked as { status?: { phase?: string } } | undefined)?.status?.phase).toBe('Terminating');
    await waitFor(async () => !(await exists('namespaces', victim, undefined)), { what: 'namespace gone', timeoutMs: 20_000, intervalMs: 100 });
    for (const r of ['pods', 'services', 'replicasets', 'leases']) expect((await client.resource(r).list(victim)).items).toEqual([]);
  });
});
