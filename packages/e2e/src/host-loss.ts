/**
 * Host-loss trials on real hosts (createHosts + startCluster with one agent
 * per host), shared by the host-loss test (which asserts that every lost
 * pod is replaced and nothing is left twice) and `scripts/bench.sh
 * failover` (which reports the times against the ≤ 10 s target).
 *
 * Each trial takes the host running the most of a Deployment's pods and
 * loses it, alternating the two ways:
 * - power cut: every process of the host SIGKILLed (dockerd, containerd,
 *   containers, the agent), as `hosts.sh kill` does;
 * - net cut: its veth goes down; everything on it keeps running.
 * It waits until the Deployment's pods all run elsewhere (the time taken is
 * the trial's figure), then brings the host back (power: its dockerd
 * recreated and its agent restarted; net: the cable plugged back) and waits
 * until the cluster is steady with no container left on any engine for a
 * pod that is not active there.
 */
import { readFileSync } from 'node:fs';
import type { Deployment, Node, Pod } from '@flotilla/api';
import type { TestCluster } from './cluster.js';
import { repoRoot } from './env.js';
import { FailoverTimeline, type FailoverStep } from './failover-timeline.js';
import { run, type Host, type HostCluster } from './hosts.js';
import { waitFor } from './wait-for.js';

/** Taint key of a node the node-lifecycle controller found silent. */
const UNREACHABLE = 'node.kubernetes.io/unreachable';

/** How a host is lost. */
export type HostLossMode = 'power-cut' | 'net-cut';

/** One trial's outcome. */
export interface HostLossTrial {
  trial: number;
  mode: HostLossMode;
  node: string;
  /** Pods the host ran. */
  lost: number;
  /** First time each failover step was seen, ms after t0 (just before the host was told to go). */
  steps: Partial<Record<FailoverStep, number>>;
  /** The pods all Running elsewhere, ms after t0 (includes hosts.sh finding the processes or the link). */
  totalMs: number;
  /** The same, ms after the loss itself (the agent process gone or the link down). */
  fromLossMs: number;
  /** Other nodes declared Unknown during the trial (false positives; should be none). */
  othersUnknown: string[];
}

/** What the trials run on. */
export interface HostLossOptions {
  cluster: TestCluster;
  hosts: HostCluster;
  namespace: string;
  /** The Deployment whose pods are followed (its pods carry `app=<name>`), already rolled out. */
  deployment: string;
  trials: number;
  /** Node name of a host; default `node-<index>`, as the tests name them. */
  nodeOf?: (h: Host) => string;
  /** How long the pods may take to run elsewhere before the trial fails; default 60 s. */
  convergeTimeoutMs?: number;
  /** Told after each trial (before the host is brought back). */
  onTrial?: (t: HostLossTrial) => void;
}

const isActive = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

