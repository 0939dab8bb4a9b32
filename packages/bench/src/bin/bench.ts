#!/usr/bin/env node
/**
 * `bench apiserver|agent|scheduler|all [--quick] [--cpu-prof DIR]` and
 * `bench profile FILE`: parses flags and calls the benchmark. scripts/bench.sh
 * starts the dedicated etcd (and Docker) first; run that rather than this.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join, resolve } from 'node:path';
import { exitWhenFlushed } from '@flotilla/client';
import { Command } from 'commander';
import { APISERVER_DEFAULTS, APISERVER_QUICK, runApiserverBench, runApiserverOp, type ApiserverOp } from '../apiserver-bench.js';
import { AGENT_DEFAULTS, AGENT_QUICK, runAgentBench } from '../agent-bench.js';
import { DNS_DEFAULTS, DNS_QUICK, runDnsBench } from '../dns-bench.js';
import { E2E_DEFAULTS, E2E_QUICK, runE2eBench } from '../e2e-bench.js';
import { NETWORK_DEFAULTS, NETWORK_QUICK, runNetworkBench, type NetworkBenchOptions } from '../network-bench.js';
import { SCALE_DEFAULTS, SCHEDULER_DEFAULTS, SCHEDULER_QUICK, runSchedulerBench, type SchedulerBenchOptions } from '../scheduler-bench.js';
import { INGRESS_DEFAULTS, INGRESS_QUICK, runIngressBench } from '../ingress-bench.js';
import { LIVENESS_DEFAULTS, LIVENESS_QUICK, runLivenessBench } from '../liveness-bench.js';
import { FAILOVER_DEFAULTS, FAILOVER_QUICK, runFailoverBench } from '../failover-bench.js';
import { summarizeProfile } from '../profile-summary.js';
import { readPreviousFigures } from '../previous-figures.js';
import { print, section, table } from '../report.js';

interface Flags {
  quick?: boolean;
  cpuProf?: string;
}

function printProfile(file: string): void {
  const s = summarizeProfile(file);
  section(`CPU profile ${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.idleMs / 1000).toFixed(1)} s idle`);
  print(table(['area (self time of the leaf)', 'ms', '% of busy'], s.areas.map((a) => [a.name, a.ms, a.percent])));
  print('');
  print(table(['area (native/node time charged to its nearest JS caller)', 'ms', '% of busy'], s.attributed.map((a) => [a.name, a.ms, a.percent])));
  print('');
  print(table(['function (self time)', 'ms', '% of busy'], s.functions.map((a) => [a.name, a.ms, a.percent])));
  if (s.stalls.length === 0) return;
  print('');
  print(`stretches of 0.5 s or more without an idle sample (the event loop never waited; every request in flight waited them out), longest first:`);
  for (const st of s.stalls) {
    print('');
    print(`at ${(st.atMs / 1000).toFixed(1)} s: ${st.ms.toFixed(0)} ms`);
    print(table(['Flotilla function on the stack', 'ms', '% of stretch'], st.frames.map((f) => [f.name, f.ms, f.percent])));
    print(table(['leaf function (self)', 'ms', '% of stretch'], st.leaves.map((f) => [f.name, f.ms, f.percent])));
  }
}

function profileDir(flags: Flags, what: string): string | undefined {
  if (!flags.cpuProf) return undefined;
  const dir = resolve(flags.cpuProf, what);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Profiles this process (node:inspector) until the returned function is called, which writes `dir/bench.cpuprofile`. */
async function profileSelf(dir: string): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  const post = <T>(method: string) =>
    new Promise<T>((res, rej) => session.post(method, (err: Error | null, result?: unknown) => (err ? rej(err) : res(result as T))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return async () => {
    const { profile } = await post<{ profile: unknown }>('Profiler.stop');
    writeFileSync(join(dir, 'bench.cpuprofile'), JSON.stringify(profile));
    session.disconnect();
  };
}

function printProfiles(dir: string | undefined): void {
  if (!dir) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) printProfiles(join(dir, e.name));
    else if (e.name.endsWith('.cpuprofile')) printProfile(join(dir, e.name));
  }
}

async function apiserver(flags: Flags & { duration?: string; warmup?: string }): Promise<void> {
  const dir = profileDir(flags, 'apiserver');
  const base = flags.quick ? APISERVER_QUICK : APISERVER_DEFAULTS;
  const durationMs = flags.duration === undefined ? base.durationMs : seconds(flags.duration, 'duration', false) * 1000;
  const warmupMs = flags.warmup === undefined ? base.warmupMs : seconds(flags.warmup, 'warmup', true) * 1000;
  await runApiserverBench({ ...base, durationMs, warmupMs, ...(dir ? { cpuProfDir: dir } : {}) });
  printProfiles(dir);
}

