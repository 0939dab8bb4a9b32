/**
 * The network benchmark (issue 7), each figure against a baseline measured
 * in the same run:
 *
 * - throughput and latency with `wrk` from the root namespace through a
 *   ClusterIP and through a NodePort (the local host's and another host's)
 *   vs the same pod reached by its pod IP, with keep-alive connections and
 *   with a new connection per request (where the NAT's per-connection cost
 *   shows). The backend is a node HTTP server run inside the pod's network
 *   namespace (nsenter into its sandbox), so the path is a pod's path and
 *   the server is fast enough not to measure itself;
 * - endpoint propagation: a pod's readiness probe starts failing → the pod
 *   turns unready in the API → the last of the 4 namespaces' rules (3 hosts
 *   and the root namespace) no longer DNAT to it: timed from the proxies'
 *   own logs (the sync of that EndpointSlice revision returned from
 *   iptables-restore), checked and also timed by polling iptables-save in
 *   every namespace (which adds its own lag), with the chain stage by
 *   stage (agent probe + status write, EndpointSlice controller, proxies);
 * - proxy sync time with 1,000 Services × 10 endpoints: a full sync, a
 *   no-op sync, one endpoint change, a partial sync of a tenth of the
 *   Services and a full resync, against the in-memory iptables and against
 *   the real iptables in a scratch network namespace, with restores cut
 *   in chunks (the default) and as one input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ENDPOINTSLICE_CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, type Deployment, type EndpointSlice, type KubeObject, type Pod, type Service } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient } from '@flotilla/client/testing';
import { httpGet, run, startServiceEnv, waitFor, type ServiceEnv } from '@flotilla/e2e';
import { DEFAULT_MAX_CHAINS_PER_RESTORE, ExecIptables, Proxier, type Iptables } from '@flotilla/proxy';
import { FakeIptables } from '@flotilla/proxy/testing';
import { print, printJson, progress, section, table, targetTable, type TargetCheck } from './report.js';
import { latencyCells, summarize, type LatencySummary } from './stats.js';

/** Knobs of the network benchmark. */
export interface NetworkBenchOptions {
  /** wrk duration per target, seconds. */
  seconds: number;
  /** wrk connections. */
  connections: number;
  /** Endpoint propagation samples. */
  propagationSamples: number;
  /** Services × endpoints for the sync-time part. */
  services: number;
  endpointsPerService: number;
  /** Skip the cluster parts (sync time only). */
  syncOnly?: boolean;
  /** Only these parts (default all): sync, throughput, propagation. */
  only?: Array<'sync' | 'throughput' | 'propagation'>;
}

/** Full-size defaults. */
export const NETWORK_DEFAULTS: NetworkBenchOptions = { seconds: 10, connections: 16, propagationSamples: 20, services: 1000, endpointsPerService: 10 };
/** Smoke-sized run. */
export const NETWORK_QUICK: NetworkBenchOptions = { seconds: 2, connections: 8, propagationSamples: 3, services: 100, endpointsPerService: 10 };

/** One wrk measurement. */
interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Parses `wrk --latency` output: Requests/sec, the 50%/99% lines (ms), socket errors and non-2xx. */
export function parseWrk(out: string): WrkResult {
  const ms = (s: string | undefined) => {
    const m = /([\d.]+)(us|ms|s)/.exec(s ?? '');
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const p50 = ms(/\s50%\s+(\S+)/.exec(out)?.[1]);
  const p99 = ms(/\s99%\s+(\S+)/.exec(out)?.[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  return { rps, p50, p99, errors };
}

async function wrk(url: string, o: NetworkBenchOptions, close: boolean): Promise<WrkResult> {
  const args = ['-t', '2', '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), url];
  const r = await run('wrk', args, { timeout: (o.seconds + 30) * 1000 });
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return parseWrk(r.stdout);
}

/** A fast HTTP server for the pod's namespace: answers every request with a short body, keep-alive. */
const SERVER = `require('http').createServer((q,s)=>{s.setHeader('content-type','text/plain');s.end(process.env.POD+'\\n')}).listen(8080,'0.0.0.0',()=>console.log('listening'))`;

/** Starts the fast server in a pod's network namespace (through its sandbox's PID); returns the child. */
async function startPodServer(env: ServiceEnv, pod: Pod): Promise<ChildProcess> {
  const host = env.hostOf(pod);
  const sandbox = (await host.docker(['ps', '-q', '--filter', `label=io.flotilla.pod.uid=${pod.metadata.uid}`, '--filter', 'label=io.flotilla.type=sandbox'])).split('\n')[0];
  if (!sandbox) throw new Error(`no sandbox for ${pod.metadata.name}`);
  const pid = (await host.docker(['inspect', '-f', '{{.State.Pid}}', sandbox])).trim();
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, POD: pod.metadata.name } });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`pod server for ${pod.metadata.name} exited ${code}`)));
  });
  return child;
}

