/**
 * The end-to-end benchmark (issue 12): what a user waits for, on the same
 * Docker engines (three hosts: network namespaces with one dockerd each),
 * Flotilla against Docker Swarm mode and against raw `docker run -d`:
 *
 * - apply → all Ready, for a small and a large Deployment;
 * - scale small → large;
 * - a killed container serving again (its replacement running);
 * - a small rolling update (a new environment variable) complete;
 * - a killed host's pods running elsewhere.
 *
 * Each side runs on fresh hosts: Flotilla (apiserver, scheduler,
 * controller-manager, an agent per host) first, then a Swarm of the same
 * number of engines, then plain `docker run -d` spread round robin. "Ready"
 * is each system's own word for it: the Deployment's readyReplicas (no
 * readiness probe, so a container counts once it runs and its agent said
 * so), the service's running tasks for Swarm. Each of the two systems keeps
 * its defaults (Flotilla: maxSurge/maxUnavailable 25%, node-monitor grace;
 * Swarm: update parallelism 1, task heartbeat), which the table names.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Deployment, Pod } from '@flotilla/api';
import { createHosts, startCluster, type Host, type HostCluster, type TestCluster } from '@flotilla/e2e';
import { printTrace, traceApply } from './e2e-trace.js';
import { print, printJson, progress, section, table } from './report.js';
import { percentile, round } from './stats.js';

/** Knobs of the e2e benchmark. */
export interface E2eBenchOptions {
  hosts: number;
  small: number;
  large: number;
  /** Whole repetitions (fresh hosts each time); every figure is printed per run. */
  runs: number;
  image: string;
  /** Include the killed-host scenario (tens of seconds each side). */
  hostKill: boolean;
  /**
   * Instead of the comparison: Flotilla alone, the two applies traced stage
   * by stage (e2e-trace.ts) with the agents' own start steps.
   */
  trace?: boolean;
  /** More `flotilla agent` flags for the Flotilla side (e.g. to compare a setting). */
  agentArgs?: string[];
}

/** Full-size defaults: the issue's 10 and 30 replicas over 3 hosts, two runs. */
export const E2E_DEFAULTS: E2eBenchOptions = { hosts: 3, small: 10, large: 30, runs: 2, image: 'flotilla/echo:1', hostKill: true };
/** Smoke-sized run. */
export const E2E_QUICK: E2eBenchOptions = { hosts: 2, small: 2, large: 4, runs: 1, image: 'flotilla/echo:1', hostKill: false };

const SCENARIOS = ['apply small', 'apply large', 'scale small→large', 'killed container serving again', 'rolling update (small)', 'killed host: pods elsewhere'] as const;
type Scenario = (typeof SCENARIOS)[number];
type Times = Partial<Record<Scenario, number>>;

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 300_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Running containers of a workload on every live host (by label), with their ids. */
async function runningContainers(hosts: Host[], label: string): Promise<string[]> {
  const per = await Promise.all(hosts.map((h) => h.docker(['ps', '-q', '--no-trunc', '--filter', `label=${label}`, '--filter', 'status=running']).catch(() => '')));
  return per.flatMap((s) => s.split('\n').filter(Boolean));
}

/** SIGKILLs one running container of the workload; ms until a replacement runs (the same count, without it). */
async function killOneContainer(hosts: Host[], label: string): Promise<number> {
  const before = await runningContainers(hosts, label);
  const victim = before[0]!;
  const victimHost = await hostOf(hosts, victim);
  return timed(async () => {
    await victimHost.docker(['kill', victim]);
    await until('a replacement running', async () => {
      const now = await runningContainers(hosts, label);
      return !now.includes(victim) && now.length === before.length;
    }, 120_000, 20);
  });
}

/** Power cut on the last host; ms until `replicas` containers of the workload run on the others. */
async function killLastHost(hosts: Host[], label: string, replicas: number): Promise<number> {
  const dead = hosts[hosts.length - 1]!;
  const survivors = hosts.slice(0, -1);
  return timed(async () => {
    await dead.kill();
    await until('every replica running on the surviving hosts', async () => (await runningContainers(survivors, label)).length >= replicas, 300_000, 100);
  });
}