async function agent(flags: Flags): Promise<void> {
  await runAgentBench(flags.quick ? AGENT_QUICK : AGENT_DEFAULTS);
}

interface SizeFlags extends Flags {
  nodes?: string;
  pods?: string;
  createRate?: string;
  nodesPerProcess?: string;
  previous?: string;
  fleetNice?: string;
  fleetPodWatch?: string;
  apiserverWorkers?: string;
  cpuProfOnly?: string;
  nodeProbeInterval?: string;
  initPods?: string;
}

/** A bad flag: its message is the whole report (no stack). */
class UsageError extends Error {}

function positive(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${what} must be a positive integer, got ${v}`);
  return n;
}

/** A number of seconds, fractions allowed: more than 0, or 0 too when `zero` is allowed. */
function seconds(v: string, what: string, zero: boolean): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !zero)) throw new UsageError(`--${what} must be a number of seconds (${zero ? '0' : 'more than 0'}), got ${v}`);
  return n;
}

/** The processes of the scheduler and scale benchmarks that --cpu-prof-only can name. */
const PROFILED_PROCESSES = ['apiserver', 'scheduler', 'controller-manager', 'hollow-nodes', 'bench'];

async function scheduler(flags: SizeFlags, base: SchedulerBenchOptions = flags.quick ? SCHEDULER_QUICK : SCHEDULER_DEFAULTS, what = 'scheduler'): Promise<void> {
  const dir = profileDir(flags, what);
  const nodes = positive(flags.nodes, 'nodes');
  const pods = positive(flags.pods, 'pods');
  const createRate = positive(flags.createRate, 'create-rate');
  const nodesPerProcess = positive(flags.nodesPerProcess, 'nodes-per-process');
  const fleetNice = flags.fleetNice === undefined ? undefined : Number(flags.fleetNice);
  if (fleetNice !== undefined && !(Number.isInteger(fleetNice) && fleetNice >= -20 && fleetNice <= 19)) throw new UsageError(`--fleet-nice must be an integer from -20 to 19, got ${flags.fleetNice}`);
  const fleetPodWatch = flags.fleetPodWatch;
  if (fleetPodWatch !== undefined && fleetPodWatch !== 'shared' && fleetPodWatch !== 'per-node') throw new UsageError(`--fleet-pod-watch must be shared or per-node, got ${fleetPodWatch}`);
  const apiserverWorkers = positive(flags.apiserverWorkers, 'apiserver-workers');
  const nodeProbeIntervalSeconds = flags.nodeProbeInterval === undefined ? undefined : seconds(flags.nodeProbeInterval, 'node-probe-interval', false);
  const initPods = flags.initPods === undefined ? undefined : Number(flags.initPods);
  if (initPods !== undefined && !(Number.isInteger(initPods) && initPods >= 0)) throw new UsageError(`--init-pods must be a whole number (0 for none), got ${flags.initPods}`);
  const previous = flags.previous ? readPreviousFigures(flags.previous) : undefined;
  // The benchmark's own client shares the machine with the cluster: its CPU is a figure too.
  const only = flags.cpuProfOnly?.split(',').map((p) => p.trim());
  const unknown = only?.filter((p) => !PROFILED_PROCESSES.includes(p));
  if (unknown?.length) throw new UsageError(`--cpu-prof-only: unknown process ${unknown.join(', ')} (${PROFILED_PROCESSES.join(', ')})`);
  const self = dir && (!only || only.includes('bench')) ? await profileSelf(join(dir, 'bench')) : undefined;
  await runSchedulerBench({ ...base, benchName: what, ...(previous ? { previous } : {}), ...(nodes ? { nodes } : {}), ...(pods ? { pods } : {}), ...(createRate ? { createRate } : {}), ...(nodesPerProcess ? { nodesPerProcess } : {}), ...(fleetNice ? { fleetNice } : {}), ...(fleetPodWatch ? { fleetPodWatch } : {}), ...(apiserverWorkers ? { apiserverWorkers } : {}), ...(nodeProbeIntervalSeconds ? { nodeProbeIntervalSeconds } : {}), ...(initPods !== undefined ? { initPods } : {}), ...(dir ? { cpuProfDir: dir } : {}), ...(only ? { cpuProfOnly: only } : {}) });
  await self?.();
  printProfiles(dir);
}

// Interrupted (Ctrl-C, or a TERM from timeout(1) or CI): exit through 'exit', whose handlers kill every
// process the benchmark started; the default action would leave them running.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.once(signal, () => process.exit(code));

const program = new Command('bench').description("Flotilla's benchmarks, each against a baseline measured in the same run");
const withFlags = (c: Command) =>
  c.option('--quick', 'smoke-sized run (seconds)').option('--cpu-prof <dir>', 'run the measured processes under node --cpu-prof and summarise the profiles');
withFlags(program.command('apiserver').description('GET/create/LIST/watch of the real apiserver vs bare etcd'))
  .option('-d, --duration <seconds>', 'measured seconds of each GET and create run (default 5)')
  .option('--warmup <seconds>', 'discarded seconds before each measured run (default 1)')
  .action(apiserver);
withFlags(program.command('agent').description('pod start and restart through the agent vs raw docker run')).action(agent);
const withSize = (c: Command) =>
  c.option('--nodes <n>', 'hollow nodes').option('--pods <n>', 'pods created and scheduled').option('--create-rate <n>', 'create pods at this rate (per second) instead of as fast as the apiserver answers').option('--nodes-per-process <n>', 'hollow nodes per process (default 1,000)').option('--previous <file>', "an earlier run's output (its BENCH_JSON line): print its figures beside this run's").option('--fleet-nice <n>', 'nice value of the hollow-node processes (they stand for other machines; a positive value lets the control plane go first; default 0)').option('--fleet-pod-watch <mode>', "how hollow nodes watch their pods: shared (one watch per fleet process, default) or per-node (spec.nodeName=, as kubelets)").option('--apiserver-workers <n>', 'apiserver processes behind its one port (flotilla apiserver --workers; default 1)').option('--cpu-prof-only <processes>', `with --cpu-prof: profile only these, comma-separated (${PROFILED_PROCESSES.join(', ')})`).option('--init-pods <n>', "pods created, bound and run first, unmeasured (scheduler_perf's initPods; default one per node, at most 1,000; scale: 0)").option('--node-probe-interval <seconds>', "the controller-manager's --node-probe-interval: PING period per hollow node (default: the controller-manager's own, a sixth of the benchmark's 10 s grace; scale: 2 s)");
withSize(withFlags(program.command('scheduler').description('scheduler_perf: pods bound per second on hollow nodes (1,000 nodes, 10,000 pods)'))).action((flags: SizeFlags) => scheduler(flags));
withSize(withFlags(program.command('scale').description("the scheduler benchmark at Kubernetes' largest size: 5,000 hollow nodes, 150,000 pods"))).action((flags: SizeFlags) =>
  scheduler(flags, flags.quick ? SCHEDULER_QUICK : SCALE_DEFAULTS, 'scale'),
);
withFlags(program.command('dns').description('flotilla dns queries/s and p99 (zone, NXDOMAIN, forwarded) vs dnsmasq answering a local name')).action((flags: Flags) =>
  runDnsBench(flags.quick ? DNS_QUICK : DNS_DEFAULTS),
);
withFlags(program.command('ingress').description('flotilla ingress vs nginx vs the backends directly (wrk, HTTP and HTTPS, small and 64 KiB)'))
  .option('-c, --connections <n>', 'wrk connections')
  .option('-d, --duration <seconds>', 'seconds per wrk run')
  .option('-w, --workers <n>', 'worker processes of nginx and of flotilla ingress (default: one per core)')
  .action(async (flags: Flags & { connections?: string; duration?: string; workers?: string }) => {
    const dir = profileDir(flags, 'ingress');
    const base = flags.quick ? INGRESS_QUICK : INGRESS_DEFAULTS;
    await runIngressBench({
      ...base,
      ...(flags.connections ? { connections: Number(flags.connections) } : {}),
      ...(flags.duration ? { durationS: Number(flags.duration) } : {}),
      ...(flags.workers ? { workers: Number(flags.workers) } : {}),
      ...(dir ? { cpuProfDir: dir } : {}),
    });
    printProfiles(dir);
  });
withFlags(program.command('network').description('ClusterIP/NodePort vs pod IP (wrk), endpoint propagation, proxy sync time'))
  .option('--sync-only', 'only the proxy sync time (no hosts, no Docker)')
  .option('--only <parts>', 'only these parts, comma-separated: sync,throughput,propagation')
  .action(async (flags: Flags & { syncOnly?: boolean; only?: string }) => {
    await runNetworkBench({ ...(flags.quick ? NETWORK_QUICK : NETWORK_DEFAULTS), syncOnly: flags.syncOnly, ...(flags.only ? { only: flags.only.split(',') as NonNullable<NetworkBenchOptions['only']> } : {}) });
  });
withFlags(program.command('e2e').description('apply/scale/kill/rollout/host loss: Flotilla vs Docker Swarm vs docker run -d on the same engines'))
  .option('--runs <n>', 'whole repetitions on fresh hosts')
  .option('--no-host-kill', 'skip the killed-host scenario')
  .option('--trace', 'Flotilla alone: the two applies traced stage by stage (where pod start time goes)')
  .option('--agent-arg <flag>', 'one more `flotilla agent` flag for the Flotilla side (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(async (flags: Flags & { runs?: string; hostKill?: boolean; trace?: boolean; agentArg?: string[] }) => {
    const base = flags.quick ? E2E_QUICK : E2E_DEFAULTS;
    await runE2eBench({
      ...base,
      ...(flags.runs ? { runs: Number(flags.runs) } : {}),
      ...(flags.hostKill === false ? { hostKill: false } : {}),
      ...(flags.trace ? { trace: true } : {}),
      ...(flags.agentArg?.length ? { agentArgs: flags.agentArg } : {}),
    });
  });
withFlags(program.command('liveness').description('node liveness: etcd writes/s and CPU of the new scheme (60 s Lease + HTTP/2 PINGs) vs the 2 s Lease, 1,000 and 5,000 hollow nodes'))
  .option('--nodes <list>', 'node counts of the new scheme, comma-separated (the old scheme runs at the first)')
  .action(async (flags: Flags & { nodes?: string }) => {
    const base = flags.quick ? LIVENESS_QUICK : LIVENESS_DEFAULTS;
    const counts = flags.nodes?.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
    const old = base.phases.find((p) => p.scheme === 'old')!;
    const fresh = base.phases.find((p) => p.scheme === 'new')!;
    await runLivenessBench(counts?.length ? { ...base, phases: [{ ...old, nodes: counts[0]! }, ...counts.map((nodes) => ({ ...fresh, nodes }))] } : base);
  });
withFlags(program.command('failover').description('a lost host (power cut / network cut) → its pods Running elsewhere: p50/p99 over 10 trials on real hosts, per failover step'))
  .option('--trials <n>', 'number of trials (default 10; 2 with --quick)')
  .action(async (flags: Flags & { trials?: string }) => {
    const base = flags.quick ? FAILOVER_QUICK : FAILOVER_DEFAULTS;
    await runFailoverBench({ ...base, ...(flags.trials ? { trials: Number(flags.trials) } : {}) });
  });
withFlags(program.command('all').description('every benchmark')).action(async (flags: Flags) => {
  await apiserver(flags);
  await agent(flags);
  await scheduler(flags);
});
withFlags(program.command('apiserver-op <op>').description('one apiserver operation alone (get|create|list), for profiling'))
  .option('-c, --concurrency <n>', 'concurrent clients', '16')
  .option('-d, --duration <seconds>', 'measured seconds', '10')
  .option('--list-size <n>', 'pods in the list', '10000')
  .option('--workers <n>', 'apiserver worker processes (flotilla apiserver --workers)', '1')
  .action(async (op: string, flags: Flags & { concurrency: string; duration: string; listSize: string; workers: string }) => {
    if (!['get', 'create', 'list'].includes(op)) throw new UsageError(`unknown op ${op}: get, create or list`);
    const dir = profileDir(flags, `apiserver-${op}`);
    await runApiserverOp(op as ApiserverOp, Number(flags.concurrency), Number(flags.duration) * 1000, dir, Number(flags.listSize), positive(flags.workers, 'workers') ?? 1);
    printProfiles(dir);
  });
program
  .command('profile <file>')
  .description('summarise a .cpuprofile: self time by area and by function')
  .action((file: string) => printProfile(file));

// The tables go through `tee` in scripts/bench.sh: let them all out before exiting.
program.parseAsync(process.argv).then(
  () => exitWhenFlushed(0),
  (err: unknown) => {
    process.stderr.write(err instanceof UsageError ? `bench: ${err.message}\n` : `[bench] failed: ${(err as Error)?.stack ?? String(err)}\n`);
    return exitWhenFlushed(1);
  },
);
