/**
 * A lost host, ten times, on real hosts (createHosts: a network namespace
 * and a dockerd each, real agents, real containers): its pods must run
 * elsewhere, and when the host comes back nothing may be left twice.
 *
 * Trials alternate the two ways a host is lost:
 * - power cut: every process of the host SIGKILLed (dockerd, containerd,
 *   containers, the agent); its liveness port then refuses (agent down);
 * - network cut: its veth goes down; everything keeps running, silence.
 *
 * Each trial prints when each step of the failover chain was first seen
 * (node Unknown, NoExecute taint, lost pods marked for deletion,
 * replacements created, bound, Running) and the file prints the p99 of the
 * total. The issue's target is ≤ 10 s; this test asserts only convergence
 * within a generous deadline, and that no pod is left twice.
 */
import { readFileSync } from 'node:fs';
import type { Deployment, Node, Pod } from '@flotilla/api';
import { FAILOVER_STEPS, FailoverTimeline } from '../../src/failover-timeline.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { repoRoot } from '../../src/env.js';
import { createHosts, run, type Host, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';
import { createNamespace, deployment, isActive, waitForRollout } from './helpers.js';

const TRIALS = Number(process.env.FLOTILLA_HOST_LOSS_TRIALS ?? 10);
const REPLICAS = 4;
const UNREACHABLE = 'node.kubernetes.io/unreachable';

let hostCluster: HostCluster | undefined;
let cluster: TestCluster | undefined;
let ns = '';
const results: Array<{ trial: number; mode: string; node: string; lost: number; steps: Partial<Record<string, number>> }> = [];

const nodeOf = (h: Host) => `node-${h.index}`;

beforeAll(async () => {
  hostCluster = await createHosts(3, { prefix: 'hl' });
  cluster = await startCluster({
    apiserver: { bindAddress: hostCluster.gateway },
    clusterCIDR: hostCluster.podCIDR,
    nodes: hostCluster.hosts.map((h) => ({ name: nodeOf(h), docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } })),
    agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
  });
  ns = await createNamespace(cluster.client, 'host-loss');
}, 240_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (results.length) {
    console.info('host-loss trials (ms after the host was lost; first time each step was seen):');
    for (const r of results) console.info(`  trial ${r.trial} ${r.mode.padEnd(9)} ${r.node} (${r.lost} pods) ${JSON.stringify(r.steps)}`);
    const totals = results.map((r) => r.steps.running!).sort((a, b) => a - b);
    const p = (q: number) => totals[Math.min(totals.length - 1, Math.ceil(q * totals.length) - 1)]!;
    const share = (k: string) => Math.round(results.reduce((s, r) => s + (r.steps[k] ?? 0), 0) / results.length);
    console.info(
      `host-loss: lost host → pods Running elsewhere over ${totals.length} trials: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${totals[totals.length - 1]} ms (target ≤ 10000); ` +
        `mean step times: ${FAILOVER_STEPS.map((k) => `${k} ${share(k)}`).join(', ')} (t0: just before hosts.sh was asked; lost: the agent gone or the link down)`,
    );
    console.info(`HOST_LOSS_JSON ${JSON.stringify({ p50: p(0.5), p99: p(0.99), max: totals[totals.length - 1], trials: results })}`);
  }
  await cluster?.stop();
  for (const h of hostCluster?.hosts ?? []) {
    const ids = (await h.docker(['ps', '-aq', '--filter', `label=io.flotilla.pod.namespace=${ns}`]).catch(() => '')).split('\n').filter(Boolean);
    if (ids.length) await h.docker(['rm', '-f', ...ids]).catch(() => undefined);
  }
  await hostCluster?.delete().catch((err) => console.error(`hosts.sh delete: ${(err as Error).message}`));
}, 180_000);