/** Runs the trials; throws when pods are not replaced in time or anything is left twice. */
export async function runHostLossTrials(o: HostLossOptions): Promise<HostLossTrial[]> {
  const { cluster: c, hosts: hc, namespace: ns } = o;
  const nodeOf = o.nodeOf ?? ((h: Host) => `node-${h.index}`);
  const selector = `app=${o.deployment}`;
  const replicas = (await c.client.resource<Deployment>('deployments').get(ns, o.deployment)).spec?.replicas ?? 1;
  const activePods = async () => (await c.client.resource<Pod>('pods').list(ns, { labelSelector: selector })).items.filter(isActive);

  /** Every node Ready and untainted, the Deployment fully available, nothing terminating. */
  const steady = () =>
    waitFor(
      async () => {
        const nodes = (await c.client.resource<Node>('nodes').list()).items;
        const ok = nodes.every((n) => (n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True') && !(n.spec?.taints ?? []).some((t) => t.key === UNREACHABLE));
        if (!ok) return undefined;
        const all = (await c.client.resource<Pod>('pods').list(ns, { labelSelector: selector })).items;
        const d = await c.client.resource<Deployment>('deployments').get(ns, o.deployment);
        return all.length === replicas && all.every((p) => isActive(p) && p.status?.phase === 'Running') && d.status?.availableReplicas === replicas ? true : undefined;
      },
      { timeout: 120_000, interval: 250, message: `a steady cluster (every node Ready, ${replicas} Running pods, nothing terminating)` },
    );

  /** Containers of the namespace on a host's engine whose pod is not an active pod there (left over, or twice). */
  const strays = async (h: Host) => {
    const active = new Set((await activePods()).filter((p) => p.spec?.nodeName === nodeOf(h)).map((p) => p.metadata.uid));
    const out = await h.docker(['ps', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--format', '{{.ID}} {{.Label "io.flotilla.pod.uid"}}']);
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '))
      .filter(([, uid]) => !active.has(uid))
      .map(([id, uid]) => `${id} (pod ${uid})`);
  };

  const results: HostLossTrial[] = [];
  for (let trial = 1; trial <= o.trials; trial++) {
    await steady();
    const pods = await activePods();
    // The host with the most pods (never an empty one).
    const { h: victim, pods: lostPods } = hc.hosts.map((h) => ({ h, pods: pods.filter((p) => p.spec?.nodeName === nodeOf(h)) })).sort((a, b) => b.pods.length - a.pods.length)[0]!;
    if (lostPods.length === 0) throw new Error(`trial ${trial}: no host runs a pod of ${ns}/${o.deployment}`);
    const mode: HostLossMode = trial % 2 === 1 ? 'power-cut' : 'net-cut';
    const lost = new Set(lostPods.map((p) => p.metadata.uid!));
    const agent = c.process(nodeOf(victim));
    // The loss itself comes a little after t0 (hosts.sh finds the processes first): the agent gone, or the link down.
    const isLost = mode === 'power-cut' ? () => !agent.running() : () => readFileSync(`/sys/class/net/${victim.veth}/operstate`, 'utf8').trim() !== 'up';

    const t0 = Date.now();
    const timeline = new FailoverTimeline({ client: c.client, namespace: ns, node: nodeOf(victim), lost, t0, isLost }).start();
    if (mode === 'power-cut') await victim.kill();
    else await victim.disconnect();
    try {
      await waitFor(
        () => {
          const now = [...timeline.pods.values()].filter((p) => isActive(p) && p.metadata.labels?.app === o.deployment);
          return now.length === replicas && now.every((p) => p.status?.phase === 'Running' && p.spec?.nodeName !== nodeOf(victim)) ? true : undefined;
        },
        { timeout: o.convergeTimeoutMs ?? 60_000, interval: 20, message: `trial ${trial} (${mode} of ${victim.name}): ${replicas} pods Running off ${nodeOf(victim)}` },
      );
    } finally {
      await timeline.stop();
    }
    const totalMs = Date.now() - t0;
    const steps = { ...timeline.seen, running: timeline.seen.running ?? totalMs };
    const t: HostLossTrial = { trial, mode, node: nodeOf(victim), lost: lost.size, steps, totalMs: steps.running, fromLossMs: steps.running - (steps.lost ?? 0), othersUnknown: [...timeline.othersUnknown] };
    results.push(t);
    o.onTrial?.(t);

    // The host comes back.
    if (mode === 'power-cut') {
      const subnet = hc.gateway.replace(/\.1$/, '');
      const r = await run(`${repoRoot()}/scripts/hosts.sh`, ['create', String(hc.hosts.length), '--name', hc.name, '--subnet', subnet, '--no-images'], { timeout: 150_000 });
      if (r.code !== 0) throw new Error(`reviving ${victim.name} failed: ${r.stderr}`);
      await c.restart(nodeOf(victim));
    } else await victim.connect();
    // Nothing twice: exactly `replicas` pods, and no engine runs a container of a pod not active there.
    await steady();
    await waitFor(async () => ((await strays(victim)).length === 0 ? true : undefined), { timeout: 60_000, interval: 500, message: `no stray containers left on ${victim.name}` });
    const active = await activePods();
    if (active.length !== replicas) throw new Error(`trial ${trial}: ${active.length} active pods after ${victim.name} came back, want ${replicas}`);
    for (const h of hc.hosts) {
      const left = await strays(h);
      if (left.length) throw new Error(`trial ${trial}: containers of pods not active on ${h.name}: ${left.join(', ')}`);
    }
  }
  return results;
}

/** The `q` quantile (nearest rank) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
}