// ---------------------------------------------------------------- Flotilla

function deployment(ns: string, replicas: number, image: string, version = '1'): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image, env: [{ name: 'VERSION', value: version }] }] },
      },
    },
  } as Deployment;
}

async function flotillaRun(o: E2eBenchOptions, times: Times): Promise<Times> {
  let hosts: HostCluster | undefined;
  let cluster: TestCluster | undefined;
  try {
    hosts = await createHosts(o.hosts, { prefix: 'be' });
    const h = hosts;
    cluster = await startCluster({
      clusterCIDR: h.podCIDR,
      nodes: h.hosts.map((x, i) => ({ name: `node-${i + 1}`, docker: { host: x.dockerHost, nodeIP: x.ip, netns: x.netns } })),
      apiserver: { bindAddress: h.gateway },
      ...(o.agentArgs?.length ? { agentArgs: o.agentArgs } : {}),
    });
    const api = cluster.client;
    const ns = `bench-${randomBytes(3).toString('hex')}`;
    await api.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const deps = api.resource<Deployment>('deployments');
    const pods = api.resource<Pod>('pods');
    const ready = (n: number) => async () => {
      const d = await deps.get(ns, 'web');
      return (d.status?.readyReplicas ?? 0) >= n && (d.status?.updatedReplicas ?? 0) >= n && d.status?.replicas === n;
    };
    const gone = async () => (await pods.list(ns)).items.length === 0 && (await runningContainers(h.hosts, `io.flotilla.pod.namespace=${ns}`)).length === 0;
    const clear = async () => {
      await deps.delete(ns, 'web').catch(() => undefined);
      await until('the pods gone', gone);
    };

    if (o.trace) {
      for (const n of [o.small, o.large]) {
        progress(`flotilla: traced apply ${n}`);
        const c = cluster;
        const before = new Map(h.hosts.map((_, i) => [i, c.process(`node-${i + 1}`).logs().length]));
        const t = await traceApply(api, h.hosts, ns, deployment(ns, n, o.image), ready(n));
        times[n === o.small ? 'apply small' : 'apply large'] = t.totalMs;
        printTrace(`traced apply of ${n}`, t);
        printAgentSteps(h.hosts.map((_, i) => c.process(`node-${i + 1}`).logs().slice(before.get(i))));
        printJson('e2e-trace', t);
        await clear();
      }
      return times;
    }

    progress(`flotilla: apply ${o.small}`);
    times['apply small'] = await timed(async () => {
      await deps.create(deployment(ns, o.small, o.image));
      await until(`${o.small} ready`, ready(o.small));
    });
    await clear();
    progress(`flotilla: apply ${o.large}`);
    times['apply large'] = await timed(async () => {
      await deps.create(deployment(ns, o.large, o.image));
      await until(`${o.large} ready`, ready(o.large));
    });
    await clear();
    await deps.create(deployment(ns, o.small, o.image));
    await until(`${o.small} ready`, ready(o.small));
    progress(`flotilla: scale ${o.small} → ${o.large}`);
    times['scale small→large'] = await timed(async () => {
      await deps.patch(ns, 'web', { spec: { replicas: o.large } }, 'merge');
      await until(`${o.large} ready`, ready(o.large));
    });
    await deps.patch(ns, 'web', { spec: { replicas: o.small } }, 'merge');
    await until(`back to ${o.small}`, async () => (await ready(o.small)()) && (await runningContainers(h.hosts, `io.flotilla.pod.namespace=${ns}`)).length === 2 * o.small);

    progress('flotilla: a killed container');
    const label = `io.flotilla.container.name=web`;
    times['killed container serving again'] = await killOneContainer(h.hosts, label);
    await until(`${o.small} ready`, ready(o.small));

    progress('flotilla: a rolling update');
    times['rolling update (small)'] = await timed(async () => {
      await deps.patch(ns, 'web', { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'VERSION', value: '2' }] }] } } } }, 'strategic');
      await until('the rollout complete', async () => {
        const d = await deps.get(ns, 'web');
        return (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && (await ready(o.small)()) && (await pods.list(ns)).items.length === o.small;
      });
    });

    if (o.hostKill) {
      progress('flotilla: a killed host');
      times['killed host: pods elsewhere'] = await killLastHost(h.hosts, label, o.small);
    }
    return times;
  } finally {
    await cluster?.stop().catch(() => undefined);
    await hosts?.delete().catch(() => undefined);
  }
}

