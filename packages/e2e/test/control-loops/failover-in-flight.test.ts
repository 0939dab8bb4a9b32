/**
 * Leader failover while work is in flight, on a real control plane: two
 * schedulers and two controller-managers with --leader-elect, three hollow
 * nodes. failover.test.ts kills a leader while idle; here the leader is
 * SIGKILLed in the middle of binding a burst of pods, of a scale-up, and
 * of a rolling update. The standby starts with no memory of what the dead
 * leader had in flight (no expectations, no assumed pods): nothing may be
 * lost, bound twice, over-created, or break the rollout's bounds.
 */
import type { Deployment, Pod, ReplicaSet } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, createNamespace, deployment, isReady, PodRecorder, replicaSetsOf, waitForRollout } from './helpers.js';

let cluster: TestCluster;
const timings: Record<string, number> = {};
const electionArgs = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '1s'];

beforeAll(async () => {
  cluster = await startCluster({
    nodes: ['node-1', 'node-2', 'node-3'],
    schedulers: 2,
    controllerManagers: 2,
    leaderElect: true,
    schedulerArgs: electionArgs,
    controllerManagerArgs: electionArgs,
  });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (Object.keys(timings).length) console.info(`control-loops/failover-in-flight timings (ms): ${JSON.stringify(timings)}`);
  await cluster?.stop();
});

const deployments = () => cluster.client.resource<Deployment>('deployments');
const pods = () => cluster.client.resource<Pod>('pods');

/** The current leader of a component and the other process of it. */
async function leaderAndStandby(component: 'scheduler' | 'controller-manager'): Promise<[string, string]> {
  const leader = await waitFor(() => cluster.leader(component), { timeout: 30_000, message: `a ${component} leader` });
  const standby = cluster.names(component).find((n) => n !== leader)!;
  return [leader, standby];
}

/** SIGKILLs the leader, waits for the standby to hold the Lease, and brings the dead one back as the next standby. */
async function killLeader(component: 'scheduler' | 'controller-manager', leader: string, standby: string): Promise<number> {
  await cluster.kill(leader, 'SIGKILL');
  const killedAt = Date.now();
  await waitFor(async () => (await cluster.leader(component)) === standby, { timeout: 20_000, message: `${standby} to take the ${component} Lease` });
  timings[`${component}Takeover`] = Date.now() - killedAt;
  await cluster.restart(leader);
  return killedAt;
}

