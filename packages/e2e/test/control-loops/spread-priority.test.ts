/**
 * Pod scheduling features on a real control plane with hollow nodes:
 * topologySpreadConstraints (DoNotSchedule over a zone label) hold for a
 * Deployment's pods, and a pod naming a PriorityClass gets its priority from
 * the real apiserver's admission.
 */
import type { Deployment, Node, Pod } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, createNamespace, deployment } from './helpers.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: ['node-1', 'node-2', 'node-3'], heartbeatInterval: '1s' });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('scheduling features on hollow nodes', () => {
  it('topologySpreadConstraints DoNotSchedule: 6 replicas split 3/3 over zones a (two nodes) and b (one node)', async () => {
    const zones: Record<string, string> = { 'node-1': 'a', 'node-2': 'a', 'node-3': 'b' };
    const nodes = cluster.client.resource<Node>('nodes');
    for (const [name, zone] of Object.entries(zones)) await nodes.patch(undefined, name, { metadata: { labels: { 'topology.kubernetes.io/zone': zone } } }, 'merge');
    await waitFor(async () => (await nodes.list()).items.filter((n) => n.metadata.labels?.['topology.kubernetes.io/zone']).length === 3, { timeout: 10_000, message: 'zone labels on the 3 nodes' });

    const ns = await createNamespace(cluster.client, 'cl-spread');
    const d = deployment(ns, 'web', { replicas: 6 });
    d.spec!.template.spec!.topologySpreadConstraints = [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } },
    ];
    await cluster.client.resource<Deployment>('deployments').create(d);
    const bound = await waitFor(
      async () => {
        const pods = (await activePods(cluster.client, ns)).filter((p: Pod) => p.spec?.nodeName);
        return pods.length === 6 ? pods : undefined;
      },
      { timeout: 30_000, message: '6 bound pods' },
    );
    const perZone: Record<string, number> = {};
    for (const p of bound) perZone[zones[p.spec!.nodeName!]!] = (perZone[zones[p.spec!.nodeName!]!] ?? 0) + 1;
    expect(perZone).toEqual({ a: 3, b: 3 });
  });

  it('a pod naming a PriorityClass gets its value from admission; an unknown class is refused', async () => {
    const ns = await createNamespace(cluster.client, 'cl-prio');
    await cluster.client.resource('priorityclasses').create({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: `${ns}-high` }, value: 100000 } as never);
    const pod = (name: string, cls: string): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns },
      spec: { priorityClassName: cls, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'flotilla/echo:1' }] },
    });
    const created = await cluster.client.resource<Pod>('pods').create(pod('p', `${ns}-high`));
    expect(created.spec).toMatchObject({ priority: 100000, preemptionPolicy: 'PreemptLowerPriority' });
    await waitFor(async () => !!(await cluster.client.resource<Pod>('pods').get(ns, 'p')).spec?.nodeName, { timeout: 15_000, message: 'the priority pod bound' });
    await expect(cluster.client.resource<Pod>('pods').create(pod('q', 'no-such-class'))).rejects.toMatchObject({ reason: 'Forbidden' });
    await cluster.client.resource('priorityclasses').delete(undefined, `${ns}-high`);
  });
});