async function activePods(): Promise<Pod[]> {
  return (await cluster!.client.resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items.filter(isActive);
}

/** Every node Ready and untainted, the Deployment fully available, nothing terminating. */
async function steady(): Promise<void> {
  const c = cluster!;
  await waitFor(
    async () => {
      const nodes = (await c.client.resource<Node>('nodes').list()).items;
      const ok = nodes.every((n) => (n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True') && !(n.spec?.taints ?? []).some((t) => t.key === UNREACHABLE));
      if (!ok) return undefined;
      const all = (await c.client.resource<Pod>('pods').list(ns)).items;
      const d = await c.client.resource<Deployment>('deployments').get(ns, 'web');
      return all.length === REPLICAS && all.every((p) => isActive(p) && p.status?.phase === 'Running') && d.status?.availableReplicas === REPLICAS ? true : undefined;
    },
    { timeout: 120_000, interval: 250, message: 'a steady cluster (3 Ready nodes, 4 Running pods, nothing terminating)' },
  );
}

/** Containers of the namespace running on a host's engine whose pod is not an active pod in the API (duplicates). */
async function strays(h: Host): Promise<string[]> {
  const active = new Set((await activePods()).filter((p) => p.spec?.nodeName === nodeOf(h)).map((p) => p.metadata.uid));
  const out = await h.docker(['ps', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--format', '{{.ID}} {{.Label "io.flotilla.pod.uid"}}']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter(([, uid]) => !active.has(uid))
    .map(([id, uid]) => `${id} (pod ${uid})`);
}

describe('a lost host', () => {
  it(`${TRIALS} trials (power cut / network cut alternating): its pods Running elsewhere, no duplicates once it is back`, async () => {
    const c = cluster!;
    const hc = hostCluster!;
    await c.client.resource<Deployment>('deployments').create(deployment(ns, 'web', { replicas: REPLICAS }));
    await waitForRollout(c.client, ns, 'web', 120_000);
    const subnet = hc.gateway.replace(/\.1$/, '');

    for (let trial = 1; trial <= TRIALS; trial++) {
      await steady();
      const pods = await activePods();
      // The host with the most pods (never an empty one).
      const byHost = hc.hosts.map((h) => ({ h, pods: pods.filter((p) => p.spec?.nodeName === nodeOf(h)) })).sort((a, b) => b.pods.length - a.pods.length);
      const { h: victim, pods: lostPods } = byHost[0]!;
      expect(lostPods.length).toBeGreaterThan(0);
      const mode = trial % 2 === 1 ? 'power-cut' : 'net-cut';
      const lost = new Set(lostPods.map((p) => p.metadata.uid!));

      const t0 = Date.now();
      const agent = c.process(nodeOf(victim));
      // The loss itself, a little after t0 (hosts.sh finds the processes first): the agent gone, or the link down.
      const isLost = mode === 'power-cut' ? () => !agent.running() : () => readFileSync(`/sys/class/net/${victim.name}/operstate`, 'utf8').trim() !== 'up';
      const timeline = new FailoverTimeline({ client: c.client, namespace: ns, node: nodeOf(victim), lost, t0, isLost }).start();
      if (mode === 'power-cut') await victim.kill();
      else await victim.disconnect();
      try {
        // Converged: REPLICAS active pods Running, none of them on the victim.
        await waitFor(
          () => {
            const now = [...timeline.pods.values()].filter(isActive);
            return now.length === REPLICAS && now.every((p) => p.status?.phase === 'Running' && p.spec?.nodeName !== nodeOf(victim)) ? true : undefined;
          },
          { timeout: 60_000, interval: 50, message: `trial ${trial} (${mode} of ${victim.name}): ${REPLICAS} pods Running off ${nodeOf(victim)}` },
        );
        timeline.seen.running ??= Date.now() - t0;
      } finally {
        await timeline.stop();
      }
      results.push({ trial, mode, node: nodeOf(victim), lost: lost.size, steps: timeline.seen });
      console.info(`trial ${trial} ${mode} ${nodeOf(victim)} (${lost.size} pods): ${JSON.stringify(timeline.seen)}`);

      // The host comes back.
      if (mode === 'power-cut') {
        const r = await run(`${repoRoot()}/scripts/hosts.sh`, ['create', String(hc.hosts.length), '--name', hc.name, '--subnet', subnet, '--no-images'], { timeout: 150_000 });
        if (r.code !== 0) throw new Error(`reviving ${victim.name} failed: ${r.stderr}`);
        await c.restart(nodeOf(victim));
      } else await victim.connect();
      // Nothing twice: the API holds exactly REPLICAS pods and the returned host runs none of the replaced ones.
      await steady();
      await waitFor(async () => ((await strays(victim)).length === 0 ? true : undefined), { timeout: 60_000, interval: 500, message: `no stray containers left on ${victim.name}` });
      expect(await activePods()).toHaveLength(REPLICAS);
      for (const h of hc.hosts) expect(await strays(h), h.name).toEqual([]);
    }
  }, 1_200_000);
});
