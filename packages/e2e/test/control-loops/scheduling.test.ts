/**
 * Scheduling and node loss on a real control plane with hollow nodes: a pod
 * that fits nowhere says why per node and lands as soon as a node with room
 * joins; a node whose agent dies becomes NotReady and its pods come back on
 * the other nodes. The scenarios run in order on one cluster (the joined
 * node stays for the node-loss scenario).
 */
import type { Deployment, Event, Lease, Node, Pod } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, createNamespace, deployment, isReady, waitForRollout } from './helpers.js';

let cluster: TestCluster;
const timings: Record<string, number> = {};

beforeAll(async () => {
  // Kubernetes-like short defaults of the controller-manager: 8 s grace, 5 s toleration.
  cluster = await startCluster({ nodes: ['node-1', 'node-2', 'node-3'], heartbeatInterval: '1s' });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (Object.keys(timings).length) console.info(`control-loops/scheduling timings (ms): ${JSON.stringify(timings)}`);
  await cluster?.stop();
});

const pods = () => cluster.client.resource<Pod>('pods');
const nodeCondition = (n: Node, type: string) => (n.status?.conditions ?? []).find((c) => c.type === type);

describe('scheduling on hollow nodes', () => {
  it('keeps a pod that fits nowhere Pending with per-node reasons, serves everyone else, and binds it when a node with room joins', async () => {
    const ns = await createNamespace(cluster.client, 'cl-unfit');
    // Hollow nodes report 4 CPUs; this pod wants 8.
    await pods().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'huge', namespace: ns },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'flotilla/echo:1', resources: { requests: { cpu: '8', memory: '64Mi' } } }] },
    } as Pod);

    const pending = await waitFor(
      async () => {
        const p = await pods().get(ns, 'huge');
        const c = (p.status?.conditions ?? []).find((x) => x.type === 'PodScheduled');
        return c?.status === 'False' ? p : undefined;
      },
      { timeout: 15_000, message: 'PodScheduled=False on the huge pod' },
    );
    expect(pending.spec?.nodeName).toBeUndefined();
    expect(pending.status?.phase).toBe('Pending');
    expect((pending.status?.conditions ?? []).find((x) => x.type === 'PodScheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable' });

    const event = await waitFor(
      async () => (await cluster.client.resource<Event>('events').list(ns)).items.find((e) => e.reason === 'FailedScheduling' && e.involvedObject?.name === 'huge'),
      { timeout: 10_000, message: 'a FailedScheduling event for the huge pod' },
    );
    console.info(`FailedScheduling: ${event.message}`);
    expect(event.type).toBe('Warning');
    expect(event.message).toMatch(/^0\/3 nodes are available/);
    for (const node of ['node-1', 'node-2', 'node-3']) expect(event.message).toMatch(new RegExp(`${node}: [^;]*cpu`));

    // Everyone else keeps being scheduled.
    await cluster.client.resource<Deployment>('deployments').create(deployment(ns, 'small', { replicas: 3 }));
    await waitForRollout(cluster.client, ns, 'small', 20_000);
    expect((await pods().get(ns, 'huge')).spec?.nodeName).toBeUndefined();

    // A node with room joins: the pod is scheduled on it without a timer.
    const joined = Date.now();
    await cluster.addNode({ name: 'node-4', cpus: 16 });
    const nodeReady = Date.now();
    const bound = await waitFor(
      async () => {
        const p = await pods().get(ns, 'huge');
        return p.spec?.nodeName ? p : undefined;
      },
      { timeout: 15_000, message: 'the huge pod to be bound' },
    );
    timings.boundAfterNodeReady = Date.now() - nodeReady;
    timings.nodeJoinToBound = Date.now() - joined;
    expect(bound.spec?.nodeName).toBe('node-4');
    await waitFor(async () => isReady(await pods().get(ns, 'huge')), { timeout: 10_000, message: 'the huge pod to be Running and Ready on node-4' });
  });

  it('marks a node that stops heartbeating NotReady (Unknown, unreachable taint) and recreates its pods on the other nodes', async () => {
    const ns = await createNamespace(cluster.client, 'cl-node-loss');
    const replicas = 6;
    await cluster.client.resource<Deployment>('deployments').create(deployment(ns, 'web', { replicas }));
    await waitForRollout(cluster.client, ns, 'web', 20_000);
    const before = await activePods(cluster.client, ns, 'app=web');
    const victim = 'node-1';
    const lost = before.filter((p) => p.spec?.nodeName === victim).map((p) => p.metadata.name);
    expect(lost.length).toBeGreaterThan(0);

    // The host dies: no goodbye, no more heartbeats.
    await cluster.kill(victim, 'SIGKILL');
    const killedAt = Date.now();
    const lease = await cluster.client.resource<Lease>('leases').get('kube-node-lease', victim);
    const lastHeartbeat = Date.parse(lease.spec!.renewTime!);

    const notReady = await waitFor(
      async () => {
        const n = await cluster.client.resource<Node>('nodes').get(undefined, victim);
        const tainted = (n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute');
        return nodeCondition(n, 'Ready')?.status === 'Unknown' && tainted ? n : undefined;
      },
      { timeout: 30_000, interval: 100, message: `${victim} to become Ready=Unknown with the unreachable NoExecute taint` },
    );
    timings.lastHeartbeatToNotReady = Date.now() - lastHeartbeat;
    expect(nodeCondition(notReady, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(notReady.spec?.taints).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' })]));

    // Every replica available again, none on the dead node.
    await waitFor(
      async () => {
        const now = await activePods(cluster.client, ns, 'app=web');
        const d = await cluster.client.resource<Deployment>('deployments').get(ns, 'web');
        return now.length === replicas && now.every((p) => isReady(p) && p.spec?.nodeName !== victim) && d.status?.availableReplicas === replicas;
      },
      { timeout: 40_000, interval: 100, message: `${replicas} ready replicas off ${victim}` },
    );
    timings.lastHeartbeatToRecovered = Date.now() - lastHeartbeat;
    timings.killToRecovered = Date.now() - killedAt;
    const after = await activePods(cluster.client, ns, 'app=web');
    expect(after.map((p) => p.metadata.name)).not.toEqual(expect.arrayContaining(lost));

    // The pods the dead node can never finalize are removed from the API.
    await waitFor(async () => (await pods().list(ns)).items.every((p) => p.spec?.nodeName !== victim), {
      timeout: 30_000,
      message: `the pods of ${victim} to leave the API`,
    });

    // The host comes back: the node is Ready again and untainted.
    await cluster.restart(victim);
    await waitFor(
      async () => {
        const n = await cluster.client.resource<Node>('nodes').get(undefined, victim);
        return nodeCondition(n, 'Ready')?.status === 'True' && !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable');
      },
      { timeout: 20_000, message: `${victim} Ready and untainted after it came back` },
    );
  });
});
