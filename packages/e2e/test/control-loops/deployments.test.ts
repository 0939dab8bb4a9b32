/**
 * Deployments on a real control plane: apiserver, scheduler and
 * controller-manager processes over real etcd, three hollow nodes
 * (`flotilla agent --fake-runtime` processes). Each scenario in its own
 * namespace; conditions are polled with deadlines.
 */
import type { Deployment, Pod, ReplicaSet } from '@flotilla/api';
import { ApiError } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { waitFor } from '../../src/wait-for.js';
import {
  activePods,
  condition,
  countBy,
  createNamespace,
  deployment,
  isReady,
  PodRecorder,
  replicaSetsOf,
  waitForRollout,
} from './helpers.js';

let cluster: TestCluster;
const timings: Record<string, number> = {};

beforeAll(async () => {
  cluster = await startCluster({ nodes: ['node-1', 'node-2', 'node-3'] });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (Object.keys(timings).length) console.info(`control-loops/deployments timings (ms): ${JSON.stringify(timings)}`);
  await cluster?.stop();
});

const deployments = () => cluster.client.resource<Deployment>('deployments');
const pods = () => cluster.client.resource<Pod>('pods');

describe('Deployments on hollow nodes', () => {
  it('spreads a Deployment of 6 replicas over 3 nodes, 2 per node, and reports it Available', async () => {
    const ns = await createNamespace(cluster.client, 'cl-spread');
    const started = Date.now();
    await deployments().create(deployment(ns, 'web', { replicas: 6 }));
    const d = await waitForRollout(cluster.client, ns, 'web');
    timings.rollout6 = Date.now() - started;

    expect(d.status).toMatchObject({ replicas: 6, updatedReplicas: 6, readyReplicas: 6, availableReplicas: 6, observedGeneration: d.metadata.generation });
    expect(d.status?.unavailableReplicas ?? 0).toBe(0);
    expect(condition(d, 'Available')).toMatchObject({ status: 'True' });
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });

    const running = await activePods(cluster.client, ns, 'app=web');
    expect(running).toHaveLength(6);
    expect(running.every(isReady)).toBe(true);
    expect(running.every((p) => p.status?.phase === 'Running' && p.status.podIP)).toBe(true);
    expect(countBy(running, (p) => p.spec!.nodeName!)).toEqual({ 'node-1': 2, 'node-2': 2, 'node-3': 2 });

    const sets = await replicaSetsOf(cluster.client, ns, d);
    expect(sets).toHaveLength(1);
    expect(sets[0]!.status).toMatchObject({ replicas: 6, readyReplicas: 6, availableReplicas: 6 });
    expect(sets[0]!.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    // Every pod is controlled by that ReplicaSet and carries its template hash.
    const hash = sets[0]!.metadata.labels?.['pod-template-hash'];
    expect(hash).toBeTruthy();
    for (const p of running) {
      expect(p.metadata.ownerReferences?.find((o) => o.controller)?.uid).toBe(sets[0]!.metadata.uid);
      expect(p.metadata.labels?.['pod-template-hash']).toBe(hash);
    }
  });
});