/** The agents' own `pod started` lines: each start step's time after the agent first saw the pod (median and max over pods). */
function printAgentSteps(logs: string[]): void {
  const per = new Map<string, number[]>();
  for (const line of logs.join('\n').split('\n')) {
    if (!line.includes('"pod started"')) continue;
    try {
      const rec = JSON.parse(line) as { steps?: Record<string, number> };
      for (const [k, v] of Object.entries(rec.steps ?? {})) (per.get(k) ?? (per.set(k, []), per.get(k)!)).push(v);
    } catch {
      // not a JSON log line
    }
  }
  if (per.size === 0) return;
  const rows = [...per].map(([k, xs]) => {
    xs.sort((a, b) => a - b);
    return [k, percentile(xs, 50), xs[xs.length - 1], xs.length] as const;
  });
  rows.sort((a, b) => a[1] - b[1]);
  print(table(['agent step (ms after its first sync of the pod)', 'median', 'max', 'pods'], rows));
}

async function hostOf(hosts: Host[], id: string): Promise<Host> {
  for (const h of hosts) if ((await h.docker(['ps', '-q', '--no-trunc']).catch(() => '')).includes(id)) return h;
  throw new Error(`container ${id.slice(0, 12)} is on no host`);
}

// ---------------------------------------------------------------- Swarm

