/**
 * `flotctl chaos` beyond container kills, on three real hosts (network
 * namespaces with a dockerd each, real agents and proxies), while four
 * clients loop requests through a Service's ClusterIP: an agent, the
 * scheduler, the controller-manager, the apiserver and etcd SIGKILLed (each
 * brought back as a supervisor would), a whole host powered off and back,
 * and a host's cable pulled and plugged back. After every action the
 * cluster must heal — the Deployment fully available with exactly the
 * declared pods, the Service's ready endpoints exactly those pods, and the
 * proxies' rules reflecting that — the failed requests of each action are
 * counted, printed and few, and none fails once healed.
 *
 * The processes of the test cluster are not up.sh's, so the test writes
 * their PID files into a run directory of its own and hands it to
 * `flotctl chaos --run-dir`; the hosts are scripts/hosts.sh's, found by
 * `--hosts-name` under the checkout's state directory.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployment, EndpointSlice, Lease, Node, Pod, Service } from '@flotilla/api';
import { FailoverTimeline, httpGet, repoRoot, run, startPrivateEtcd, startServiceEnv, waitFor, type Host, type PrivateEtcd, type ServiceEnv } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const REPLICAS = 3;
/**
 * How long the load goes on after each healing with nothing allowed to
 * fail. Healed is a state, not an event: the only way to see that requests
 * keep succeeding once the cluster has healed is to keep sending them for a
 * while (about 200 requests per second here).
 */
const OBSERVE_MS = 4_000;