describe('leader failover with work in flight', () => {
  it('scheduler leader SIGKILLed while binding a burst of 30 pods: every pod bound exactly once', async () => {
    const ns = await createNamespace(cluster.client, 'cl-sched-inflight');
    const [leader, standby] = await leaderAndStandby('scheduler');
    const rec = await new PodRecorder(cluster.client, ns).start();
    try {
      const names = Array.from({ length: 30 }, (_, i) => `p-${i}`);
      const created = Promise.all(
        names.map((name) =>
          pods().create({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name, namespace: ns },
            spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'flotilla/echo:1', resources: { requests: { cpu: '10m' } } }] },
          } as Pod),
        ),
      );
      // Kill as soon as the leader has bound some but (very likely) not all.
      await waitFor(() => [...rec.pods.values()].some((p) => p.spec?.nodeName), { timeout: 10_000, interval: 5, message: 'the first binding' });
      const boundAtKill = [...rec.pods.values()].filter((p) => p.spec?.nodeName).length;
      const killedAt = await killLeader('scheduler', leader, standby);
      await created;
      console.info(`scheduler leader killed with ${boundAtKill}/30 pods bound`);

      await waitFor(async () => (await pods().list(ns)).items.filter((p) => p.spec?.nodeName).length === 30, { timeout: 30_000, message: 'all 30 pods bound' });
      timings.schedulerKillToAllBound = Date.now() - killedAt;
      await waitFor(() => names.every((n) => [...rec.pods.values()].some((p) => p.metadata.name === n && p.spec?.nodeName)), { timeout: 10_000, message: 'the watch to see every binding' });
      expect(rec.rebound()).toEqual([]);
      await waitFor(async () => (await activePods(cluster.client, ns)).filter(isReady).length === 30, { timeout: 20_000, message: '30 pods running on the hollow nodes' });
    } finally {
      await rec.stop();
    }
  });

  it('controller-manager leader SIGKILLed mid scale-up (6 → 16): exactly 16 pods, never more, one ReplicaSet', async () => {
    const ns = await createNamespace(cluster.client, 'cl-cm-scale-inflight');
    await deployments().create(deployment(ns, 'web', { replicas: 6 }));
    await waitForRollout(cluster.client, ns, 'web', 30_000);
    const [leader, standby] = await leaderAndStandby('controller-manager');
    const rec = await new PodRecorder(cluster.client, ns, 'app=web').start();
    try {
      await deployments().patch(ns, 'web', { spec: { replicas: 16 } });
      await waitFor(() => rec.active().length > 6, { timeout: 10_000, interval: 5, message: 'the scale-up to begin' });
      const atKill = rec.active().length;
      await killLeader('controller-manager', leader, standby);
      console.info(`controller-manager leader killed with ${atKill}/16 pods created`);

      await waitForRollout(cluster.client, ns, 'web', 45_000);
      await waitFor(() => rec.active().length === 16 && rec.active().every(isReady), { timeout: 10_000, message: '16 ready pods in the watch' });
      expect(rec.extremes().maxActive).toBe(16);
      const d = await deployments().get(ns, 'web');
      const sets = await replicaSetsOf(cluster.client, ns, d);
      expect(sets).toHaveLength(1);
      expect(sets[0]!.status).toMatchObject({ replicas: 16, readyReplicas: 16 });
      // Every pod controlled by that ReplicaSet, none orphaned or doubly owned.
      for (const p of rec.active()) expect(p.metadata.ownerReferences?.filter((o) => o.controller).map((o) => o.uid)).toEqual([sets[0]!.metadata.uid]);
    } finally {
      await rec.stop();
    }
  });

  it('controller-manager leader SIGKILLed mid rolling update: bounds hold at every watched moment and the rollout completes', async () => {
    const ns = await createNamespace(cluster.client, 'cl-cm-roll-inflight');
    const replicas = 8;
    const maxSurge = 2;
    const maxUnavailable = 1;
    await deployments().create(deployment(ns, 'web', { replicas, maxSurge, maxUnavailable }));
    await waitForRollout(cluster.client, ns, 'web', 30_000);
    const [leader, standby] = await leaderAndStandby('controller-manager');
    const rec = await new PodRecorder(cluster.client, ns, 'app=web').start();
    try {
      const from = rec.moments.length;
      const d = await deployments().get(ns, 'web');
      d.spec!.template.spec!.containers[0]!.image = 'flotilla/busybox:1';
      await deployments().update(d);
      const isNew = (p: Pod) => p.spec?.containers[0]?.image === 'flotilla/busybox:1';
      await waitFor(() => rec.active().some(isNew), { timeout: 10_000, interval: 5, message: 'the first pod of the new template' });
      const newAtKill = rec.active().filter(isNew).length;
      const killedAt = await killLeader('controller-manager', leader, standby);
      console.info(`controller-manager leader killed with ${newAtKill}/${replicas} new pods`);

      const after = await waitForRollout(cluster.client, ns, 'web', 60_000);
      timings.cmKillToRolloutDone = Date.now() - killedAt;
      await waitFor(() => rec.active().length === replicas && rec.active().every((p) => isNew(p) && isReady(p)), { timeout: 15_000, message: `${replicas} ready pods of the new template` });
      const { maxActive, minReady } = rec.extremes(from);
      console.info(`rolling update across a failover: max ${maxActive} pods, min ${minReady} ready (bounds ${replicas + maxSurge} / ${replicas - maxUnavailable})`);
      expect(maxActive).toBeLessThanOrEqual(replicas + maxSurge);
      expect(minReady).toBeGreaterThanOrEqual(replicas - maxUnavailable);
      const sets = await replicaSetsOf(cluster.client, ns, after);
      expect(sets).toHaveLength(2);
      expect((await cluster.client.resource<ReplicaSet>('replicasets').list(ns)).items).toHaveLength(2);
      const byRevision = Object.fromEntries(sets.map((rs) => [rs.metadata.annotations?.['deployment.kubernetes.io/revision'], rs.spec?.replicas]));
      expect(byRevision).toEqual({ '1': 0, '2': replicas });
    } finally {
      await rec.stop();
    }
  });
});