async function swarmRun(o: E2eBenchOptions, times: Times): Promise<Times> {
  let hosts: HostCluster | undefined;
  try {
    hosts = await createHosts(o.hosts, { prefix: 'bs' });
    const h = hosts;
    const manager = h.hosts[0]!;
    await manager.docker(['swarm', 'init', '--advertise-addr', manager.ip]);
    const token = await manager.docker(['swarm', 'join-token', '-q', 'worker']);
    for (const w of h.hosts.slice(1)) await w.docker(['swarm', 'join', '--token', token, `${manager.ip}:2377`]);
    const label = 'com.docker.swarm.service.name=web';
    const replicas = async () => (await manager.docker(['service', 'ls', '--filter', 'name=web', '--format', '{{.Replicas}}'])).trim();
    const ready = (n: number) => async () => (await replicas()) === `${n}/${n}` && (await runningContainers(h.hosts, label)).length === n;
    const clear = async () => {
      await manager.docker(['service', 'rm', 'web']).catch(() => undefined);
      await until('the tasks gone', async () => (await runningContainers(h.hosts, label)).length === 0 && (await h.hosts[0]!.docker(['ps', '-aq', '--filter', `label=${label}`])) === '');
    };
    // --no-resolve-image: the image is local; a registry is off this machine (hosts.sh also makes the engines prefer local images).
    const create = (n: number) => manager.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'web', '--replicas', String(n), '--stop-grace-period', '1s', '--env', 'VERSION=1', o.image]);

    progress(`swarm: create ${o.small}`);
    times['apply small'] = await timed(async () => {
      await create(o.small);
      await until(`${o.small}/${o.small}`, ready(o.small));
    });
    await clear();
    progress(`swarm: create ${o.large}`);
    times['apply large'] = await timed(async () => {
      await create(o.large);
      await until(`${o.large}/${o.large}`, ready(o.large));
    });
    await clear();
    await create(o.small);
    await until(`${o.small}/${o.small}`, ready(o.small));
    progress(`swarm: scale ${o.small} → ${o.large}`);
    times['scale small→large'] = await timed(async () => {
      await manager.docker(['service', 'scale', '--detach', `web=${o.large}`]);
      await until(`${o.large}/${o.large}`, ready(o.large));
    });
    await manager.docker(['service', 'scale', '--detach', `web=${o.small}`]);
    await until(`back to ${o.small}`, ready(o.small));

    progress('swarm: a killed container');
    times['killed container serving again'] = await killOneContainer(h.hosts, label);
    await until(`${o.small}/${o.small}`, ready(o.small));

    progress('swarm: a rolling update');
    times['rolling update (small)'] = await timed(async () => {
      await manager.docker(['service', 'update', '--detach', '--no-resolve-image', '--env-add', 'VERSION=2', 'web']);
      await until('the update complete', async () => (await manager.docker(['service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', 'web'])).trim() === 'completed' && (await ready(o.small)()));
    });

    if (o.hostKill) {
      progress('swarm: a killed host');
      times['killed host: pods elsewhere'] = await killLastHost(h.hosts, label, o.small);
    }
    return times;
  } finally {
    await hosts?.delete().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- raw docker run

async function rawRun(o: E2eBenchOptions, times: Times): Promise<Times> {
  let hosts: HostCluster | undefined;
  try {
    hosts = await createHosts(o.hosts, { prefix: 'br' });
    const h = hosts;
    const start = async (n: number, tag: string) => {
      for (let i = 0; i < n; i++) await h.hosts[i % h.hosts.length]!.docker(['run', '-d', '--label', `flotilla.bench=${tag}`, o.image]);
    };
    const clear = async (tag: string) => {
      for (const x of h.hosts) {
        const ids = (await x.docker(['ps', '-aq', '--filter', `label=flotilla.bench=${tag}`])).split('\n').filter(Boolean);
        if (ids.length) await x.docker(['rm', '-f', ...ids]);
      }
    };
    progress(`docker run -d × ${o.small}`);
    times['apply small'] = await timed(() => start(o.small, 'small'));
    await clear('small');
    progress(`docker run -d × ${o.large}`);
    times['apply large'] = await timed(() => start(o.large, 'large'));
    await clear('large');
    return times;
  } finally {
    await hosts?.delete().catch(() => undefined);
  }
}

/** One side of a run: the figures it got, printed at once; a failure keeps what was measured before it (and says so). */
async function side(name: string, run: (t: Times) => Promise<Times>): Promise<Times> {
  const times: Times = {};
  try {
    await run(times);
  } catch (err) {
    progress(`${name}: failed after ${Object.keys(times).length} figure(s): ${(err as Error)?.stack ?? String(err)}`);
  }
  progress(`${name}: ${Object.entries(times).map(([k, v]) => `${k} ${(v / 1000).toFixed(2)} s`).join(', ')}`);
  return times;
}

/** Runs the benchmark and prints one table per run, with Flotilla ÷ Swarm. */
export async function runE2eBench(o: E2eBenchOptions): Promise<void> {
  const runs: Array<{ flotilla: Times; swarm: Times; raw: Times }> = [];
  for (let r = 0; r < o.runs; r++) {
    progress(`run ${r + 1} of ${o.runs}`);
    const flotilla = await side('flotilla', (t) => flotillaRun(o, t));
    if (o.trace) continue;
    const swarm = await side('swarm', (t) => swarmRun(o, t));
    const raw = await side('docker run', (t) => rawRun(o, t));
    runs.push({ flotilla, swarm, raw });
    section(`e2e run ${r + 1}: ${o.hosts} hosts, ${o.small} and ${o.large} replicas of ${o.image} (seconds; Swarm at its defaults: update parallelism 1, stop-first)`);
    print(
      table(
        ['scenario', 'Flotilla', 'Swarm', 'docker run -d', 'Flotilla ÷ Swarm'],
        SCENARIOS.filter((s) => flotilla[s] !== undefined || swarm[s] !== undefined).map((s) => [
          s.replace('small', String(o.small)).replace('large', String(o.large)),
          flotilla[s] !== undefined ? flotilla[s]! / 1000 : undefined,
          swarm[s] !== undefined ? swarm[s]! / 1000 : undefined,
          raw[s] !== undefined ? raw[s]! / 1000 : undefined,
          flotilla[s] !== undefined && swarm[s] ? round(flotilla[s]! / swarm[s]!) : undefined,
        ]),
      ),
    );
  }
  printJson('e2e', { options: o, runs });
}
