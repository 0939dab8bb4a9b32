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
import { apiRequest } from '../../src/https.js';
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

  it('scales up to 10 and down to 2, converging to the exact count without ever overshooting', async () => {
    const ns = await createNamespace(cluster.client, 'cl-scale');
    await deployments().create(deployment(ns, 'web', { replicas: 3 }));
    await waitForRollout(cluster.client, ns, 'web');
    const rec = await new PodRecorder(cluster.client, ns, 'app=web').start();
    try {
      let from = rec.moments.length;
      let started = Date.now();
      await deployments().patch(ns, 'web', { spec: { replicas: 10 } });
      await waitForRollout(cluster.client, ns, 'web');
      await waitFor(() => rec.active().length === 10 && rec.active().every(isReady), { timeout: 10_000, message: '10 ready pods in the watch' });
      timings.scaleUp3to10 = Date.now() - started;
      expect(rec.extremes(from).maxActive).toBe(10);

      // Down through the scale subresource, as `kubectl scale` does.
      from = rec.moments.length;
      started = Date.now();
      const scale = await deployments().getScale(ns, 'web');
      await deployments().updateScale(ns, 'web', { ...scale, spec: { replicas: 2 } });
      const d = await waitForRollout(cluster.client, ns, 'web');
      expect(d.status).toMatchObject({ replicas: 2, availableReplicas: 2, updatedReplicas: 2 });
      // The deleted pods finish terminating and leave the API.
      await waitFor(async () => (await pods().list(ns)).items.length === 2, { timeout: 20_000, message: 'only 2 pods left in the namespace' });
      timings.scaleDown10to2 = Date.now() - started;
      expect(rec.extremes(from).maxActive).toBeLessThanOrEqual(10);

      // It stays there: over a 3 s observation window no pod is added or removed.
      const settled = rec.moments.length;
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        expect(rec.active()).toHaveLength(2);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(rec.moments.slice(settled).filter((m) => m.active !== 2)).toEqual([]);
      const sets = await replicaSetsOf(cluster.client, ns, d);
      expect(sets).toHaveLength(1);
      expect(sets[0]!.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2 });
    } finally {
      await rec.stop();
    }
  });

  it('rolls out a new image never exceeding replicas + maxSurge pods nor dropping below replicas - maxUnavailable ready', async () => {
    const ns = await createNamespace(cluster.client, 'cl-rolling');
    const replicas = 5;
    const maxSurge = 2;
    const maxUnavailable = 1;
    await deployments().create(deployment(ns, 'web', { replicas, maxSurge, maxUnavailable }));
    const before = await waitForRollout(cluster.client, ns, 'web');
    const rec = await new PodRecorder(cluster.client, ns, 'app=web').start();
    try {
      const from = rec.moments.length;
      const started = Date.now();
      const d = await deployments().get(ns, 'web');
      d.spec!.template.spec!.containers[0]!.image = 'flotilla/busybox:1';
      await deployments().update(d);
      const after = await waitForRollout(cluster.client, ns, 'web');
      timings.rollingUpdate5 = Date.now() - started;
      expect(after.metadata.generation).toBeGreaterThan(before.metadata.generation!);

      const sets = await replicaSetsOf(cluster.client, ns, after);
      const newRs = sets.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2');
      const oldRs = sets.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '1');
      expect(newRs?.spec?.template?.spec?.containers[0]?.image).toBe('flotilla/busybox:1');
      expect(newRs?.status?.availableReplicas).toBe(replicas);
      expect(oldRs?.spec?.replicas).toBe(0);
      const hash = newRs!.metadata.labels!['pod-template-hash'];
      await waitFor(() => rec.active().length === replicas && rec.active().every((p) => p.metadata.labels?.['pod-template-hash'] === hash && isReady(p)), {
        timeout: 10_000,
        message: `every active pod on the new template ${hash}`,
      });
      expect(rec.active().every((p) => p.spec?.containers[0]?.image === 'flotilla/busybox:1')).toBe(true);

      const { maxActive, minReady } = rec.extremes(from);
      console.info(`rolling update ${replicas} replicas (maxSurge ${maxSurge}, maxUnavailable ${maxUnavailable}): ${rec.moments.length - from} pod events, max ${maxActive} pods, min ${minReady} ready`);
      expect(maxActive).toBeLessThanOrEqual(replicas + maxSurge);
      expect(minReady).toBeGreaterThanOrEqual(replicas - maxUnavailable);
      // The rollout did surge: at some moment there were more pods than replicas.
      expect(maxActive).toBeGreaterThan(replicas);
    } finally {
      await rec.stop();
    }
  });

  it('stalls a rollout to an image that cannot be pulled (ProgressDeadlineExceeded) and a rollback restores the old pods', async () => {
    const ns = await createNamespace(cluster.client, 'cl-bad-image');
    await deployments().create(deployment(ns, 'web', { replicas: 3, maxSurge: 1, maxUnavailable: 0, progressDeadlineSeconds: 5 }));
    const good = await waitForRollout(cluster.client, ns, 'web');
    const goodPods = (await activePods(cluster.client, ns, 'app=web')).map((p) => p.metadata.uid).sort();
    const [goodRs] = await replicaSetsOf(cluster.client, ns, good);
    expect(goodPods).toHaveLength(3);

    const started = Date.now();
    const d = await deployments().get(ns, 'web');
    d.spec!.template.spec!.containers[0]!.image = 'flotilla/does-not-exist:1';
    await deployments().update(d);

    const stalled = await waitFor(
      async () => {
        const cur = await deployments().get(ns, 'web');
        const c = condition(cur, 'Progressing');
        if (c?.status !== 'False') throw new Error(`Progressing ${JSON.stringify(c)}`);
        return cur;
      },
      { timeout: 40_000, interval: 200, message: 'Progressing=False' },
    );
    timings.progressDeadlineExceeded = Date.now() - started;
    expect(condition(stalled, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(condition(stalled, 'Progressing')?.message).toContain('has timed out progressing');
    // maxUnavailable 0: the old pods kept serving; the new pod waits on its image.
    expect(condition(stalled, 'Available')).toMatchObject({ status: 'True' });
    expect(stalled.status?.availableReplicas).toBe(3);
    const newPod = (await activePods(cluster.client, ns, 'app=web')).find((p) => !goodPods.includes(p.metadata.uid));
    expect(newPod?.spec?.containers[0]?.image).toBe('flotilla/does-not-exist:1');
    await waitFor(
      async () => {
        const p = await pods().get(ns, newPod!.metadata.name!);
        const reason = p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
        return reason === 'ErrImagePull' || reason === 'ImagePullBackOff' ? reason : undefined;
      },
      { timeout: 10_000, message: 'the new pod waiting with ErrImagePull or ImagePullBackOff' },
    );

    // Rollback as `kubectl rollout undo` does: the template of the previous
    // revision's ReplicaSet, without its pod-template-hash label.
    const rollbackStarted = Date.now();
    const cur = await deployments().get(ns, 'web');
    const template = structuredClone(goodRs!.spec!.template!);
    delete template.metadata!.labels!['pod-template-hash'];
    cur.spec!.template = template;
    await deployments().update(cur);
    const restored = await waitForRollout(cluster.client, ns, 'web');
    timings.rollback = Date.now() - rollbackStarted;
    expect(condition(restored, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });

    const sets = await replicaSetsOf(cluster.client, ns, restored);
    const active = sets.filter((rs) => (rs.spec?.replicas ?? 0) > 0);
    expect(active.map((rs) => rs.metadata.uid)).toEqual([goodRs!.metadata.uid]);
    // The old ReplicaSet becomes the newest revision again (1 → 3).
    expect(active[0]!.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
    await waitFor(async () => (await pods().list(ns)).items.length === 3, { timeout: 15_000, message: 'the bad pod to be gone' });
    const now = await activePods(cluster.client, ns, 'app=web');
    expect(now.map((p) => p.metadata.uid).sort()).toEqual(goodPods);
    expect(now.every((p) => isReady(p) && p.spec?.containers[0]?.image === 'flotilla/echo:1')).toBe(true);
  });

  it.each(['Background', 'Foreground'] as const)('deleting a Deployment (%s) removes its ReplicaSets and pods', async (policy) => {
    const ns = await createNamespace(cluster.client, `cl-gc-${policy.toLowerCase()}`);
    await deployments().create(deployment(ns, 'web', { replicas: 3 }));
    const d = await waitForRollout(cluster.client, ns, 'web');
    expect(await replicaSetsOf(cluster.client, ns, d)).toHaveLength(1);

    const started = Date.now();
    const res = await deployments().delete(ns, 'web', { propagationPolicy: policy });
    if (policy === 'Foreground') {
      // The owner stays, marked, until its dependents are gone.
      expect(res?.metadata.deletionTimestamp).toBeTruthy();
      expect(res?.metadata.finalizers).toContain('foregroundDeletion');
      await waitFor(async () => {
        try {
          await deployments().get(ns, 'web');
          return false;
        } catch (err) {
          return err instanceof ApiError && err.code === 404;
        }
      }, { timeout: 30_000, message: 'the Deployment to be removed after its dependents' });
      // Once the owner is gone, so is everything it owned.
      expect(await replicaSetsOf(cluster.client, ns, d)).toEqual([]);
      expect((await pods().list(ns)).items).toEqual([]);
    } else {
      await expect(deployments().get(ns, 'web')).rejects.toMatchObject({ code: 404 });
      await waitFor(async () => (await replicaSetsOf(cluster.client, ns, d)).length === 0, { timeout: 20_000, message: 'the ReplicaSet to be collected' });
      await waitFor(async () => (await pods().list(ns)).items.length === 0, { timeout: 20_000, message: 'the pods to be collected' });
    }
    timings[`gc${policy}`] = Date.now() - started;
  });

  it('rejects bad Deployments with 422 and the field paths, storing nothing', async () => {
    const ns = await createNamespace(cluster.client, 'cl-invalid');
    const path = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const cases: Array<{ name: string; mutate: (d: any) => void; field: string; reason: string }> = [
      { name: 'mismatch', mutate: (d) => (d.spec.selector = { matchLabels: { app: 'other' } }), field: 'spec.template.metadata.labels', reason: 'FieldValueInvalid' },
      { name: 'negative', mutate: (d) => (d.spec.replicas = -1), field: 'spec.replicas', reason: 'FieldValueInvalid' },
      { name: 'strategy', mutate: (d) => (d.spec.strategy = { type: 'BlueGreen' }), field: 'spec.strategy.type', reason: 'FieldValueNotSupported' },
    ];
    for (const c of cases) {
      const body = deployment(ns, c.name, { replicas: 2 }) as any;
      c.mutate(body);
      const res = await apiRequest(cluster.api.endpoint(), 'POST', path, body);
      expect(res.status, `${c.name}: ${res.text}`).toBe(422);
      const status = res.json();
      expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422, details: { name: c.name, group: 'apps', kind: 'Deployment' } });
      expect(status.details.causes, c.name).toEqual(expect.arrayContaining([expect.objectContaining({ field: c.field, reason: c.reason })]));
      expect((await apiRequest(cluster.api.endpoint(), 'GET', `${path}/${c.name}`)).status).toBe(404);
    }
    expect((await deployments().list(ns)).items).toEqual([]);
    expect((await cluster.client.resource<ReplicaSet>('replicasets').list(ns)).items).toEqual([]);
    expect((await pods().list(ns)).items).toEqual([]);
  });
});