/** Busybox pods that stay up, with a readiness probe on a file the benchmark can remove. */
function backendDeployment(ns: string, name: string, replicas: number): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'c',
              image: 'flotilla/busybox:1',
              command: ['sh', '-c', 'touch /tmp/ready; trap "exit 0" TERM; while true; do sleep 1; done'],
              readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 1, successThreshold: 1 },
              resources: { requests: { cpu: '10m', memory: '8Mi' } },
            },
          ],
        },
      },
    },
  } as Deployment;
}

const isReady = (p: Pod) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** Sync time of one Proxier over `services` × `endpoints`, against `iptables`. */
async function syncTimes(o: NetworkBenchOptions, iptables: Iptables, prefix: string, maxChainsPerRestore?: number): Promise<{ full: number; noop: number; oneEndpoint: number; partial: number; fullAgain: number; rules: number }> {
  const objects: KubeObject[] = [];
  for (let s = 0; s < o.services; s++) {
    const name = `svc-${s}`;
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' }, spec: { clusterIP: `10.96.${Math.floor(s / 250)}.${(s % 250) + 1}`, type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30000 + s }] } } as Service);
    objects.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'bench', labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER_NAME } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: o.endpointsPerService }, (_, e) => ({ addresses: [`10.244.${(s * o.endpointsPerService + e) >> 8 & 255}.${(s * o.endpointsPerService + e) & 255}`], nodeName: `node-${e % 3}`, conditions: { ready: true, serving: true, terminating: false } })),
    } as EndpointSlice);
  }
  const client = new FakeApiClient({ objects });
  const informers = new InformerFactory(client);
  const ac = new AbortController();
  informers.start(ac.signal);
  const proxier = new Proxier({ informers, iptables, rules: { prefix, nodeName: 'node-0', clusterCIDR: '10.244.0.0/16' }, ...(maxChainsPerRestore ? { maxChainsPerRestore } : {}) });
  await informers.waitForSync(ac.signal);
  const time = async (full: boolean) => {
    const t = performance.now();
    await proxier.sync(full);
    return performance.now() - t;
  };
  const full = await time(true);
  const noop = await time(false);
  const slices = informers.informer<EndpointSlice>('endpointslices');
  const s = client.peek<EndpointSlice>('endpointslices', 'bench', 'svc-500-1') ?? client.peek<EndpointSlice>('endpointslices', 'bench', 'svc-0-1')!;
  const changed = { ...s, endpoints: s.endpoints.map((e, i) => (i === 0 ? { ...e, conditions: { ready: false, serving: false, terminating: true } } : e)) };
  const updated = await client.resource<EndpointSlice>('endpointslices').update(changed);
  await waitFor(() => slices.store.get(`bench/${s.metadata.name}`)?.metadata.resourceVersion === updated.metadata.resourceVersion, { message: 'slice change in the cache' });
  const oneEndpoint = await time(false);
  // A partial sync of a tenth of the Services: each loses one endpoint.
  let last = updated;
  for (let i = 0; i < o.services; i += 10) {
    const x = client.peek<EndpointSlice>('endpointslices', 'bench', `svc-${i}-1`)!;
    last = await client.resource<EndpointSlice>('endpointslices').update({ ...x, endpoints: x.endpoints.slice(1) });
  }
  await waitFor(() => slices.lastSyncResourceVersion() === last.metadata.resourceVersion, { message: 'partial changes in the cache' });
  const partial = await time(false);
  const fullAgain = await time(true);
  ac.abort();
  const rules = (await iptables.save('nat')).split('\n').filter((l) => l.startsWith('-A ')).length;
  return { full, noop, oneEndpoint, partial, fullAgain, rules };
}

