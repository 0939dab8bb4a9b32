/**
 * Leader election on a real control plane: two schedulers and two
 * controller-managers with --leader-elect, three hollow nodes. SIGKILL the
 * leader (it cannot hand the Lease back) and the standby takes over:
 * nothing the user asked for afterwards is lost or done twice.
 */
import type { Deployment, Event, Pod, ReplicaSet } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, createNamespace, deployment, PodRecorder, replicaSetsOf, waitForRollout } from './helpers.js';

let cluster: TestCluster;
const timings: Record<string, number> = {};

beforeAll(async () => {
  cluster = await startCluster({
    nodes: ['node-1', 'node-2', 'node-3'],
    schedulers: 2,
    controllerManagers: 2,
    leaderElect: true,
    schedulerArgs: ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '1s'],
    controllerManagerArgs: ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '1s'],
  });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (Object.keys(timings).length) console.info(`control-loops/failover timings (ms): ${JSON.stringify(timings)}`);
  await cluster?.stop();
});

const pods = () => cluster.client.resource<Pod>('pods');
const pod = (namespace: string, name: string): Pod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'bare' } },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'flotilla/echo:1', resources: { requests: { cpu: '50m' } } }] },
  }) as Pod;

/** The leader's process name once a component has one, and the other one. */
async function leaderAndStandby(component: 'scheduler' | 'controller-manager'): Promise<[string, string]> {
  const leader = await waitFor(() => cluster.leader(component), { timeout: 30_000, message: `a ${component} leader` });
  const standby = cluster.names(component).find((n) => n !== leader);
  expect(cluster.names(component)).toContain(leader);
  return [leader, standby!];
}

describe('leader failover', () => {
  it('hands scheduling to the standby when the scheduler leader is SIGKILLed: every later pod bound, none twice', async () => {
    const ns = await createNamespace(cluster.client, 'cl-sched-failover');
    const [leader, standby] = await leaderAndStandby('scheduler');
    const rec = await new PodRecorder(cluster.client, ns).start();
    try {
      await pods().create(pod(ns, 'before'));
      await waitFor(async () => (await pods().get(ns, 'before')).spec?.nodeName, { timeout: 10_000, message: 'the leader to bind a pod' });
      // The Scheduled event is written just after the binding: a SIGKILL in between would lose it, not duplicate it.
      await waitFor(async () => (await cluster.client.resource<Event>('events').list(ns)).items.some((e) => e.reason === 'Scheduled' && e.involvedObject?.name === 'before'), {
        timeout: 10_000,
        message: "the leader's Scheduled event",
      });

      await cluster.kill(leader, 'SIGKILL');
      const killedAt = Date.now();
      const names = Array.from({ length: 6 }, (_, i) => `after-${i}`);
      for (const name of names) await pods().create(pod(ns, name));

      await waitFor(async () => (await pods().list(ns)).items.every((p) => p.spec?.nodeName), { timeout: 45_000, interval: 100, message: 'every pod bound after the failover' });
      timings.schedulerKillToAllBound = Date.now() - killedAt;
      expect(await cluster.leader('scheduler')).toBe(standby);

      // None bound twice: no pod ever moved node, and one Scheduled event each.
      await waitFor(() => names.every((n) => [...rec.pods.values()].some((p) => p.metadata.name === n && p.spec?.nodeName)), { timeout: 10_000, message: 'the watch to see every binding' });
      expect(rec.rebound()).toEqual([]);
      const scheduled = await waitFor(
        async () => {
          const events = (await cluster.client.resource<Event>('events').list(ns)).items.filter((e) => e.reason === 'Scheduled');
          const missing = names.filter((n) => !events.some((e) => e.involvedObject?.name === n));
          // Thrown, so the timeout names the pods without one and the events there are.
          if (missing.length) throw new Error(`no Scheduled event for ${missing.join(', ')}; there are: ${events.map((e) => `${e.involvedObject?.name} by ${e.reportingInstance}`).join(', ')}`);
          return events;
        },
        { timeout: 10_000, message: 'a Scheduled event for every pod' },
      );
      for (const n of [...names, 'before']) expect(scheduled.filter((e) => e.involvedObject?.name === n).map((e) => e.reportingInstance), n).toHaveLength(1);
      expect(new Set(names.map((n) => scheduled.find((e) => e.involvedObject?.name === n)!.reportingInstance))).toEqual(new Set([standby]));

      // The old leader comes back as a standby.
      await cluster.restart(leader);
      expect(await cluster.leader('scheduler')).toBe(standby);
    } finally {
      await rec.stop();
    }
  });

  it('hands the controllers to the standby when the controller-manager leader is SIGKILLed: scaled and new Deployments converge to the exact count', async () => {
    const ns = await createNamespace(cluster.client, 'cl-cm-failover');
    const [leader, standby] = await leaderAndStandby('controller-manager');
    const deployments = cluster.client.resource<Deployment>('deployments');
    await deployments.create(deployment(ns, 'scaled', { replicas: 3 }));
    await waitForRollout(cluster.client, ns, 'scaled', 20_000);
    const scaledRec = await new PodRecorder(cluster.client, ns, 'app=scaled').start();
    const createdRec = await new PodRecorder(cluster.client, ns, 'app=created').start();
    try {
      await cluster.kill(leader, 'SIGKILL');
      const killedAt = Date.now();
      await deployments.patch(ns, 'scaled', { spec: { replicas: 6 } });
      await deployments.create(deployment(ns, 'created', { replicas: 4 }));

      await waitForRollout(cluster.client, ns, 'scaled', 45_000);
      await waitForRollout(cluster.client, ns, 'created', 20_000);
      timings.controllerManagerKillToConverged = Date.now() - killedAt;
      expect(await cluster.leader('controller-manager')).toBe(standby);

      await waitFor(() => scaledRec.active().length === 6 && createdRec.active().length === 4, { timeout: 10_000, message: 'the watch to see 6 + 4 pods' });
      expect(scaledRec.extremes().maxActive).toBe(6);
      expect(createdRec.extremes().maxActive).toBe(4);
      expect(await activePods(cluster.client, ns, 'app=scaled')).toHaveLength(6);
      expect(await activePods(cluster.client, ns, 'app=created')).toHaveLength(4);
      // One ReplicaSet each: the new leader adopted, it did not duplicate.
      for (const name of ['scaled', 'created']) {
        const d = await deployments.get(ns, name);
        const sets = await replicaSetsOf(cluster.client, ns, d);
        expect(sets, name).toHaveLength(1);
      }
      expect((await cluster.client.resource<ReplicaSet>('replicasets').list(ns)).items).toHaveLength(2);

      await cluster.restart(leader);
      expect(await cluster.leader('controller-manager')).toBe(standby);
    } finally {
      await scaledRec.stop();
      await createdRec.stop();
    }
  });
});
