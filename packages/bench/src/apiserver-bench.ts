/**
 * The apiserver benchmark (issue 2): the real `flotilla apiserver` process
 * over HTTPS on a dedicated etcd, driven by @flotilla/client's RestClient,
 * against the bare-etcd baseline measured in the same run.
 */
import { fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { KubeObject, Pod } from '@flotilla/api';
import { RestClient, type ResourceClient } from '@flotilla/client';
import { etcdClient, measureEtcdBaseline, type EtcdBaseline } from './etcd-baseline.js';
import { benchPod, WRITTEN_AT_ANNOTATION } from './fixtures.js';
import { mapLimit, runClosedLoop, type ClosedLoopResult } from './load.js';
import { deleteEtcdPrefix, freePort } from '@flotilla/e2e';
import { cpuSeconds, etcdEndpoints, etcdPid, rssMiB, startApiServer, type BenchApiServer } from './processes.js';
import type { WatchersMessage } from './bin/watchers.js';
import { print, printJson, progress, section, table, targetTable, type TargetCheck } from './report.js';
import { ratio, summarize, type LatencySummary } from './stats.js';

/** Knobs of the apiserver benchmark. */
export interface ApiserverBenchOptions {
  /** Concurrent clients for GET and create (default 1, 16, 64). */
  concurrencies: number[];
  /** Measured time of each closed-loop run (ms). */
  durationMs: number;
  /** Discarded warm-up at the start of each run (ms). */
  warmupMs: number;
  /** Pods in the LIST benchmark (default 10,000). */
  listSize: number;
  /** Times the LIST is repeated. */
  listRepeats: number;
  /** Open watches in the delivery benchmark (default 1,000). */
  watchers: number;
  /** Pods written while the watches are open. */
  watchWrites: number;
  /** Pause between two of those writes (ms), so delivery, not a backlog, is measured. */
  watchIntervalMs: number;
  /** Keys written beside the GET target for the full-store GET (default 300,000, about 150,000 pods and their Events). */
  storeFill: number;
  /** Concurrent clients of the full-store GET (default 1 and 16). */
  fullStoreConcurrencies: number[];
  /** Start the apiserver with node --cpu-prof, writing the profile into this directory. */
  cpuProfDir?: string;
}

/** Full-size defaults: what the issue's targets are stated for. */
export const APISERVER_DEFAULTS: ApiserverBenchOptions = {
  concurrencies: [1, 16, 64],
  durationMs: 5_000,
  warmupMs: 1_000,
  listSize: 10_000,
  listRepeats: 5,
  watchers: 1_000,
  watchWrites: 100,
  watchIntervalMs: 100,
  storeFill: 300_000,
  fullStoreConcurrencies: [1, 16],
};

/** A smoke-sized run that finishes in seconds (for tests and a quick check). */
export const APISERVER_QUICK: ApiserverBenchOptions = {
  concurrencies: [1, 4],
  durationMs: 300,
  warmupMs: 100,
  listSize: 100,
  listRepeats: 2,
  watchers: 10,
  watchWrites: 10,
  watchIntervalMs: 10,
  storeFill: 2_000,
  fullStoreConcurrencies: [1],
};

/** Watch delivery figures. */
export interface WatchResult {
  watchers: number;
  writes: number;
  deliveries: number;
  missing: number;
  /** Write start → event received, over every (watcher, event) pair. */
  delivery: LatencySummary;
  /** Write start → the last watcher received it, per write. */
  fanoutComplete: LatencySummary;
  /** Write start → a direct etcd3 watch saw it: the floor. */
  etcdWatch: LatencySummary;
  /** Write start → the create request answered. */
  write: LatencySummary;
  openMs: number;
  /** CPU the watcher process spent while the measured events flowed. */
  watcherCpuSeconds: number;
}

/** Everything the apiserver benchmark measured. */
export interface ApiserverBenchResult {
  baseline: EtcdBaseline;
  get: ClosedLoopResult[];
  create: ClosedLoopResult[];
  list: { pods: number; bytes: number; fill: ClosedLoopResult; apiserver: LatencySummary; etcdRange: LatencySummary };
  watch: WatchResult;
  /** GET of one pod again once the store holds `keys` more keys, beside bare etcd gets in that store. */
  fullStore: { keys: number; fillMs: number; get: ClosedLoopResult[]; etcdGet: ClosedLoopResult[] };
  apiserverRssMiB: { idle: number; afterList: number; withWatches: number };
  cpuSeconds: { apiserver: number; bench: number };
  targets: TargetCheck[];
  /** Cores and 1-minute load average before and after: other work on the machine skews every figure. */
  machine: { cpus: number; loadBefore: number; loadAfter: number };
}

const now = () => performance.timeOrigin + performance.now();

/** Runs the whole apiserver benchmark, printing as it goes; returns the figures. */
export async function runApiserverBench(opts: ApiserverBenchOptions): Promise<ApiserverBenchResult> {
  const endpoints = etcdEndpoints();
  const etcd = etcdClient(endpoints);
  const benchCpu0 = process.cpuUsage();
  const loadBefore = loadavg()[0]!;
  section(`apiserver benchmark (etcd ${endpoints.join(',')}, ${opts.durationMs} ms per run after ${opts.warmupMs} ms warm-up)`);

  progress('bare etcd baseline (etcd3 put/get)');
  const baseline = await measureEtcdBaseline(endpoints, opts.concurrencies, opts.durationMs, opts.warmupMs, { etcd: etcdPid() });

  progress('starting flotilla apiserver');
  const server = await startApiServer({
    port: await freePort(),
    nodeFlags: opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [],
  });
  const apiCpu0 = cpuSeconds(server.pids());
  const config = { server: server.url, ca: server.caPem, token: server.adminToken };
  const client = new RestClient(config, { connections: Math.max(...opts.concurrencies) + 8, userAgent: 'flotilla-bench' });
  const namespaces = client.resource('namespaces');
  const pods = client.resource<Pod>('pods');
  const rss = { idle: Number.NaN, afterList: Number.NaN, withWatches: Number.NaN };
  try {
    for (const ns of ['bench', 'bench-list', 'bench-watch']) await namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await pods.create(benchPod('bench', 'get-target'));
    rss.idle = rssMiB(server.pids());

    const get: ClosedLoopResult[] = [];
    const create: ClosedLoopResult[] = [];
    for (const c of opts.concurrencies) {
      progress(`GET at ${c} concurrent clients`);
      const cpuOf = { apiserver: server.pids(), etcd: etcdPid() };
      get.push(await runClosedLoop({ concurrency: c, durationMs: opts.durationMs, warmupMs: opts.warmupMs, cpuOf, op: () => pods.get('bench', 'get-target') }));
      progress(`create at ${c} concurrent clients`);
      create.push(await runClosedLoop({ concurrency: c, durationMs: opts.durationMs, warmupMs: opts.warmupMs, cpuOf, op: (seq) => pods.create(benchPod('bench', `c${c}-${seq}`)) }));
    }

    progress(`filling bench-list with ${opts.listSize} pods (64 concurrent creates)`);
    const fill = await runClosedLoop({ concurrency: 64, durationMs: 10 * 60_000, maxOps: opts.listSize, op: (seq) => pods.create(benchPod('bench-list', `pod-${seq}`)) });
    if (fill.errors) throw new Error(`filling the list namespace failed ${fill.errors} times: ${fill.firstError}`);
    progress(`LIST of ${opts.listSize} pods x${opts.listRepeats}`);
    const list = await measureList(client, etcd, server.prefix, opts);
    rss.afterList = rssMiB(server.pids());

    progress(`watch delivery with ${opts.watchers} watches`);
    const watch = await measureWatch(pods, server, etcd, opts, () => (rss.withWatches = rssMiB(server.pids())));

    const fullStore = await measureFullStoreGet(pods, server, etcd, opts);

    const result: ApiserverBenchResult = {
      baseline,
      get,
      create,
      list: { ...list, fill },
      watch,
      fullStore,
      apiserverRssMiB: rss,
      cpuSeconds: { apiserver: cpuSeconds(server.pids()) - apiCpu0, bench: (process.cpuUsage(benchCpu0).user + process.cpuUsage(benchCpu0).system) / 1e6 },
      targets: [],
      machine: { cpus: cpus().length, loadBefore, loadAfter: loadavg()[0]! },
    };
    result.targets = checkTargets(result, opts);
    printApiserverResult(result, opts);
    return result;
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
    await deleteEtcdPrefix(etcdEndpoints(), `${server.prefix}/`).catch(() => undefined);
    etcd.close();
    if (opts.cpuProfDir) progress(`apiserver CPU profile in ${opts.cpuProfDir} (summarise: bench profile <file>)`);
  }
}

/**
 * GET of one pod in a store grown to `storeFill` more keys (Events, written
 * straight into etcd under the apiserver's prefix), at each of
 * `fullStoreConcurrencies`, beside bare etcd gets in the same store. A GET
 * that cost more as the store grows (etcd 3.4 walks every key of a range
 * for a count) shows here as etcd CPU per GET far above the empty store's.
 */
async function measureFullStoreGet(pods: ResourceClient<Pod>, server: BenchApiServer, etcd: ReturnType<typeof etcdClient>, opts: ApiserverBenchOptions) {
  progress(`writing ${opts.storeFill} Events straight into etcd (128 a transaction)`);
  const t0 = now();
  for (let i = 0; i < opts.storeFill; i += 128) {
    const ops = [];
    for (let j = i; j < Math.min(opts.storeFill, i + 128); j++) {
      const name = `fill-${j}`;
      const event = { apiVersion: 'v1', kind: 'Event', metadata: { name, namespace: 'bench-fill', uid: `00000000-0000-4000-8000-${String(j).padStart(12, '0')}` }, involvedObject: { kind: 'Pod', namespace: 'bench-fill', name: `pod-${j}` }, reason: 'Scheduled', message: `Successfully assigned bench-fill/pod-${j} to node-${j % 5000}`, type: 'Normal', count: 1 };
      ops.push({ request_put: { key: Buffer.from(`${server.prefix}/events/bench-fill/${name}`), value: Buffer.from(JSON.stringify(event)) } });
    }
    await etcd.kv.txn({ success: ops });
  }
  const fillMs = now() - t0;
  const get: ClosedLoopResult[] = [];
  for (const c of opts.fullStoreConcurrencies) {
    progress(`GET at ${c} concurrent clients in a store of ${opts.storeFill} more keys`);
    get.push(await runClosedLoop({ concurrency: c, durationMs: opts.durationMs, warmupMs: opts.warmupMs, cpuOf: { apiserver: server.pids(), etcd: etcdPid() }, op: () => pods.get('bench', 'get-target') }));
  }
  progress('bare etcd get in the same store');
  const base = await measureEtcdBaseline(etcdEndpoints(), opts.fullStoreConcurrencies, opts.durationMs, opts.warmupMs, { etcd: etcdPid() }, ['get']);
  return { keys: opts.storeFill, fillMs, get, etcdGet: base.get };
}

async function measureList(client: RestClient, etcd: ReturnType<typeof etcdClient>, prefix: string, opts: ApiserverBenchOptions) {
  const apiserver: number[] = [];
  const etcdRange: number[] = [];
  let bytes = 0;
  for (let i = 0; i < opts.listRepeats; i++) {
    let t0 = performance.now();
    const kvs = await etcd.getAll().prefix(`${prefix}/pods/bench-list/`).buffers();
    const parsed = Object.values(kvs).map((b) => JSON.parse(b.toString('utf8')) as KubeObject);
    etcdRange.push(performance.now() - t0);
    if (parsed.length !== opts.listSize) throw new Error(`etcd holds ${parsed.length} pods in bench-list, expected ${opts.listSize}`);
    t0 = performance.now();
    const body = await client.request<{ items: unknown[] }>({ method: 'GET', path: '/api/v1/namespaces/bench-list/pods' });
    apiserver.push(performance.now() - t0);
    bytes = Buffer.byteLength(JSON.stringify(body));
    const items = body.items.length;
    if (items !== opts.listSize) throw new Error(`LIST returned ${items} pods, expected ${opts.listSize}`);
  }
  return { pods: opts.listSize, bytes, apiserver: summarize(apiserver), etcdRange: summarize(etcdRange) };
}

async function measureWatch(
  writer: ResourceClient<Pod>,
  server: BenchApiServer,
  etcd: ReturnType<typeof etcdClient>,
  opts: ApiserverBenchOptions,
  sampleRss: () => void,
): Promise<WatchResult> {
  const ns = 'bench-watch';
  // The watches live in a child process: decoding 1,000 streams there does
  // not delay this process's write clock or its direct-etcd floor.
  const caFile = join(server.dir, 'bench-ca.crt');
  await writeFile(caFile, server.caPem);
  const child = fork(fileURLToPath(new URL('./bin/watchers.js', import.meta.url)), [server.url, caFile, server.adminToken, ns, String(opts.watchers)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const childCpu0 = cpuSeconds(child.pid);
  let synced = 0;
  let resolveResult!: (m: Extract<WatchersMessage, { type: 'result' }>) => void;
  const resultP = new Promise<Extract<WatchersMessage, { type: 'result' }>>((r) => (resolveResult = r));
  child.on('message', (m: WatchersMessage) => {
    if (m.type === 'synced') synced = m.count;
    else resolveResult(m);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  // The etcd floor: one direct watch on the same keys, in this process.
  const etcdDelivery: number[] = [];
  const etcdWatcher = await etcd.watch().prefix(`${server.prefix}/pods/${ns}/`).create();
  etcdWatcher.on('put', (kv) => {
    const received = now();
    const obj = JSON.parse(kv.value.toString('utf8')) as KubeObject;
    const at = Number(obj.metadata.annotations?.[WRITTEN_AT_ANNOTATION]);
    if (Number.isFinite(at)) etcdDelivery.push(received - at);
  });

  try {
    const t0 = performance.now();
    // Every watch is open once each has seen a sync pod written after it started.
    let syncN = 0;
    const deadline = Date.now() + 120_000;
    while (synced < opts.watchers) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`only ${synced}/${opts.watchers} watches open after ${((Date.now() - deadline + 120_000) / 1000).toFixed(0)} s`);
      await writer.create(benchPod(ns, `sync-${syncN++}`));
      await new Promise((r) => setTimeout(r, 500));
    }
    const openMs = performance.now() - t0;
    sampleRss();
    // Let the sync events drain before the clock starts.
    await new Promise((r) => setTimeout(r, 1000));

    const writeLatency: number[] = [];
    const writes: Promise<void>[] = [];
    for (let i = 0; i < opts.watchWrites; i++) {
      const name = `w-${i}`;
      writes.push(
        (async () => {
          const at = now();
          await writer.create(benchPod(ns, name, { annotations: { [WRITTEN_AT_ANNOTATION]: String(at) } }));
          writeLatency.push(now() - at);
        })(),
      );
      await new Promise((r) => setTimeout(r, opts.watchIntervalMs));
    }
    await Promise.all(writes);
    // Give the last events time to arrive (delivery is measured per event, so waiting adds nothing to it).
    await new Promise((r) => setTimeout(r, Math.max(2000, opts.watchIntervalMs * 5)));
    const watcherCpu = cpuSeconds(child.pid) - childCpu0;
    child.send({ type: 'finish' });
    const result = await Promise.race([
      resultP,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 120_000).unref()),
    ]);
    if (!result) throw new Error('the watcher process sent no result within 120 s');
    if (result.errors) progress(`${result.errors} watches failed: ${result.firstError}`);
    const expected = opts.watchers * opts.watchWrites;
    return {
      watchers: opts.watchers,
      writes: opts.watchWrites,
      deliveries: result.delivery.length,
      missing: expected - result.delivery.length,
      delivery: summarize(result.delivery),
      fanoutComplete: summarize(Object.values(result.lastByName)),
      etcdWatch: summarize(etcdDelivery),
      write: summarize(writeLatency),
      openMs,
      watcherCpuSeconds: watcherCpu,
    };
  } finally {
    await etcdWatcher.cancel();
    if (child.exitCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

function checkTargets(r: ApiserverBenchResult, opts: ApiserverBenchOptions): TargetCheck[] {
  const bestGet = Math.max(...r.get.map((x) => x.opsPerSec));
  const bestCreate = r.create.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
  const createsP99Ok = r.create.filter((x) => x.latency.p99 < 50);
  const bestCreateUnder50 = createsP99Ok.length ? Math.max(...createsP99Ok.map((x) => x.opsPerSec)) : 0;
  const at16 = r.create.find((x) => x.concurrency === 16);
  const n = (v: number, d = 0) => v.toFixed(d);
  const checks: TargetCheck[] = [
    { name: 'GET throughput', target: '>= 2000/s', measured: `${n(bestGet)}/s (best of c=${opts.concurrencies.join('/')})`, met: bestGet >= 2000 },
    {
      name: 'create throughput with p99 < 50 ms',
      target: '>= 500/s',
      measured: `${n(bestCreateUnder50)}/s (best overall ${n(bestCreate.opsPerSec)}/s at c=${bestCreate.concurrency}, p99 ${n(bestCreate.latency.p99, 1)} ms)`,
      met: bestCreateUnder50 >= 500,
    },
    ...(at16
      ? [
          {
            name: 'create at 16 clients (issue 11)',
            target: '>= 1000/s, p99 < 50 ms',
            measured: `${n(at16.opsPerSec)}/s, p99 ${n(at16.latency.p99, 1)} ms`,
            met: at16.opsPerSec >= 1000 && at16.latency.p99 < 50,
          },
        ]
      : []),
    { name: `LIST ${r.list.pods} pods`, target: '< 1000 ms', measured: `${n(r.list.apiserver.p50)} ms p50, ${n(r.list.apiserver.max)} ms max`, met: r.list.apiserver.p50 < 1000 },
    {
      name: `watch delivery p99 (${r.watch.watchers} watches)`,
      target: '< 100 ms',
      measured: `${n(r.watch.delivery.p99, 1)} ms${r.watch.missing ? ` (${r.watch.missing} events missing)` : ''}`,
      met: r.watch.delivery.p99 < 100 && r.watch.missing === 0,
    },
  ];
  return checks;
}

function printApiserverResult(r: ApiserverBenchResult, opts: ApiserverBenchOptions): void {
  const rows: (string | number)[][] = [];
  const cpu = (x: ClosedLoopResult, k: string) => x.cpuMsPerOp[k] ?? Number.NaN;
  opts.concurrencies.forEach((c, i) => {
    const bp = r.baseline.put[i]!;
    const bg = r.baseline.get[i]!;
    const g = r.get[i]!;
    const cr = r.create[i]!;
    rows.push([`etcd get`, c, bg.opsPerSec, bg.latency.p50, bg.latency.p99, '1.0x', '1.0x', '', cpu(bg, 'etcd'), cpu(bg, 'bench'), bg.errors]);
    rows.push([`apiserver GET`, c, g.opsPerSec, g.latency.p50, g.latency.p99, `${ratio(g.latency.p50, bg.latency.p50)}x`, `${ratio(bg.opsPerSec, g.opsPerSec)}x`, cpu(g, 'apiserver'), cpu(g, 'etcd'), cpu(g, 'bench'), g.errors]);
    rows.push([`etcd put`, c, bp.opsPerSec, bp.latency.p50, bp.latency.p99, '1.0x', '1.0x', '', cpu(bp, 'etcd'), cpu(bp, 'bench'), bp.errors]);
    rows.push([`apiserver create`, c, cr.opsPerSec, cr.latency.p50, cr.latency.p99, `${ratio(cr.latency.p50, bp.latency.p50)}x`, `${ratio(bp.opsPerSec, cr.opsPerSec)}x`, cpu(cr, 'apiserver'), cpu(cr, 'etcd'), cpu(cr, 'bench'), cr.errors]);
  });
  section('single-object GET and create vs bare etcd (same run)');
  print(`machine: ${r.machine.cpus} cores, 1-min load average ${r.machine.loadBefore.toFixed(1)} at start, ${r.machine.loadAfter.toFixed(1)} at end (other work shares the cores)`);
  print(table(['operation', 'clients', 'ops/s', 'p50 ms', 'p99 ms', 'p50 vs etcd', 'etcd ops/s ÷ ops/s', 'CPU ms/op apiserver', 'etcd', 'bench client', 'errors'], rows));
  print('(CPU ms/op: CPU time each process spent per operation; 1000 ÷ apiserver ms/op is the ceiling of one apiserver event loop)');
  section(`LIST of ${r.list.pods} pods (${(r.list.bytes / 1048576).toFixed(1)} MiB JSON)`);
  print(
    table(
      ['path', 'p50 ms', 'max ms', 'vs etcd'],
      [
        ['etcd3 prefix range + JSON.parse', r.list.etcdRange.p50, r.list.etcdRange.max, '1.0x'],
        ['apiserver GET /pods (HTTPS, parsed)', r.list.apiserver.p50, r.list.apiserver.max, `${ratio(r.list.apiserver.p50, r.list.etcdRange.p50)}x`],
      ],
    ),
  );
  print(`(filling it: ${r.list.fill.ops} creates at 64 clients, ${r.list.fill.opsPerSec.toFixed(0)}/s, p99 ${r.list.fill.latency.p99.toFixed(1)} ms)`);
  section(`watch delivery: ${r.watch.watchers} watches, ${r.watch.writes} creates ${opts.watchIntervalMs} ms apart`);
  const w = r.watch;
  print(
    table(
      ['measure', 'count', 'p50 ms', 'p99 ms', 'max ms'],
      [
        ['etcd3 direct watch (floor)', w.etcdWatch.count, w.etcdWatch.p50, w.etcdWatch.p99, w.etcdWatch.max],
        ['create answered', w.write.count, w.write.p50, w.write.p99, w.write.max],
        ['write -> event, every watcher', w.delivery.count, w.delivery.p50, w.delivery.p99, w.delivery.max],
        ['write -> last watcher has it', w.fanoutComplete.count, w.fanoutComplete.p50, w.fanoutComplete.p99, w.fanoutComplete.max],
      ],
    ),
  );
  print(`(${w.missing} deliveries missing; opening the ${w.watchers} watches took ${(w.openMs / 1000).toFixed(1)} s; the watcher process used ${w.watcherCpuSeconds.toFixed(1)} CPU s)`);
  const fs = r.fullStore;
  section(`GET of one pod in a store of ${fs.keys} more keys (Events written straight into etcd in ${(fs.fillMs / 1000).toFixed(1)} s) vs the same GET before, and bare etcd get in the same store`);
  const fsRows: (string | number)[][] = [];
  opts.fullStoreConcurrencies.forEach((c, i) => {
    const g = fs.get[i]!;
    const eg = fs.etcdGet[i]!;
    const before = r.get[opts.concurrencies.indexOf(c)];
    if (before) fsRows.push([`apiserver GET, before the fill`, c, before.opsPerSec, before.latency.p50, before.latency.p99, cpu(before, 'apiserver'), cpu(before, 'etcd'), '1.0x']);
    fsRows.push([`apiserver GET, full store`, c, g.opsPerSec, g.latency.p50, g.latency.p99, cpu(g, 'apiserver'), cpu(g, 'etcd'), before ? `${ratio(cpu(g, 'etcd'), cpu(before, 'etcd'))}x` : '']);
    fsRows.push([`etcd get, full store`, c, eg.opsPerSec, eg.latency.p50, eg.latency.p99, '', cpu(eg, 'etcd'), '']);
  });
  print(table(['operation', 'clients', 'ops/s', 'p50 ms', 'p99 ms', 'CPU ms/op apiserver', 'etcd', 'etcd CPU vs before'], fsRows));
  section('resources');
  print(`apiserver RSS: idle ${r.apiserverRssMiB.idle.toFixed(0)} MiB, after the LIST ${r.apiserverRssMiB.afterList.toFixed(0)} MiB, with ${w.watchers} watches ${r.apiserverRssMiB.withWatches.toFixed(0)} MiB`);
  print(`CPU used: apiserver ${r.cpuSeconds.apiserver.toFixed(1)} s, benchmark clients ${r.cpuSeconds.bench.toFixed(1)} s (same 2 cores)`);
  section('targets (issues 2 and 11)');
  print(targetTable(r.targets));
  printJson('apiserver', r);
}

/** One operation measured alone (for profiling): `get`, `create` or `list` (of `listSize` pods). */
export type ApiserverOp = 'get' | 'create' | 'list';

/**
 * Runs one operation against a fresh apiserver at one concurrency, so a CPU
 * profile (`cpuProfDir`) holds only that operation's work.
 */
export async function runApiserverOp(op: ApiserverOp, concurrency: number, durationMs: number, cpuProfDir?: string, listSize = 10_000, workers = 1): Promise<ClosedLoopResult> {
  const server = await startApiServer({
    port: await freePort(),
    nodeFlags: cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [],
    workers,
  });
  const client = new RestClient({ server: server.url, ca: server.caPem, token: server.adminToken }, { connections: concurrency + 8, userAgent: 'flotilla-bench' });
  const pods = client.resource<Pod>('pods');
  try {
    await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    await pods.create(benchPod('bench', 'get-target'));
    if (op === 'list') {
      progress(`filling with ${listSize} pods`);
      await mapLimit(Array.from({ length: listSize }, (_, i) => i), 64, (i) => pods.create(benchPod('bench', `pod-${i}`)));
    }
    const run = (): Promise<unknown> => {
      if (op === 'get') return pods.get('bench', 'get-target');
      if (op === 'list') return pods.list('bench');
      return Promise.resolve();
    };
    progress(`${op} at ${concurrency} clients for ${durationMs} ms`);
    const r = await runClosedLoop({
      concurrency,
      durationMs,
      warmupMs: 1000,
      cpuOf: { apiserver: server.pids(), etcd: etcdPid() },
      op: op === 'create' ? (seq) => pods.create(benchPod('bench', `p-${seq}`)) : run,
    });
    // The same run's floor: bare etcd3 puts (pod-sized values) or gets at the same concurrency, for as long.
    progress(`baseline: bare etcd ${op === 'create' ? 'put' : 'get'} at ${concurrency} clients`);
    const base = await measureEtcdBaseline(etcdEndpoints(), [concurrency], durationMs, 1000, { etcd: etcdPid() });
    const floor = (op === 'create' ? base.put : base.get)[0]!;
    section(`apiserver${workers > 1 ? ` (${workers} workers)` : ''} ${op} alone, ${concurrency} clients, against bare etcd ${op === 'create' ? 'put' : 'get'} in the same run`);
    print(
      table(
        ['', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'CPU ms/op apiserver', 'etcd', 'bench client', 'errors'],
        [
          [`flotilla ${op}`, r.ops, r.opsPerSec, r.latency.p50, r.latency.p99, r.cpuMsPerOp.apiserver, r.cpuMsPerOp.etcd, r.cpuMsPerOp.bench, r.errors],
          [`bare etcd ${op === 'create' ? 'put' : 'get'}`, floor.ops, floor.opsPerSec, floor.latency.p50, floor.latency.p99, '-', floor.cpuMsPerOp.etcd, floor.cpuMsPerOp.bench, floor.errors],
          ['ratio (flotilla / etcd)', '', (r.opsPerSec / floor.opsPerSec).toFixed(3), (r.latency.p50 / floor.latency.p50).toFixed(2), (r.latency.p99 / floor.latency.p99).toFixed(2), '', '', '', ''],
        ],
      ),
    );
    print(`machine: 1-min load average ${loadavg()[0]!.toFixed(1)}`);
    printJson(`apiserver-${op}`, r);
    return r;
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
    await deleteEtcdPrefix(etcdEndpoints(), `${server.prefix}/`).catch(() => undefined);
  }
}