let env: ServiceEnv;
/** The cluster's own etcd: killing the shared test etcd would hurt other test files. */
let etcd: PrivateEtcd | undefined;
let runDir = '';
const ns = `chaosl-${randomBytes(3).toString('hex')}`;
const api = () => env.cluster.client;
const nodeOf = (h: Host) => `node-${h.index}`;
const slices = () => api().resource<EndpointSlice>({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' });

/** Runs the built flotctl against this test's cluster and namespace. */
function flotctl(args: string[]) {
  return run(process.execPath, [join(repoRoot(), 'packages/flotctl/dist/bin/flotctl.js'), '--kubeconfig', env.cluster.api.kubeconfigPath, '-n', ns, ...args], { timeout: 90_000 });
}

/** `flotctl chaos <args>` pointed at this test's hosts and PID files; fails the test unless it exits 0. */
async function chaos(...args: string[]): Promise<string> {
  const r = await flotctl(['chaos', ...args, '--hosts-name', env.hosts.name, '--state-dir', join(repoRoot(), '.flotilla'), '--run-dir', runDir]);
  expect(r.code, `flotctl chaos ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

/** The PID files up.sh would keep, for the test cluster's processes (rewritten after every restart). */
async function writePids(): Promise<void> {
  await rm(runDir, { recursive: true, force: true });
  await mkdir(runDir, { recursive: true });
  const files: Array<[string, number | undefined]> = [['apiserver.pid', env.cluster.api.pid()], ['etcd.pid', etcd?.pid()]];
  for (const p of env.cluster.processes.values()) {
    if (!p.running()) continue;
    // Agents as up.sh names them (agent-<node>); scheduler-1, controller-manager-1 as `chaos kill <component>` finds them.
    files.push([p.component === 'agent' ? `agent-${p.name}.pid` : `${p.name}.pid`, p.pid()]);
  }
  for (const [f, pid] of files) if (pid) await writeFile(join(runDir, f), `${pid}\n`);
}

const isActive = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
const isReady = (p: Pod) => isActive(p) && p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/**
 * What the clients see healed: exactly REPLICAS active pods, all Running and
 * ready (none of them on `avoid`, a host that is down), the Deployment
 * saying so, the Service's ready endpoints exactly those pods' addresses, and
 * the proxies (`proxies`: names in env.proxies) having applied that
 * EndpointSlice revision. Returns a reason when not.
 */
async function servingState(opts: { avoid?: string; proxies: string[]; allPodsSettled: boolean; noService?: boolean }): Promise<string | true> {
  const pods = (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items;
  const active = pods.filter(isActive);
  if (active.length !== REPLICAS) return `${active.length} active pods`;
  if (!active.every(isReady)) return 'an active pod not ready';
  if (opts.avoid && active.some((p) => p.spec?.nodeName === opts.avoid)) return `a pod still on ${opts.avoid}`;
  if (opts.allPodsSettled && pods.length !== REPLICAS) return `${pods.length - REPLICAS} pods still terminating`;
  const d = await api().resource<Deployment>('deployments').get(ns, 'web');
  if (!(d.status?.availableReplicas === REPLICAS && d.status?.readyReplicas === REPLICAS && d.status?.replicas === REPLICAS)) return `deployment ${d.status?.availableReplicas}/${REPLICAS} available`;
  if (opts.noService) return true;
  const list = (await slices().list(ns, { labelSelector: 'kubernetes.io/service-name=web' })).items;
  const ready = list.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses)).sort();
  const want = active.map((p) => p.status!.podIP!).sort();
  if (JSON.stringify(ready) !== JSON.stringify(want)) return `ready endpoints ${ready.join(',')} != pods ${want.join(',')}`;
  const rv = Math.max(...list.map((s) => Number(s.metadata.resourceVersion)));
  for (const name of opts.proxies) {
    const applied = await env.proxies.get(name)!.metric('flotilla_proxy_applied_endpointslice_resource_version').catch(() => -1);
    if (applied < rv) return `proxy ${name} applied ${applied} < ${rv}`;
  }
  return true;
}

/** Every Node Ready and without the unreachable taint. */
async function nodesReady(): Promise<string | true> {
  for (const n of (await api().resource<Node>('nodes').list()).items) {
    if (!(n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')) return `${n.metadata.name} not Ready`;
    if ((n.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'))) return `${n.metadata.name} tainted`;
  }
  return true;
}

/** Waits for a condition that returns true or the reason it does not hold yet (the last reason goes into the timeout message). */
async function until(what: string, cond: () => Promise<string | true>, timeout = 120_000): Promise<void> {
  let last = '';
  try {
    await waitFor(async () => {
      const r = await cond().catch((err: unknown) => `error: ${(err as Error).message}`);
      if (r === true) return true;
      last = r;
      return false;
    }, { timeout, interval: 250, message: what });
  } catch (err) {
    throw new Error(`${(err as Error).message} (last: ${last})`);
  }
}

/** Fully healed: every node back, exactly REPLICAS pods, every proxy up to date. */
const healed = async () => {
  const n = await nodesReady();
  if (n !== true) return n;
  return servingState({ proxies: [...env.proxies.keys()], allPodsSettled: true });
};

/** Containers of the namespace on a host's engine whose pod is not an active pod there (left over, or twice). */
async function strays(h: Host): Promise<string[]> {
  const active = new Set((await api().resource<Pod>('pods').list(ns)).items.filter((p) => isActive(p) && p.spec?.nodeName === nodeOf(h)).map((p) => p.metadata.uid));
  const out = await h.docker(['ps', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--format', '{{.ID}} {{.Label "io.flotilla.pod.uid"}}']);
  return out.split('\n').filter(Boolean).map((l) => l.split(' ')).filter(([, uid]) => !active.has(uid)).map(([id, uid]) => `${id} (pod ${uid})`);
}

/** The host running the most of the Deployment's pods. */
async function busiestHost(): Promise<Host> {
  const pods = (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items.filter(isActive);
  const ranked = env.hosts.hosts.map((h) => ({ h, n: pods.filter((p) => p.spec?.nodeName === nodeOf(h)).length })).sort((a, b) => b.n - a.n);
  expect(ranked[0]!.n).toBeGreaterThan(0);
  return ranked[0]!.h;
}

beforeAll(async () => {
  etcd = await startPrivateEtcd();
  env = await startServiceEnv({ hosts: 3, prefix: 'cl', etcd: [etcd.endpoint] });
  runDir = await mkdtemp(join(tmpdir(), 'flotilla-chaos-run-'));
  await writePids();
  await api().resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await api().resource<Deployment>('deployments').create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{
            name: 'web',
            image: 'flotilla/httpd:1',
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
          }],
        },
      },
    },
  } as Deployment);
  await until('web 3/3 available', () => servingState({ proxies: [], allPodsSettled: true, noService: true }), 150_000);
}, 400_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && env) console.error(`--- logs after "${task.name}" failed\n${env.dumpLogs()}`);
});

afterAll(async () => {
  await env?.stop();
  await etcd?.close();
  if (runDir) await rm(runDir, { recursive: true, force: true });
}, 180_000);

/** One failed request: when it was sent and what went wrong. */
interface Failure {
  at: number;
  ms: number;
  error: string;
}

/** The error's kind, for the report: timeout, refused, reset, unreachable, HTTP status… */
function kindOf(error: string): string {
  const m = /^(timeout)|(E[A-Z]+)|HTTP (\d+)/.exec(error);
  return m?.[1] ?? m?.[2] ?? (m?.[3] ? `HTTP ${m[3]}` : error.slice(0, 40));
}

describe('flotctl chaos under load', () => {
  it('agent, scheduler, controller-manager, apiserver and etcd killed, a host killed, a host partitioned and healed: each heals, few requests fail, none once healed', async () => {
    const svc = await api().resource<Service>('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } });
    const url = `http://${svc.spec!.clusterIP}/`;
    await until('the Service answering through every proxy', async () => ((await httpGet(url)).status === 200 ? servingState({ proxies: [...env.proxies.keys()], allPodsSettled: true }) : 'not 200'), 60_000);

    let stop = false;
    let ok = 0;
    const failed: Failure[] = [];
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const at = Date.now();
        try {
          const r = await httpGet(url, 3_000);
          if (r.status === 200) ok++;
          else failed.push({ at, ms: Date.now() - at, error: `HTTP ${r.status}` });
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          failed.push({ at, ms: Date.now() - at, error: e.code ? `${e.code} ${e.message}` : e.message });
        }
      }
    });

    const phases: Array<{ name: string; target: string; start: number; actMs: number; servedMs?: number; servedAt?: number; reviveMs: number; healedMs: number; healedAt: number; end: number; steps?: string }> = [];
    /** Where a host phase's time goes (node verdict, taint, eviction, replacements, endpoints), watched from before the act. */
    // The moment of the loss, which flotctl's own start-up and hosts.sh hide: the agent process gone (power cut) or the host's link down (cable).
    const timelineOf = async (h: Host, mode: 'power' | 'cable') => {
      const lost = (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items.filter((p) => isActive(p) && p.spec?.nodeName === nodeOf(h));
      const agent = env.cluster.process(nodeOf(h));
      const isLost = mode === 'power' ? () => !agent.running() : () => readFileSync(`/sys/class/net/${h.veth}/operstate`, 'utf8').trim() !== 'up';
      return new FailoverTimeline({ client: api(), namespace: ns, node: nodeOf(h), lost: lost.map((p) => p.metadata.uid!), t0: Date.now(), service: 'web', isLost }).start();
    };
    /** One chaos action: act, wait until the clients are served again (`served`), bring things back (`revive`), wait until healed, observe. */
    const phase = async (name: string, act: () => Promise<string>, steps: { served?: () => Promise<string | true>; revive?: () => Promise<void>; after?: (h: () => Promise<void>) => Promise<void>; timeline?: FailoverTimeline } = {}) => {
      // A host phase starts when its timeline does (its watches are up before the act).
      const start = steps.timeline?.t0 ?? Date.now();
      const target = await act();
      const actMs = Date.now() - start;
      let servedMs: number | undefined;
      let servedAt: number | undefined;
      if (steps.served) {
        await until(`${name}: served elsewhere`, steps.served);
        servedMs = Date.now() - start;
        servedAt = Date.now();
      }
      let stepsSeen: string | undefined;
      if (steps.timeline) {
        await steps.timeline.stop();
        stepsSeen = steps.timeline.summary();
        console.log(`${name}: served elsewhere after ${servedMs} ms; steps (ms after the act began): ${stepsSeen}`);
      }
      const reviving = Date.now();
      await steps.revive?.();
      const reviveMs = Date.now() - reviving;
      await until(`${name}: healed`, healed, 180_000);
      const healedAt = Date.now();
      await writePids();
      // See OBSERVE_MS: nothing may fail from here on.
      await new Promise((r) => setTimeout(r, OBSERVE_MS));
      phases.push({ name, target, start, actMs, ...(servedMs !== undefined ? { servedMs, servedAt } : {}), reviveMs, healedMs: healedAt - start, healedAt, end: Date.now(), ...(stepsSeen ? { steps: stepsSeen } : {}) });
    };

    // An agent: its containers keep serving; the restarted agent adopts them.
    const agentHost = await busiestHost();
    await phase('kill-agent', () => chaos('kill-agent', nodeOf(agentHost)), {
      revive: async () => {
        await env.cluster.restart(nodeOf(agentHost));
        // The harness's readiness may still see the killed agent's last renewal: wait for the new one's.
        const restarted = Date.now();
        await until('the restarted agent renewing its Lease', async () => {
          const lease = await api().resource<Lease>('leases').get('kube-node-lease', nodeOf(agentHost));
          return Date.parse(lease.spec?.renewTime ?? '') > restarted + 500 ? true : `renewed ${lease.spec?.renewTime}`;
        }, 60_000);
      },
    });
    // The control plane, one process at a time; a supervisor brings each back.
    for (const [component, proc] of [['scheduler', 'scheduler-1'], ['controller-manager', 'controller-manager-1']] as const) {
      await phase(`kill ${component}`, () => chaos('kill', component), { revive: () => env.cluster.restart(proc) });
    }
    await phase('kill apiserver', () => chaos('kill', 'apiserver'), { revive: () => env.cluster.api.restart() });
    // etcd gone: the API stops answering, running containers and the proxies' rules keep serving; restarted, everything converges.
    await phase('kill etcd', () => chaos('kill', 'etcd'), { revive: () => etcd!.start() });

    // A power cut: the pods move, the host comes back empty-handed.
    const dead = await busiestHost();
    await phase('kill-host', () => chaos('kill-host', nodeOf(dead)), {
      timeline: await timelineOf(dead, 'power'),
      served: () => servingState({ avoid: nodeOf(dead), proxies: ['root'], allPodsSettled: false }),
      revive: async () => {
        const r = await run(join(repoRoot(), 'scripts/hosts.sh'), ['create', String(env.hosts.hosts.length), '--name', env.hosts.name, '--subnet', env.hosts.gateway.replace(/\.1$/, ''), '--no-images'], { timeout: 150_000 });
        if (r.code !== 0) throw new Error(`reviving ${dead.name}: ${r.stderr}`);
        await env.cluster.restart(nodeOf(dead));
        // Its proxy died with it.
        await env.startProxy(dead);
      },
    });
    await until(`no stray containers on ${dead.name}`, async () => ((await strays(dead)).length === 0 ? true : `strays ${(await strays(dead)).join(', ')}`), 60_000);

    // A pulled cable: the pods move; once plugged back the host's agent drops its stale pods.
    const cut = await busiestHost();
    await phase('partition-host', () => chaos('partition-host', nodeOf(cut)), {
      timeline: await timelineOf(cut, 'cable'),
      served: () => servingState({ avoid: nodeOf(cut), proxies: ['root'], allPodsSettled: false }),
      revive: async () => {
        expect(await chaos('heal-host', nodeOf(cut))).toBe(`heal-host: ${nodeOf(cut)}`);
      },
    });
    await until(`no stray containers on ${cut.name}`, async () => ((await strays(cut)).length === 0 ? true : `strays ${(await strays(cut)).join(', ')}`), 60_000);
    for (const h of env.hosts.hosts) expect(await strays(h), h.name).toEqual([]);
    expect((await api().resource<Pod>('pods').list(ns)).items).toHaveLength(REPLICAS);

    stop = true;
    await Promise.all(loops);

    const total = ok + failed.length;
    const inPhase = (p: (typeof phases)[number]) => failed.filter((f) => f.at >= p.start && f.at < p.end);
    const kinds = (fs: Failure[]) => Object.entries(fs.reduce<Record<string, number>>((m, f) => ((m[kindOf(f.error)] = (m[kindOf(f.error)] ?? 0) + 1), m), {})).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
    console.log(`chaos under load: ${failed.length} of ${total} requests failed (${((100 * failed.length) / total).toFixed(2)}%)`);
    for (const p of phases) {
      const f = inPhase(p);
      console.log(`  ${p.name.padEnd(26)} ${p.target.padEnd(44)} ${p.servedMs !== undefined ? `served elsewhere in ${(p.servedMs / 1000).toFixed(1)} s, ` : ''}healed in ${(p.healedMs / 1000).toFixed(1)} s (flotctl ${(p.actMs / 1000).toFixed(1)} s, bringing back ${(p.reviveMs / 1000).toFixed(1)} s); ${f.length} failed (${kinds(f)})${p.steps ? `; steps: ${p.steps}` : ''}`);
    }
    const afterHealing = phases.flatMap((p) => failed.filter((f) => f.at >= p.healedAt && f.at < p.end).map((f) => ({ phase: p.name, sinceHealedMs: f.at - p.healedAt, ...f })));
    if (afterHealing.length) {
      // For the investigation of a lone failure after healing: what it was, and when the proxies synced around it.
      console.log(`failures after healing: ${JSON.stringify(afterHealing)}`);
      for (const [name, p] of env.proxies) {
        const syncs = p.logs().split('\n').filter((l) => l.includes('synced proxy rules')).map((l) => { try { return (JSON.parse(l) as { time: number }).time; } catch { return NaN; } });
        for (const f of afterHealing) console.log(`  proxy ${name} syncs within 5 s of the failure at ${f.at}: ${syncs.filter((t) => Math.abs(t - f.at) < 5_000).map((t) => t - f.at).join(', ')} ms`);
      }
      // The conntrack entries of the failed connection's local port, here and in every host (a stale entry holds a port).
      for (const f of afterHealing) {
        const port = /local port (\d+)/.exec(String((f as { error?: string }).error ?? ''))?.[1];
        if (!port) continue;
        const where = [['root', await run('conntrack', ['-L', '-p', 'tcp', '--orig-port-src', port])], ...(await Promise.all(env.hosts.hosts.map(async (h) => [h.name, await h.exec(['conntrack', '-L', '-p', 'tcp', '--orig-port-src', port])] as const)))] as const;
        for (const [name, r] of where) console.log(`  conntrack ${name} port ${port}:\n${r.stdout}`);
      }
    }
    expect(afterHealing).toEqual([]);
    // The agent and control-plane kills must cost nothing: the containers and the proxies' rules keep serving.
    for (const p of phases.filter((x) => x.name.startsWith('kill-agent') || x.name.startsWith('kill '))) expect(inPhase(p), p.name).toEqual([]);
    // A lost host fails the requests sent to its pods until the proxies drop them, and only then: every failure of a
    // host phase was sent before its pods were served elsewhere (1 s for reading the proxies' metrics), and few overall.
    for (const p of phases.filter((x) => x.servedAt !== undefined)) expect(inPhase(p).filter((f) => f.at > p.servedAt! + 1_000), p.name).toEqual([]);
    expect(failed.length / total).toBeLessThan(0.1);
  }, 1_200_000);
});
