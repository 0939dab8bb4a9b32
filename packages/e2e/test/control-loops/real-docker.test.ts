/**
 * The Deployment scenario once end to end with real agents and real Docker
 * containers: two worker hosts made by scripts/hosts.sh (a network
 * namespace and a dockerd each, one flat pod network routed from the root
 * namespace), a `flotilla agent` process per host, and the control plane
 * processes. Each host has its own engine, so an agent's orphan sweep never
 * touches containers of other tests on the machine's Docker engine.
 */
import type { Deployment, Node, Pod } from '@flotilla/api';
import { cidrContains, mustParseCidr } from '@flotilla/network';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { createHosts, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, createNamespace, deployment, isReady, waitForRollout } from './helpers.js';

interface WorkerHost {
  name: string;
  ip: string;
  dockerHost: string;
}

let hostCluster: HostCluster | undefined;
let cluster: TestCluster | undefined;
let hosts: WorkerHost[] = [];
let ns = '';
const timings: Record<string, number> = {};

const docker = async (host: WorkerHost, args: string[]) => hostCluster!.hosts.find((h) => h.dockerHost === host.dockerHost)!.docker(args, { timeout: 30_000 });
/** Every container (sandboxes too) of the test namespace on a host. */
const containersOf = async (host: WorkerHost, extra: string[] = []) =>
  (await docker(host, ['ps', '-aq', '--filter', `label=io.flotilla.pod.namespace=${ns}`, ...extra.flatMap((f) => ['--filter', f])])).split('\n').filter(Boolean);

beforeAll(async () => {
  hostCluster = await createHosts(2, { prefix: 'cl' });
  hosts = hostCluster.hosts;
  expect(hosts).toHaveLength(2);
  cluster = await startCluster({
    apiserver: { bindAddress: hostCluster.gateway },
    clusterCIDR: hostCluster.podCIDR,
    nodes: hostCluster.hosts.map((h, i) => ({ name: `node-${i + 1}`, docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } })),
    agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
  });
  ns = await createNamespace(cluster.client, 'cl-docker');
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (Object.keys(timings).length) console.info(`control-loops/real-docker timings (ms): ${JSON.stringify(timings)}`);
  await cluster?.stop();
  // Containers by label first (the agents are gone), then the hosts themselves.
  for (const host of hosts) {
    const ids = ns ? await containersOf(host).catch(() => []) : [];
    if (ids.length) await docker(host, ['rm', '-f', ...ids]).catch(() => undefined);
  }
  await hostCluster?.delete().catch((err) => console.error(`hosts.sh delete: ${(err as Error).message}`));
}, 120_000);

/** GET http://<pod IP>:8080/ from the root namespace, through the host-gw routes. */
async function answers(ip: string): Promise<boolean> {
  const res = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.ok;
}

const pods = () => cluster!.client.resource<Pod>('pods');

describe('a Deployment on real agents and Docker engines', () => {
  it('runs 3 replicas of flotilla/echo:1 across 2 hosts, heals a killed container and a deleted pod, and removes every container with the Deployment', async () => {
    const c = cluster!;
    let started = Date.now();
    await c.client.resource<Deployment>('deployments').create(deployment(ns, 'echo', { replicas: 3 }));
    await waitForRollout(c.client, ns, 'echo', 60_000);
    timings.rollout3 = Date.now() - started;

    const running = await activePods(c.client, ns, 'app=echo');
    expect(running).toHaveLength(3);
    expect(new Set(running.map((p) => p.spec!.nodeName))).toEqual(new Set(['node-1', 'node-2']));
    for (const p of running) {
      expect(p.status?.phase).toBe('Running');
      const host = hosts[Number(p.spec!.nodeName!.slice('node-'.length)) - 1]!;
      // The pod's IP comes from its node's pod range (given by node IPAM), and the pod answers HTTP there.
      const podCIDR = (await c.client.resource<Node>('nodes').get(undefined, p.spec!.nodeName!)).spec?.podCIDR;
      expect(podCIDR && cidrContains(mustParseCidr(podCIDR), p.status!.podIP!)).toBe(true);
      expect(p.status?.hostIP).toBe(host.ip);
      await waitFor(() => answers(p.status!.podIP!), { timeout: 10_000, message: `${p.metadata.name} answering on ${p.status!.podIP}:8080` });
    }

    // docker kill the app container of one pod: the agent restarts it.
    const victim = running[0]!;
    const host = hosts[Number(victim.spec!.nodeName!.slice('node-'.length)) - 1]!;
    const [app] = await containersOf(host, [`label=io.flotilla.pod.name=${victim.metadata.name}`, 'label=io.flotilla.type=container', 'status=running']);
    expect(app).toBeTruthy();
    started = Date.now();
    await docker(host, ['kill', app!]);
    const restarted = await waitFor(
      async () => {
        const p = await pods().get(ns, victim.metadata.name!);
        return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && isReady(p) ? p : undefined;
      },
      { timeout: 30_000, message: `${victim.metadata.name} restarted after docker kill` },
    );
    timings.dockerKillToReady = Date.now() - started;
    expect(restarted.metadata.uid).toBe(victim.metadata.uid);
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    await waitFor(() => answers(restarted.status!.podIP!), { timeout: 10_000, message: 'the restarted pod answering' });

    // Delete a pod: the ReplicaSet replaces it.
    const doomed = running[1]!;
    started = Date.now();
    await pods().delete(ns, doomed.metadata.name!);
    const replaced = await waitFor(
      async () => {
        const now = await activePods(c.client, ns, 'app=echo');
        return now.length === 3 && now.every(isReady) && !now.some((p) => p.metadata.uid === doomed.metadata.uid) ? now : undefined;
      },
      { timeout: 30_000, message: 'a replacement of the deleted pod, Ready' },
    );
    timings.podDeleteToReplaced = Date.now() - started;
    const fresh = replaced.find((p) => !running.some((r) => r.metadata.uid === p.metadata.uid))!;
    await waitFor(() => answers(fresh.status!.podIP!), { timeout: 10_000, message: 'the replacement answering' });

    // Delete the Deployment: the garbage collector removes the ReplicaSet and pods, the agents their containers.
    started = Date.now();
    await c.client.resource<Deployment>('deployments').delete(ns, 'echo', { propagationPolicy: 'Background' });
    await waitFor(async () => (await pods().list(ns)).items.length === 0, { timeout: 60_000, message: 'every pod gone' });
    await waitFor(async () => (await Promise.all(hosts.map((h) => containersOf(h)))).every((ids) => ids.length === 0), {
      timeout: 30_000,
      message: 'every container of the namespace gone from both engines',
    });
    timings.deploymentDeleteToContainersGone = Date.now() - started;
  });
});