/** Runs the network benchmark and prints its tables and BENCH_JSON line. */
export async function runNetworkBench(o: NetworkBenchOptions): Promise<void> {
  const result: Record<string, unknown> = { options: o };
  const checks: TargetCheck[] = [];

  const want = (part: 'sync' | 'throughput' | 'propagation') => !o.only || o.only.includes(part);
  if (want('sync')) {
    section(`proxy sync time: ${o.services} Services × ${o.endpointsPerService} endpoints (ms)`);
    progress('sync time against the in-memory iptables');
    const fake = await syncTimes(o, new FakeIptables(), 'KUBE');
    const netns = `fbench${randomBytes(3).toString('hex')}`;
    let real: Awaited<ReturnType<typeof syncTimes>> | undefined;
    let single: Awaited<ReturnType<typeof syncTimes>> | undefined;
    const ipt = (await run('iptables', ['-V'])).stdout.trim();
    for (const chunked of [true, false]) {
      const made = await run('ip', ['netns', 'add', netns]);
      try {
        if (made.code === 0) {
          progress(`sync time against the real iptables (${ipt}) in scratch namespace ${netns}, ${chunked ? 'chunked restores' : 'one restore per sync'}`);
          const r = await syncTimes(o, new ExecIptables({ wrap: ['nsenter', `--net=/var/run/netns/${netns}`, '--'] }), 'KUBE', chunked ? undefined : Number.POSITIVE_INFINITY);
          if (chunked) real = r;
          else single = r;
        }
      } finally {
        if (made.code === 0) await run('ip', ['netns', 'del', netns]);
      }
    }
    print(table(['iptables', 'full sync', 'no-op sync', 'one endpoint change', 'partial (1/10 of services)', 'full resync', 'nat rules'], [
      ['in-memory (rule generation + diff)', fake.full, fake.noop, fake.oneEndpoint, fake.partial, fake.fullAgain, fake.rules],
      ...(real ? [[`real, chunks of ${DEFAULT_MAX_CHAINS_PER_RESTORE} chains`, real.full, real.noop, real.oneEndpoint, real.partial, real.fullAgain, real.rules] as const] : []),
      ...(single ? [['real, one iptables-restore per sync', single.full, single.noop, single.oneEndpoint, single.partial, single.fullAgain, single.rules] as const] : []),
    ]));
    result.sync = { iptables: ipt, fake, real, single };
    if (real) checks.push({ name: 'one endpoint change, real iptables', target: '< 1000 ms (kube-proxy: seconds at 5,000 nodes)', measured: `${Math.round(real.oneEndpoint)} ms`, met: real.oneEndpoint < 1000 });
    if (real) checks.push({ name: 'full sync, real iptables', target: '< 5000 ms (kube-proxy: seconds)', measured: `${Math.round(real.full)} ms`, met: real.full < 5000 });
  }
  if (o.syncOnly || (!want('throughput') && !want('propagation'))) {
    print('');
    print(targetTable(checks));
    printJson('network', result);
    return;
  }

  progress('starting 3 hosts, the control plane, agents and proxies');
  const env = await startServiceEnv({ hosts: 3, prefix: 'nb' });
  const servers: ChildProcess[] = [];
  try {
    const api = env.cluster.client;
    const ns = `net-${randomBytes(3).toString('hex')}`;
    await api.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await api.resource<Deployment>('deployments').create(backendDeployment(ns, 'prop', 3));
    if (want('throughput')) {
      await api.resource<Deployment>('deployments').create(backendDeployment(ns, 'one', 1));
      // NodePorts are measured on the backend's own host and on another one (one more hop).
      const one = await waitFor(async () => (await api.resource<Pod>('pods').list(ns, { labelSelector: 'app=one' })).items.find(isReady), { timeout: 120_000, message: 'backend pod ready' });
      const svc = await api.resource<Service>('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'one', namespace: ns }, spec: { type: 'NodePort', selector: { app: 'one' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
      servers.push(await startPodServer(env, one));
      const podIP = one.status!.podIP!;
      const local = env.hostOf(one);
      const remote = env.hosts.hosts.find((h) => h !== local)!;
      const nodePort = svc.spec!.ports![0]!.nodePort!;
      const targets = [
        { name: 'pod IP (direct)', url: `http://${podIP}:8080/` },
        { name: 'ClusterIP', url: `http://${svc.spec!.clusterIP}:80/` },
        { name: `NodePort, pod's host (${local.name})`, url: `http://${local.ip}:${nodePort}/` },
        { name: `NodePort, other host (${remote.name})`, url: `http://${remote.ip}:${nodePort}/` },
      ];
      for (const t of targets) await waitFor(async () => (await httpGet(t.url)).status === 200, { timeout: 30_000, message: `${t.name} answering` });

      const rows: Array<[string, string, WrkResult]> = [];
      for (const close of [false, true]) {
        for (const t of targets) {
          progress(`wrk ${o.seconds}s c=${o.connections} ${close ? 'new connection per request' : 'keep-alive'}: ${t.name}`);
          rows.push([t.name, close ? 'new conn/request' : 'keep-alive', await wrk(t.url, o, close)]);
        }
      }
      section(`throughput and latency from the root namespace (wrk -t2 -c${o.connections} -d${o.seconds}s)`);
      const base = (mode: string) => rows.find((r) => r[1] === mode && r[0] === 'pod IP (direct)')![2];
      print(table(['target', 'connections', 'req/s', 'x direct', 'p50 ms', 'p99 ms', 'p99 x direct', 'errors'], rows.map(([n, m, r]) => [n, m, r.rps, r.rps / base(m).rps, r.p50, r.p99, r.p99 / base(m).p99, r.errors])));
      result.throughput = rows.map(([target, mode, r]) => ({ target, mode, ...r }));
      const get = (prefix: string, mode: string) => rows.find((r) => r[0].startsWith(prefix) && r[1] === mode)![2];
      for (const mode of ['keep-alive', 'new conn/request']) {
        const b = base(mode);
        const c = get('ClusterIP', mode);
        const n = get('NodePort, other', mode);
        checks.push({ name: `ClusterIP req/s vs direct (${mode})`, target: '≥ 0.95×', measured: `${(c.rps / b.rps).toFixed(2)}×`, met: c.rps >= 0.95 * b.rps });
        checks.push({ name: `NodePort (other host) req/s vs direct (${mode})`, target: '≥ 0.9×', measured: `${(n.rps / b.rps).toFixed(2)}×`, met: n.rps >= 0.9 * b.rps });
        checks.push({ name: `ClusterIP p99 vs direct (${mode})`, target: '≤ 1.2×', measured: `${(c.p99 / b.p99).toFixed(2)}×`, met: c.p99 <= 1.2 * b.p99 });
      }
    }

    if (want('propagation')) {
    // Endpoint propagation: readiness fails → pod unready in the API → gone from the last namespace's rules.
    progress(`endpoint propagation, ${o.propagationSamples} samples`);
    await waitFor(async () => (await api.resource<Pod>('pods').list(ns, { labelSelector: 'app=prop' })).items.filter(isReady).length === 3, { timeout: 120_000, message: '3 prop pods ready' });
    await api.resource<Service>('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'prop', namespace: ns }, spec: { selector: { app: 'prop' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    const namespaces = [() => run('iptables-save', ['-t', 'nat']), ...env.hosts.hosts.map((h) => () => h.exec(['iptables-save', '-t', 'nat']))];
    const dnatIn = async (ip: string) => {
      const saves = await Promise.all(namespaces.map((f) => f()));
      return saves.map((s) => s.stdout.split('\n').some((l) => l.includes(`${ns}/prop:http`) && l.includes(`--to-destination ${ip}:8080`)));
    };
    const samples: number[] = [];
    const apiToRules: number[] = [];
    /** API unready (watch) → the last proxy's iptables-restore of that change returned (its log): the rules no longer send to the pod. */
    const applied: number[] = [];
    // The chain, per sample (ms): probe (file removed → unready in a watch), slice (→ its EndpointSlice
    // update in a watch), proxy (→ each proxy's sync of that revision done, from its log), observed (→ the
    // bench sees every namespace without the DNAT; its polling lag).
    const stages = { probe: [] as number[], slice: [] as number[], firstProxy: [] as number[], lastProxy: [] as number[], syncMs: [] as number[], observed: [] as number[] };
    const seen = new Map<string, number>();
    const informers = new InformerFactory(api);
    const watchAc = new AbortController();
    const podInf = informers.informer<Pod>('pods', { namespace: ns });
    const sliceInf = informers.informer<EndpointSlice>('endpointslices', { namespace: ns });
    podInf.addEventHandler({ onUpdate: (_o, p) => { if (!isReady(p) && !seen.has(`pod/${p.status?.podIP}`)) seen.set(`pod/${p.status?.podIP}`, Date.now()); } });
    sliceInf.addEventHandler({
      onUpdate: (_o, sl) => {
        if (sl.metadata.labels?.[SERVICE_NAME_LABEL] !== 'prop') return;
        for (const e of sl.endpoints ?? []) {
          const k = `slice/${e.addresses[0]}`;
          if (e.conditions?.ready === false && !seen.has(k)) seen.set(k, Date.now()), seen.set(`rv/${e.addresses[0]}`, Number(sl.metadata.resourceVersion));
        }
      },
    });
    informers.start(watchAc.signal);
    await informers.waitForSync(watchAc.signal);
    /** When each proxy's log says it finished syncing revision ≥ rv after `since` (epoch ms), and that sync's duration. */
    const proxySyncs = (rv: number, since: number) => [...env.proxies.values()].map((p) => {
      for (const line of p.logs().split('\n')) {
        if (!line.includes('synced proxy rules')) continue;
        try {
          const l = JSON.parse(line) as { time: number; ms: number; resourceVersion?: string };
          if (l.time >= since && Number(l.resourceVersion) >= rv) return { done: l.time, ms: l.ms };
        } catch {
          // not a JSON line
        }
      }
      return undefined;
    });
    for (let i = 0; i < o.propagationSamples; i++) {
      // All three ready again (a loaded machine can make an exec probe time out), then take the next one.
      const pods = await waitFor(async () => {
        const ready = (await api.resource<Pod>('pods').list(ns, { labelSelector: 'app=prop' })).items.filter(isReady);
        return ready.length === 3 ? ready : undefined;
      }, { timeout: 60_000, message: '3 prop pods ready' });
      const victim = pods[i % pods.length]!;
      const ip = victim.status!.podIP!;
      await waitFor(async () => (await dnatIn(ip)).every(Boolean), { timeout: 30_000, message: `${ip} in every namespace's rules` });
      for (const k of [`pod/${ip}`, `slice/${ip}`, `rv/${ip}`]) seen.delete(k);
      await env.execInPod(victim, ['rm', '-f', '/tmp/ready']);
      const removedAt = performance.now();
      const removedWall = Date.now();
      // When the API says unready (the agent's status write), and when the last namespace drops it.
      let unreadyAt = Number.NaN;
      const watchUnready = (async () => {
        await waitFor(async () => !isReady(await api.resource<Pod>('pods').get(ns, victim.metadata.name!)), { timeout: 30_000, interval: 10, message: 'pod unready in the API' });
        unreadyAt = performance.now();
      })();
      await waitFor(async () => !(await dnatIn(ip)).some(Boolean), { timeout: 30_000, interval: 10, message: `${ip} gone from every namespace` });
      const goneAt = performance.now();
      const goneWall = Date.now();
      await watchUnready;
      samples.push(goneAt - unreadyAt);
      apiToRules.push(goneAt - removedAt);
      const podWall = seen.get(`pod/${ip}`);
      const sliceWall = seen.get(`slice/${ip}`);
      const syncs = proxySyncs(seen.get(`rv/${ip}`) ?? Infinity, removedWall).filter((x) => x !== undefined);
      if (podWall && sliceWall && syncs.length === env.proxies.size) {
        const last = Math.max(...syncs.map((x) => x.done));
        stages.probe.push(podWall - removedWall);
        stages.slice.push(sliceWall - podWall);
        stages.firstProxy.push(Math.min(...syncs.map((x) => x.done)) - sliceWall);
        stages.lastProxy.push(last - sliceWall);
        stages.syncMs.push(...syncs.map((x) => x.ms));
        stages.observed.push(goneWall - last);
        applied.push(last - podWall);
      }
      await env.execInPod(victim, ['touch', '/tmp/ready']);
    }
    watchAc.abort();
    const prop = summarize(samples.map((s) => Math.max(0, s)));
    const probeToRules = summarize(apiToRules);
    const appliedSummary = summarize(applied.map((s) => Math.max(0, s)));
    section('endpoint propagation, 3 hosts + the root namespace (ms)');
    print(table(['from', 'to', 'n', 'p50', 'p90', 'p99', 'max'], [
      ['pod unready (watch event)', "last proxy's restore returned (its log)", ...latencyCells(appliedSummary)],
      ['pod unready in the API (GET polling)', 'bench sees no DNAT in any namespace (iptables-save polling)', ...latencyCells(prop)],
      ['readiness file removed (probe period 1 s)', 'last namespace without its DNAT', ...latencyCells(probeToRules)],
    ]));
    const st = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, summarize(v.map((x) => Math.max(0, x)))]));
    section('endpoint propagation, stage by stage (ms; watch events and proxy logs)');
    print(table(['stage', 'n', 'p50', 'p90', 'p99', 'max'], [
      ['readiness file removed → pod unready (agent probe + status write)', ...latencyCells(st.probe!)],
      ['pod unready → EndpointSlice updated (controller manager)', ...latencyCells(st.slice!)],
      ['slice updated → first proxy synced', ...latencyCells(st.firstProxy!)],
      ['slice updated → last proxy synced', ...latencyCells(st.lastProxy!)],
      ['  of which: one proxy sync (rules + iptables-restore)', ...latencyCells(st.syncMs!)],
      ['last proxy synced → bench saw it (iptables-save polling)', ...latencyCells(st.observed!)],
    ]));
    result.propagation = { apiToLastProxy: appliedSummary, apiToRules: prop, probeToRules, stages: st };
    checks.push({ name: "endpoint propagation p99 (API unready → last host's rules, proxy logs)", target: '≤ 500 ms', measured: `${Math.round(appliedSummary.p99)} ms`, met: appliedSummary.p99 <= 500 });
    checks.push({ name: 'endpoint propagation p99 (as polled with iptables-save)', target: '≤ 500 ms', measured: `${Math.round(prop.p99)} ms`, met: prop.p99 <= 500 });
    const syncHist = await Promise.all([...env.proxies.values()].map(async (p) => [p.name, await p.metric('kubeproxy_sync_proxy_rules_duration_seconds_sum'), await p.metric('kubeproxy_sync_proxy_rules_duration_seconds_count')] as const));
    result.proxySyncs = syncHist.map(([name, sum, count]) => ({ name, meanMs: (sum / Math.max(1, count)) * 1000, count }));
    }
  } finally {
    for (const s of servers) s.kill('SIGTERM');
    await env.stop();
  }
  section('targets');
  print(targetTable(checks));
  printJson('network', result);
}

export type { LatencySummary };
