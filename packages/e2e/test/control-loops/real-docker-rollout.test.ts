/**
 * The Deployment scenario of deployments.test.ts (spread, scale up, rolling
 * update within maxSurge/maxUnavailable, scale down, delete) once more with
 * real agents and real Docker containers: two worker hosts of
 * scripts/hosts.sh (createHosts: a network namespace and a dockerd each, a
 * subnet slot of their own), a `flotilla agent` process per host and the
 * control-plane processes. Readiness is an httpGet probe, so "ready" means
 * the container answers; the rollout's bounds are checked on every version
 * a pods watch delivered, and what the engines run is checked with docker.
 */
import type { Deployment, Pod } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { createHosts, type Host, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, countBy, createNamespace, deployment, isReady, PodRecorder, replicaSetsOf, waitForRollout } from './helpers.js';

let hosts: HostCluster | undefined;
let cluster: TestCluster | undefined;
let ns = '';
const timings: Record<string, number> = {};

beforeAll(async () => {
  hosts = await createHosts(2, { prefix: 'ro' });
  // The agents run inside their hosts' namespaces and reach the apiserver on the hosts' bridge.
  cluster = await startCluster({
    apiserver: { bindAddress: hosts.gateway },
    clusterCIDR: hosts.podCIDR,
    nodes: hosts.hosts.map((h, i) => ({ name: `node-${i + 1}`, docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } })),
    agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
  });
  ns = await createNamespace(cluster.client, 'cl-docker-roll');
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (Object.keys(timings).length) console.info(`control-loops/real-docker-rollout timings (ms): ${JSON.stringify(timings)}`);
  await cluster?.stop();
  // Containers by label (the agents are gone), then the hosts and their engines.
  for (const h of hosts?.hosts ?? []) {
    const ids = ns ? await containerIds(h, false).catch(() => []) : [];
    if (ids.length) await h.docker(['rm', '-f', ...ids]).catch(() => undefined);
  }
  await hosts?.delete();
}, 120_000);

/** Container ids of the test namespace on a host: running app containers only, or every container (sandboxes, dead ones). */
async function containerIds(h: Host, runningApps: boolean): Promise<string[]> {
  const filters = [`label=io.flotilla.pod.namespace=${ns}`, ...(runningApps ? ['label=io.flotilla.type=container', 'status=running'] : [])];
  const out = await h.docker(['ps', '-aq', ...filters.flatMap((f) => ['--filter', f])]);
  return out.split('\n').filter(Boolean);
}

/** Running app containers of the namespace on both engines together. */
const runningApps = async () => (await Promise.all(hosts!.hosts.map((h) => containerIds(h, true)))).flat().length;

/** What the echo server of a pod answers on <podIP>:8080, from the root namespace over the host-gw routes. */
async function answer(ip: string): Promise<{ pod: string; message: string }> {
  const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2_000) });
  return (await res.json()) as { pod: string; message: string };
}

/** The echo Deployment with MESSAGE=<message> and an httpGet readiness probe. */
function echoDeployment(replicas: number, message: string): Deployment {
  const d = deployment(ns, 'echo', { replicas, maxSurge: 1, maxUnavailable: 1 });
  const c = d.spec!.template.spec!.containers[0]!;
  c.env = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'MESSAGE', value: message },
  ];
  // Kubernetes' default failureThreshold (3): with 1, a single probe that times out on a loaded machine
  // marks a healthy old pod unready, which the rollout invariant would then blame on the controller.
  c.readinessProbe = { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 3 };
  return d;
}

/** Every active pod answers with its own name and `message`. */
async function allAnswer(message: string, count: number): Promise<void> {
  const now = await activePods(cluster!.client, ns, 'app=echo');
  expect(now).toHaveLength(count);
  for (const p of now) {
    const got = await waitFor(async () => {
      const a = await answer(p.status!.podIP!);
      return a.message === message ? a : undefined;
    }, { timeout: 10_000, message: `${p.metadata.name} on ${p.status?.podIP} answering "${message}"` });
    expect(got.pod).toBe(p.metadata.name);
  }
}

const deployments = () => cluster!.client.resource<Deployment>('deployments');
const pods = () => cluster!.client.resource<Pod>('pods');

describe('the Deployment scenario on real agents and Docker engines', () => {
  it('spreads, scales up, rolls out within maxSurge/maxUnavailable, scales down and deletes — pods answering, engines running exactly the count', async () => {
    const c = cluster!;
    // Spread: 4 replicas, 2 per host, each answering.
    let started = Date.now();
    await deployments().create(echoDeployment(4, 'v1'));
    await waitForRollout(c.client, ns, 'echo', 60_000);
    timings.rollout4 = Date.now() - started;
    const first = await activePods(c.client, ns, 'app=echo');
    expect(countBy(first, (p) => p.spec!.nodeName!)).toEqual({ 'node-1': 2, 'node-2': 2 });
    await allAnswer('v1', 4);
    expect(await runningApps()).toBe(4);

    const rec = await new PodRecorder(c.client, ns, 'app=echo').start();
    try {
      // Scale up to 6: the exact count, never more at any watched moment.
      let from = rec.moments.length;
      started = Date.now();
      await deployments().patch(ns, 'echo', { spec: { replicas: 6 } });
      await waitForRollout(c.client, ns, 'echo', 60_000);
      timings.scaleUp4to6 = Date.now() - started;
      await waitFor(() => rec.active().length === 6 && rec.active().every(isReady), { timeout: 10_000, message: '6 ready pods in the watch' });
      expect(rec.extremes(from).maxActive).toBe(6);
      await waitFor(async () => (await runningApps()) === 6, { timeout: 10_000, message: '6 running app containers on the engines' });

      // Rolling update to MESSAGE=v2 with maxSurge 1, maxUnavailable 1.
      from = rec.moments.length;
      started = Date.now();
      await deployments().update({ ...echoDeployment(6, 'v2'), metadata: (await deployments().get(ns, 'echo')).metadata });
      const after = await waitForRollout(c.client, ns, 'echo', 90_000);
      timings.rollingUpdate6 = Date.now() - started;
      await waitFor(() => rec.active().length === 6 && rec.active().every((p) => isReady(p) && p.spec?.containers[0]?.env?.some((e) => e.name === 'MESSAGE' && e.value === 'v2')), {
        timeout: 15_000,
        message: 'every active pod on the v2 template and ready',
      });
      const { maxActive, minReady } = rec.extremes(from);
      console.info(`real-docker rolling update of 6 (maxSurge 1, maxUnavailable 1): ${rec.moments.length - from} pod events, max ${maxActive} pods, min ${minReady} ready`);
      expect(maxActive).toBeLessThanOrEqual(6 + 1);
      expect(minReady).toBeGreaterThanOrEqual(6 - 1);
      const sets = await replicaSetsOf(c.client, ns, after);
      expect(sets).toHaveLength(2);
      expect(sets.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '1')?.spec?.replicas).toBe(0);
      await allAnswer('v2', 6);
      // The old pods' containers are stopped: the engines run exactly the 6 new ones.
      await waitFor(async () => (await pods().list(ns)).items.length === 6, { timeout: 30_000, message: 'the old pods to leave the API' });
      await waitFor(async () => (await runningApps()) === 6, { timeout: 15_000, message: '6 running app containers after the rollout' });

      // Scale down to 2: exactly 2 pods and 2 running containers, and it stays so.
      from = rec.moments.length;
      started = Date.now();
      await deployments().patch(ns, 'echo', { spec: { replicas: 2 } });
      await waitForRollout(c.client, ns, 'echo', 60_000);
      await waitFor(async () => (await pods().list(ns)).items.length === 2, { timeout: 30_000, message: 'only 2 pods left' });
      await waitFor(async () => (await runningApps()) === 2, { timeout: 15_000, message: '2 running app containers on the engines' });
      timings.scaleDown6to2 = Date.now() - started;
      expect(rec.extremes(from).maxActive).toBeLessThanOrEqual(6);
      await allAnswer('v2', 2);
    } finally {
      await rec.stop();
    }

    // Delete: ReplicaSets and pods collected, every container (sandboxes too) gone from both engines.
    started = Date.now();
    await deployments().delete(ns, 'echo', { propagationPolicy: 'Background' });
    await waitFor(async () => (await pods().list(ns)).items.length === 0, { timeout: 60_000, message: 'every pod gone' });
    await waitFor(async () => (await Promise.all(hosts!.hosts.map((h) => containerIds(h, false)))).every((ids) => ids.length === 0), {
      timeout: 30_000,
      message: 'every container of the namespace gone from both engines',
    });
    timings.deleteToContainersGone = Date.now() - started;
  });
});
