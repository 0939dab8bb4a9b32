/**
 * scheduler_perf for Flotilla (issue 4): the real apiserver, scheduler and
 * controller-manager processes on a dedicated etcd, hollow nodes (the
 * agent's code on fake runtimes, in their own process), no Docker.
 * Measures pods bound per second and scheduling latency (creation → binding
 * seen through a watch), the control plane's memory, a Deployment becoming
 * fully available, and a lost node's pods running elsewhere.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { cpus, loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent as HttpAgent, request } from 'undici';
import { ApiError, isReason, type KubeObject, type Pod } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import { measureEtcdBaseline } from './etcd-baseline.js';
import { benchPod } from './fixtures.js';
import { deleteEtcdPrefix, freePort } from '@flotilla/e2e';
import { writeKubeconfig } from './kubeconfig.js';
import { runClosedLoop } from './load.js';
import { isRunning, key, PodWatch } from './pod-watch.js';
import { retryReason } from './retry-reason.js';
import { connectionCounts, connectionsBetween, type ConnectionCounts } from './connection-counts.js';
import { CpuMeter, RunQueueMeter, SyscallMeter, etcdEndpoints, etcdLogText, etcdPid, flotillaBin, repoRoot, rssMiB, spawnNode, startApiServer, type BenchApiServer, type RunQueueFigures, type Started } from './processes.js';
import { print, printJson, progress, section, table, targetTable, type TargetCheck } from './report.js';
import { latencyBetween, parseLatencyHistogram, type ApiCallLatency } from './api-slo.js';
import { readSources, readSourcesText, type ReadSources } from './read-sources.js';
import { summarizeEtcdSlowLog, type EtcdSlowLog } from './etcd-slow-log.js';
import { etcdStops, longestText, memoryMiB, runtimePauses, sampleTotal, type EtcdStops, type Pauses } from './runtime-pauses.js';
import { comparePrevious, type PreviousFigures } from './previous-figures.js';
import { latencyCells, percentile, slowStretches, summarize, type LatencySummary, type SlowStretch } from './stats.js';

/** Knobs of the scheduler benchmark. */
export interface SchedulerBenchOptions {
  /** Hollow nodes. */
  nodes: number;
  /** Hollow nodes per process (HOLLOW_NODES_PER_PROCESS by default). */
  nodesPerProcess?: number;
  /** How the hollow nodes watch their pods (HollowNodesOptions.podWatch; default shared: one watch per fleet process). */
  fleetPodWatch?: 'shared' | 'per-node';
  /** `flotilla apiserver --workers N`: apiserver processes behind the one port (default 1). */
  apiserverWorkers?: number;
  /** Pods created and scheduled. */
  pods: number;
  /**
   * Pods created, bound and run before the measured ones, at the same rate,
   * and measured apart (scheduler_perf's initPods: its SchedulingBasic
   * workloads create 500 at 500 nodes and 1,000 at 5,000 before measuring).
   * Processes started a minute before meet their first pods with cold code
   * (V8 interprets until it has compiled the hot paths), small heaps and no
   * pooled connections, and each hollow node does its first pod's one-time
   * work. Default: one per node, at most 1,000 (initPodsDefault); 0 measures
   * the first pods the processes ever see.
   */
  initPods?: number;
  /** Concurrent pod creates (at most this many in flight). */
  createConcurrency: number;
  /**
   * Pods created per second (paced), to read creation-to-binding latency
   * "when creations arrive at that rate" (issue 11); unset: as fast as the
   * apiserver answers `createConcurrency` clients.
   */
  createRate?: number;
  /** Replicas of the Deployment timed to full availability. */
  deploymentReplicas: number;
  /** Pods on the node that is lost. */
  lostNodePods: number;
  /**
   * The controller-manager's --node-monitor-grace-period (s). Kubernetes'
   * 40 s: Flotilla's own default (8 s) is shorter than the agent's default
   * 10 s Lease renewal, so with it every healthy node flaps NotReady.
   */
  nodeMonitorGraceSeconds: number;
  /**
   * The controller-manager's --node-probe-grace-period (s): silence of a
   * node's liveness server before it is Unknown (and its pods evicted).
   * Flotilla's default, 2 s, is shorter than the stalls of one process
   * running every hollow node on a loaded machine: healthy hollow nodes went
   * Unknown and had pods evicted mid-measurement. Default 10 s.
   */
  nodeProbeGraceSeconds?: number;
  /**
   * The controller-manager's --node-probe-interval (s); its default (a sixth
   * of the grace) when unset. At 5,000 hollow nodes in one process a 0.5 s
   * period was 10,000 HTTP/2 PINGs a second for one starved process to answer.
   */
  nodeProbeIntervalSeconds?: number;
  /**
   * Seconds of quiet before the pods are created during which each process's
   * CPU is measured (liveness PINGs, Leases, relists: CPU per second, not per
   * pod). Default 10; 0 skips it.
   */
  idleSeconds?: number;
  /**
   * Seconds of the window at rest after every pod runs (CPU per process, requests and etcd calls per
   * second). Default 30: 10 s windows differed between runs of the same code as much as between commits.
   * 0 skips it.
   */
  restSeconds?: number;
  /** Profile the apiserver, scheduler, controller-manager and hollow-node processes into subdirectories of this directory. */
  cpuProfDir?: string;
  /** Profile only these processes (apiserver, scheduler, controller-manager, hollow-nodes, bench); default every one. */
  cpuProfOnly?: string[];
  /**
   * Whether the hollow fleet's kubelets record their Events (Pulled, Created,
   * Started: three writes per pod that are not scheduling). Off unless
   * FLOTILLA_BENCH_HOLLOW_EVENTS=1; the output says which. The scheduler's
   * own `Scheduled` event is always recorded.
   */
  hollowEvents?: boolean;
  /**
   * Scheduling priority (nice, -20..19) of the hollow-node processes. The fleet stands for other
   * machines; here it shares the cores with the control plane it loads (Kubernetes' 5,000-node
   * figures come from a control plane on machines of its own). A positive value lets the control
   * plane go first. Default 0: everything at one priority.
   */
  fleetNice?: number;
  /** Figures of an earlier run (its BENCH_JSON), printed beside this run's. */
  previous?: PreviousFigures;
  /** The name on the BENCH_JSON line (`scheduler` or `scale`). */
  benchName?: string;
}

/** One phase's binding rate and latencies (phaseLatencies). */
export interface PhaseFigures {
  boundPerSec: number;
  schedulingLatency: LatencySummary;
  runningLatency: LatencySummary;
}

/** What the init pods (SchedulerBenchOptions.initPods) showed: the same figures as the measured pods', for the cold processes. */
export interface InitPodsFigures extends PhaseFigures {
  count: number;
  createdPerSec: number;
}

/** Creation, acknowledgement and watch times (performance.now(), ms) of one phase's pods, by key. */
export interface PodTimes {
  created: Map<string, number>;
  acked: Map<string, number>;
  addedSeen: Map<string, number>;
  bound: Map<string, number>;
  running: Map<string, number>;
  deleted: Set<string>;
}

/** Empty PodTimes, for one phase. */
export function podTimes(): PodTimes {
  return { created: new Map(), acked: new Map(), addedSeen: new Map(), bound: new Map(), running: new Map(), deleted: new Set() };
}

/** One phase's creation -> binding and -> Running latencies, and its binding rate: bound ÷ (last binding − first create). */
export function phaseLatencies(t: PodTimes): PhaseFigures {
  const toBound: number[] = [];
  const toRunning: number[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const [k, c] of t.created) {
    first = Math.min(first, c);
    const b = t.bound.get(k);
    if (b !== undefined) (toBound.push(b - c), (last = Math.max(last, b)));
    const r = t.running.get(k);
    if (r !== undefined) toRunning.push(r - c);
  }
  return { boundPerSec: last > first ? (t.bound.size / (last - first)) * 1000 : Number.NaN, schedulingLatency: summarize(toBound), runningLatency: summarize(toRunning) };
}

/** Pods bound per second that issue 11 asks of the 1,000-node run. */
const BIND_RATE_TARGET = 500;

/** The default of SchedulerBenchOptions.initPods: one pod per node, at most 1,000 (scheduler_perf's largest SchedulingBasic initPods). */
export function initPodsDefault(nodes: number): number {
  return Math.min(nodes, 1000);
}

/** Full-size defaults (the issue's figures). */
export const SCHEDULER_DEFAULTS: SchedulerBenchOptions = { nodes: 1000, pods: 10_000, createConcurrency: 64, deploymentReplicas: 100, lostNodePods: 30, nodeMonitorGraceSeconds: 40 };
/**
 * Pods created per second in the scale run. Kubernetes' latency SLOs are
 * read under a steady load the cluster sustains, not a flood that queues
 * pods for minutes. At 5,000 hollow nodes every process of the run costs
 * about 20 ms of CPU per pod together (19.8 ms on 2026-12-07), so 100/s
 * would take both of this machine's cores and queue pods: 75/s, and 150,000
 * pods take 33 minutes. --create-rate overrides.
 */
export const SCALE_CREATE_RATE = 75;
/** Kubernetes' largest supported cluster (issue 11): 5,000 hollow nodes and 150,000 pods. */
export const SCALE_DEFAULTS: SchedulerBenchOptions = { ...SCHEDULER_DEFAULTS, nodes: 5000, pods: 150_000, nodeProbeIntervalSeconds: 2, createRate: SCALE_CREATE_RATE, initPods: 0 };
/** The V8 heap limit (MiB) of every process of a run with more than 20,000 pods. */
export const LARGE_HEAP_MIB = 12_288;
/** Smoke-sized run. */
export const SCHEDULER_QUICK: SchedulerBenchOptions = { nodes: 10, pods: 100, createConcurrency: 16, deploymentReplicas: 10, lostNodePods: 3, nodeMonitorGraceSeconds: 40, restSeconds: 10 };

/** The median of a list of figures, or '-' for none. */
function median(xs: number[]): number | string {
  return xs.length ? percentile([...xs].sort((a, b) => a - b), 50) : '-';
}

/** Everything the scheduler benchmark measured. */
export interface SchedulerBenchResult {
  nodes: number;
  pods: number;
  /** Whether the hollow fleet recorded kubelet Events. */
  hollowEvents: boolean;
  /** The hollow-node processes' nice value (0: the control plane's). */
  fleetNice: number;
  /** Pods created per second by the benchmark (the offered load). */
  createdPerSec: number;
  /** Pods bound per second: bound ÷ (last binding − first creation). */
  boundPerSec: number;
  /** Bindings per one-second window while scheduling ran (scheduler_perf's SchedulingThroughput). */
  throughputWindows: { average: number; p50: number; p90: number; p99: number };
  /** Bindings in each of the first ten 1 s windows: where a slow start shows. */
  firstWindows?: number[];
  /** The unmeasured pods created first (SchedulerBenchOptions.initPods): the processes' cold start. */
  initPods?: InitPodsFigures;
  /** Creation request start → binding seen through the watch (ms). */
  schedulingLatency: LatencySummary;
  /** Creation → Running reported by the hollow node (ms). */
  runningLatency: LatencySummary;
  /**
   * Where the binding tail is: pods bound more than 2 s after their creation,
   * by the 10 s stretch they were created in (busiest 5), with the stretch's
   * wall-clock start (ISO) to find it in the processes' logs. Absent in older runs.
   */
  slowBindings?: Array<SlowStretch & { at: string }>;
  unbound: number;
  /** Measured pods deleted before the end (evicted from a node judged lost): scheduling work the run did twice. */
  deletedDuringRun: number;
  /** Pod creates retried after a transient failure (connect timeout, 503, 429). */
  createRetries: number;
  /** Why creates were retried: a count per reason (the error's reason or code, and its message's first words). */
  createRetryReasons?: Record<string, number>;
  /** Times the benchmark's own pod watch fell behind and relisted (bindings seen late, so latencies are upper bounds). */
  watchRelists: number;
  /**
   * Baselines measured in the same run: bare etcd puts per second (pod-sized
   * values, the create concurrency) and the scheduler's own mean decision
   * time (filter + score, from its metrics).
   */
  baseline: { etcdPutsPerSec: number; etcdPutP99Ms: number; decisionMeanMs: number; decisionsPerSecAlone: number };
  /** CPU ms per second of each process with every node registered and no pod being created (the steady cost of the fleet), measured before the pods. */
  idleCpuMsPerSec: Record<string, number>;
  /** The same with every pod Running, measured right after the last one (empty in older runs). */
  idleAfterCpuMsPerSec?: Record<string, number>;
  /** Apiserver requests (`VERB resource`) and etcd calls (`etcd KV/Txn`) per second in that window. */
  atRestPerSec?: Record<string, number>;
  /**
   * CPU ms per pod to the last pod Running, less idleCpuMsPerSec times the
   * window: the per-pod work alone. A run slowed by a loaded machine lasts
   * longer and so charges more of the steady cost to each pod; this does not.
   */
  cpuMsPerPodNetOfIdle: Record<string, number>;
  /** CPU ms per pod of each process, first create → last binding seen. */
  cpuMsPerPodToBound: Record<string, number>;
  /** CPU ms per pod of each process, first create → last pod Running (includes the hollow nodes' work). */
  cpuMsPerPodToRunning: Record<string, number>;
  /** Read and write syscalls per pod of each process (from /proc/PID/io), first create → last pod Running. */
  syscallsPerPod?: Record<string, { reads: number; writes: number }>;
  /** Per process, ms per second run and waited for a core (schedstat), first create → last binding seen. */
  runQueue?: Record<string, RunQueueFigures>;
  /** apiserver requests per pod (`VERB resource[/subresource]`), first create → last pod Running; heartbeats included. */
  requestsPerPod: Record<string, number>;
  /** Every write (CREATE/UPDATE/PATCH/DELETE, failed ones included) per pod in the same window. */
  writesPerPod: number;
  /** Watch lines written by the apiserver and the socket writes that carried them, same window (absent from apiservers without the counters). */
  watchWrites?: { lines: number; writes: number };
  /** Watch events sent per pod, by kind, every watcher counted (create -> last Running). */
  watchEventsPerPod?: Record<string, number>;
  /** etcd gRPC calls per pod by method (Range, Txn, Put, ...; from etcd's own /metrics), same window. */
  etcdCallsPerPod: Record<string, number>;
  /** Seconds of that window, to put the heartbeat writes in proportion. */
  requestWindowSeconds: number;
  rssMiB: Record<string, number>;
  /** RSS growth per 1,000 measured pods (MiB), registration → every pod bound and Running. */
  rssMiBPer1000Pods: Record<string, number>;
  /** The apiserver's memory by kind at the same moment (its /metrics, MiB): V8 heap used and reserved, and what Buffers hold outside it. Absent in older runs. */
  apiserverMemoryMiB?: { heapUsed: number; heapTotal: number; external: number };
  /** Kubernetes' API call latency SLOs over the window (p99 per verb, resource and scope, from the apiserver's histogram). */
  apiLatency: ApiCallLatency[];
  /** GC pauses and event-loop delays of the apiserver and the scheduler over the same window (their /metrics). */
  runtimePauses?: Record<string, { gc?: Pauses; eventLoop?: Pauses }>;
  /** etcd's WAL fsyncs, backend commits, snapshots and slow applies over the same window (its /metrics). */
  etcdStops?: EtcdStops;
  /** The same window's slow applies from etcd's log: which requests, and whether a history compaction ran. */
  etcdSlowLog?: EtcdSlowLog;
  /** Where the apiserver served consistent GETs and LISTs over the same window, and during the LISTs of every pod. */
  readSources?: { window?: ReadSources; listAllPods?: ReadSources };
  /** Create acknowledged → its ADDED event seen by the benchmark's watch (ms; 0 when the event came first). */
  watchDelivery: LatencySummary;
  /**
   * LIST of every pod in the cluster at the end (ms, three calls): `ms` request → parsed objects, of
   * which `bodyMs` request → the last byte received (the apiserver's part and the transfer) and
   * `parseMs` the client's JSON.parse; `bytes` of the last answer.
   */
  listAllPods: { items: number; ms: number[]; bodyMs?: number[]; parseMs?: number[]; bytes?: number; errors: string[] };
  /** The apiserver's event loop during those LISTs: how late its 100 ms timer fired (every request in flight waited as long). */
  listAllPodsLoop?: Pauses;
  deployment: { replicas: number; availableMs: number };
  lostNode: { pods: number; graceSeconds: number; notReadyMs: number; evictedMs: number; runningElsewhereMs: number };
  /**
   * The apiserver SIGKILLed with every node and pod in place, and started again at once: its
   * /readyz after (ms from the kill); a new Deployment fully available after (ms from ready);
   * the measured pods live before (a LIST) and gone or terminating after (another); fleet nodes Ready before and
   * RESTART_SETTLE_MS after the kill; connections the new apiserver accepted meanwhile.
   */
  apiserverRestart?: { readyMs: number; deploymentAvailableMs: number; podsLost: number; podsBefore: number; nodesReadyBefore: number; nodesReadyAfter: number; connections: ConnectionCounts; benchWatchRelists: number; benchWatchResumes: number };
  /** Hollow fleet nodes with Ready=True once registered and once every pod was bound and Running (they must stay Ready). */
  nodesReady: { afterRegistration: number; afterScheduling: number };
  /** Seconds from the fleet's registration until every node had its pod range (node IPAM). */
  podRangesSeconds: number;
  /** Connections to the apiserver while the fleet registered (start → every node with its pod range) and while the pods ran (the request window). */
  connections: { registration: ConnectionCounts; pods: ConnectionCounts };
  machine: { cpus: number; loadBefore: number; loadAfter: number };
  targets: TargetCheck[];
}

/** From the apiserver's SIGKILL until the nodes are counted Ready again: past a node-lifecycle controller's first judgement after it. */
const RESTART_SETTLE_MS = 20_000;

/** A running hollow-nodes process. */
export interface Hollow {
  proc: ChildProcess;
  ready: Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Hollow nodes per process by default: one process starved answering 5,000 nodes' liveness PINGs and stalled registration at 3,004 nodes. */
export const HOLLOW_NODES_PER_PROCESS = 1000;

/** A hollow fleet split over several processes (each with its own range of node names). */
export interface HollowFleet {
  processes: Hollow[];
  /** Every process's PID (for CPU and RSS, summed). */
  pids: number[];
  /** Resolves once every process has registered all its nodes. */
  ready: Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `count` hollow nodes `<prefix>0…` in processes of at most `perProcess` nodes each
 * (logs `<logFile>`, `<logFile>.1`, …): one Node.js process is one core at most, and
 * the liveness PINGs, Lease renewals and pod syncs of thousands of nodes outgrow it.
 */
export function startHollowFleet(kubeconfig: string, count: number, prefix: string, logFile: string, events = true, perProcess = HOLLOW_NODES_PER_PROCESS, extra: string[] = [], nodeFlags: string[] = []): HollowFleet {
  const processes: Hollow[] = [];
  const per = Math.max(1, Math.floor(perProcess));
  for (let first = 0, k = 0; first < count; first += per, k++) {
    const n = Math.min(per, count - first);
    processes.push(startHollow(kubeconfig, n, prefix, k === 0 ? logFile : `${logFile}.${k}`, events, [...extra, `first=${first}`], nodeFlags));
  }
  const ready = Promise.all(processes.map((p) => p.ready)).then(() => undefined);
  ready.catch(() => undefined);
  return {
    processes,
    pids: processes.map((p) => p.proc.pid!).filter((pid) => pid !== undefined),
    ready,
    stop: async (signal?: NodeJS.Signals) => {
      await Promise.all(processes.map((p) => p.stop(signal)));
    },
  };
}

/** CPU ms per second of each process over `seconds` of waiting. */
async function idleCpu(pids: ConstructorParameters<typeof CpuMeter>[0], seconds: number): Promise<Record<string, number>> {
  const meter = new CpuMeter(pids);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const used = meter.read();
  const secs = (performance.now() - t0) / 1000;
  return Object.fromEntries(Object.entries(used).map(([k, v]) => [k, (v * 1000) / secs]));
}

/** The pod range the benchmark's controller-manager carves node ranges from: 8,192 /24s, for fleets beyond 256 nodes. */
export const BENCH_CLUSTER_CIDR = '10.64.0.0/11';

/** Starts the hollow-nodes process (bin/hollow-nodes.js) with `count` nodes; `extra` are its flags (old-liveness, first=N), `nodeFlags` node's own (e.g. --cpu-prof). */
export function startHollow(kubeconfig: string, count: number, prefix: string, logFile: string, events = true, extra: string[] = [], nodeFlags: string[] = []): Hollow {
  const fd = openSync(logFile, 'a');
  // The agents' state (a termination-log file per container: gigabytes at 150,000 pods) goes to a directory of
  // this process's own, through TMPDIR, removed when it exits: a killed fleet cannot clean up after itself.
  const state = mkdtempSync(join(tmpdir(), 'flotilla-hollow-'));
  const proc = spawn(process.execPath, [...nodeFlags, fileURLToPath(new URL('./bin/hollow-nodes.js', import.meta.url)), kubeconfig, String(count), prefix, ...(events ? [] : ['no-events']), ...extra], {
    cwd: repoRoot(),
    // The nodes' logs go straight to the log file; fd 3 carries only READY / FAILED. (The logs once
    // came through a pipe into this process, which kept and rescanned them all: at 30,000 pods that
    // was a third of a core taken from the cluster it measures.)
    stdio: ['ignore', fd, fd, 'pipe'],
    env: { ...process.env, TMPDIR: state },
  });
  closeSync(fd);
  const removeState = () => {
    try {
      rmSync(state, { recursive: true, force: true });
    } catch {
      // Best effort: it is under the system's temporary directory.
    }
  };
  const exited = new Promise<void>((r) => proc.once('exit', () => r())).then(removeState);
  const kill = () => {
    proc.kill('SIGKILL');
    removeState();
  };
  process.once('exit', kill);
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    (proc.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('READY')) resolve();
      if (out.includes('FAILED')) reject(new Error(`hollow nodes failed: ${out.trim()}`));
    });
    void exited.then(() => reject(new Error(`hollow nodes process exited before ready; log ${logFile}`)));
  });
  ready.catch(() => undefined);
  return {
    proc,
    ready,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      process.off('exit', kill);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Of the nodes named `<prefix>…` (one LIST): how many are Ready, and how many have no pod range yet. */
async function fleetState(nodesApi: { list(ns?: string): Promise<{ items: KubeObject[] }> }, prefix: string): Promise<{ ready: number; withoutRange: number }> {
  // A 503 (etcd behind) is retried for a while: one lost LIST must not end a run of many minutes.
  let items: KubeObject[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      ({ items } = await nodesApi.list());
      break;
    } catch (err) {
      if (attempt >= 10 || !isReason(err, 'ServiceUnavailable')) throw err;
      progress(`LIST of nodes: ${(err as Error).message.slice(0, 120)}; again in 5 s`);
      await sleep(5000);
    }
  }
  let ready = 0;
  let withoutRange = 0;
  for (const n of items) {
    if (!n.metadata.name?.startsWith(prefix)) continue;
    if (((n.status as { conditions?: Array<{ type: string; status: string }> })?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')) ready++;
    if (!(n as { spec?: { podCIDR?: string } }).spec?.podCIDR) withoutRange++;
  }
  return { ready, withoutRange };
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The apiserver's /metrics text. */
export async function apiserverMetrics(server: BenchApiServer): Promise<string> {
  const dispatcher = new HttpAgent({ connect: { ca: server.caPem } });
  try {
    const res = await request(`${server.url}/metrics`, { dispatcher, headers: { authorization: `Bearer ${server.adminToken}` } });
    return await res.body.text();
  } finally {
    await dispatcher.close();
  }
}

/** The apiserver's watch lines and the socket writes that carried them, from its /metrics; undefined without the counters. */
export function watchWriteCounts(metricsText: string): { lines: number; writes: number } | undefined {
  const lines = sampleTotal(metricsText, 'flotilla_apiserver_watch_lines_total');
  const writes = sampleTotal(metricsText, 'flotilla_apiserver_watch_writes_total');
  return lines === undefined || writes === undefined ? undefined : { lines, writes };
}

/** Watch events the apiserver sent, by kind (apiserver_watch_events_total, every watcher counted), from its /metrics. */
export function watchEventsByKind(metricsText: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('apiserver_watch_events_total{')) continue;
    const kind = /kind="([^"]*)"/.exec(line)?.[1];
    if (kind) out.set(kind, (out.get(kind) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** `VERB resource[/subresource]` → count, summed over response codes, from the apiserver's /metrics. */
export async function requestCounts(server: BenchApiServer, metricsText?: string): Promise<Map<string, number>> {
  {
    const text = metricsText ?? (await apiserverMetrics(server));
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith('apiserver_request_total{')) continue;
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      // Failures (409 Conflict above all) apart: each is a wasted round trip worth seeing.
      const code = Number(labels.code);
      const k = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}${code >= 200 && code < 300 ? '' : ` (${labels.code})`}`;
      out.set(k, (out.get(k) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return out;
  }
}

function perPod(cpu: Record<string, number>, pods: number): Record<string, number> {
  return Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, (v * 1000) / pods]));
}

function deployment(ns: string, name: string, replicas: number, extraSpec: Record<string, unknown> = {}): KubeObject {
  const pod = benchPod(ns, name, { labels: { app: name } });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { ...pod.spec, terminationGracePeriodSeconds: 0, ...extraSpec } },
    },
  };
}

const available = (d: KubeObject | undefined) => (d?.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0;

/** How long a profiled process is given to exit (and write its profile) before SIGKILL. */
const PROFILED_STOP_GRACE_MS = 120_000;

/** Runs the scheduler benchmark; prints as it goes and returns the figures. */
export async function runSchedulerBench(opts: SchedulerBenchOptions): Promise<SchedulerBenchResult> {
  const hollowEvents = opts.hollowEvents ?? process.env.FLOTILLA_BENCH_HOLLOW_EVENTS === '1';
  section(`scheduler benchmark: ${opts.nodes} hollow nodes, ${opts.pods} pods, ${opts.createConcurrency} concurrent creates${opts.createRate ? ` paced at ${opts.createRate}/s` : ''}`);
  print(`hollow nodes' kubelet Events (Pulled/Created/Started): ${hollowEvents ? 'recorded' : 'off (FLOTILLA_BENCH_HOLLOW_EVENTS=1 records them)'}; the scheduler's Scheduled event: recorded`);
  print(`hollow nodes' pod watch: ${opts.fleetPodWatch === 'per-node' ? 'one per node (spec.nodeName=), as kubelets have' : 'one per fleet process, every pod (--fleet-pod-watch per-node: one per node)'}`);
  print(`hollow-node processes' nice: ${opts.fleetNice ?? 0}${opts.fleetNice ? ' (the control plane, at 0, goes first)' : ' (as the control plane; --fleet-nice N lowers them)'}`);
  const initCount = opts.initPods ?? initPodsDefault(opts.nodes);
  print(`init pods: ${initCount ? `${initCount}, created, bound and run first at the same rate and measured apart (scheduler_perf's initPods: the processes' cold start); --init-pods 0 measures the first pods they see` : 'none (--init-pods 0): the measured pods are the first the processes see'}`);
  print(`node liveness: silent ${opts.nodeProbeGraceSeconds ?? 10} s before Unknown; a PING to each node every ${opts.nodeProbeIntervalSeconds ? `${opts.nodeProbeIntervalSeconds} s (--node-probe-interval)` : "sixth of that time (the controller-manager's default)"}`);
  const loadBefore = loadavg()[0]!;
  // Node's default heap limit (about 4 GiB on this machine) is under what the
  // scheduler's and controller-manager's pod caches hold at 150,000 pods.
  const heap = opts.pods > 20_000 ? [`--max-old-space-size=${LARGE_HEAP_MIB}`] : [];
  const profiled = (what: string) => opts.cpuProfDir !== undefined && (!opts.cpuProfOnly || opts.cpuProfOnly.includes(what));
  const profile = (what: string) => [...heap, ...(profiled(what) ? ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfDir!, what)}`] : [])];
  // Extra V8 flags for the apiserver alone (e.g. `--trace-gc`, into its log: keep it with FLOTILLA_BENCH_KEEP=1).
  const apiserverFlags = (process.env.FLOTILLA_BENCH_APISERVER_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  if (apiserverFlags.length) print(`apiserver's extra node flags (FLOTILLA_BENCH_APISERVER_NODE_FLAGS): ${apiserverFlags.join(' ')}`);
  if (opts.apiserverWorkers && opts.apiserverWorkers > 1) print(`apiserver: ${opts.apiserverWorkers} worker processes behind its port (--apiserver-workers)`);
  const server = await startApiServer({ port: await freePort(), nodeFlags: [...profile('apiserver'), ...apiserverFlags], ...(opts.apiserverWorkers ? { workers: opts.apiserverWorkers } : {}) });
  const kubeconfig = join(server.dir, 'admin.kubeconfig');
  await writeKubeconfig(kubeconfig, server.url, server.caPem, server.adminToken, 'admin');
  const client = new RestClient({ server: server.url, ca: server.caPem, token: server.adminToken }, { connections: opts.createConcurrency + 16, userAgent: 'flotilla-bench' });
  const pods = client.resource<Pod>('pods');
  const deployments = client.resource('deployments');
  const nodesApi = client.resource('nodes');
  const started: Array<{ stop(graceMs?: number): Promise<void> }> = [];
  const ns = 'bench-sched';
  const lostName = 'lost-0';
  // Only the lost node's pods and their replacements are looked up afterwards; every other pod is counted from its events.
  const watch = new PodWatch(client, undefined, (p) => p.metadata.labels?.app === 'lost');
  try {
    for (const n of [ns]) await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });

    progress('starting scheduler and controller-manager');
    const schedulerMetricsPort = await freePort();
    // Lone instances, as scheduler_perf runs them: on a starved machine a leader-election
    // renewal that times out made both components exit mid-run ("lost leadership").
    const scheduler: Started = spawnNode(
      [flotillaBin(), 'scheduler', '--kubeconfig', kubeconfig, '--metrics-port', String(schedulerMetricsPort), '--leader-elect=false'],
      join(server.dir, 'scheduler.log'),
      profile('scheduler'),
    );
    started.push(scheduler);
    // A pod range for every node, as a large cluster is configured: the default 10.244.0.0/16 holds 256
    // /24s, and the other nodes would wait for one for the whole run. 10.64.0.0/11 holds 8,192 and stays
    // clear of the Service range (10.96.0.0/12).
    const cm: Started = spawnNode([flotillaBin(), 'controller-manager', '--kubeconfig', kubeconfig, '--metrics-port', '0', '--leader-elect=false', '--cluster-cidr', BENCH_CLUSTER_CIDR, '--node-monitor-grace-period', `${opts.nodeMonitorGraceSeconds}s`, '--node-probe-grace-period', `${opts.nodeProbeGraceSeconds ?? 10}s`, ...(opts.nodeProbeIntervalSeconds ? ['--node-probe-interval', `${opts.nodeProbeIntervalSeconds}s`] : [])], join(server.dir, 'controller-manager.log'), profile('controller-manager'));
    started.push(cm);
    await watch.start();

    // The node that will be lost, with its pods, first and alone, so every one of them lands on it.
    progress(`the node to lose (${lostName}) and its ${opts.lostNodePods} pods`);
    // One node: it watches its own pods, as a kubelet does (a fleet's shared watch would bring it every pod of the run).
    const lost = startHollow(kubeconfig, 1, 'lost-', join(server.dir, 'hollow-lost.log'), true, ['pod-watch=per-node']);
    started.push({ stop: () => lost.stop() });
    await lost.ready;
    await deployments.create(deployment(ns, 'lost', opts.lostNodePods));
    await until('the lost-node deployment to be available', 180_000, async () => available(await deployments.get(ns, 'lost')) >= opts.lostNodePods || undefined, 200);
    // Cordoned, so the measured pods go to the hollow fleet only.
    await nodesApi.patch(undefined, lostName, { spec: { unschedulable: true } });

    progress(`starting ${opts.nodes} hollow nodes`);
    const connectionsAtStart = connectionCounts(await apiserverMetrics(server));
    const t0nodes = performance.now();
    const fleet = startHollowFleet(kubeconfig, opts.nodes, 'hollow-', join(server.dir, 'hollow.log'), hollowEvents, opts.nodesPerProcess, opts.fleetPodWatch === 'per-node' ? ['pod-watch=per-node'] : [], profile('hollow-nodes'));
    started.push({ stop: () => fleet.stop() });
    if (opts.fleetNice) for (const pid of fleet.pids) setPriority(pid, opts.fleetNice);
    await fleet.ready;
    const atRegistration = await fleetState(nodesApi, 'hollow-');
    const readyAfterRegistration = atRegistration.ready;
    const rssByProcess = (): Record<string, number> => ({
      apiserver: rssMiB(server.pids()),
      scheduler: rssMiB(scheduler.pid),
      'controller-manager': rssMiB(cm.pid),
      etcd: rssMiB(etcdPid()),
      [`hollow nodes (${opts.nodes}, ${fleet.pids.length} process${fleet.pids.length === 1 ? '' : 'es'})`]: rssMiB(fleet.pids),
    });
    progress(`${opts.nodes} hollow nodes registered in ${((performance.now() - t0nodes) / 1000).toFixed(1)} s (${readyAfterRegistration} Ready)`);
    // Node IPAM gives each node its pod range after it registers (a claim and a Node write each): part of
    // bringing the fleet up, not of the pods' work, so the windows below start once it is done.
    const t0ranges = performance.now();
    for (let state = atRegistration; state.withoutRange > 0; state = await fleetState(nodesApi, 'hollow-')) {
      if (performance.now() - t0ranges > 600_000) throw new Error(`timed out after 600 s waiting for every hollow node to have a pod range (${state.withoutRange} without)`);
      await sleep(2000);
    }
    const podRangesSeconds = (performance.now() - t0ranges) / 1000;
    progress(`every hollow node has a pod range, ${podRangesSeconds.toFixed(1)} s after registration`);

    // scheduler_perf: creation → binding seen.
    progress(`baseline: bare etcd puts at ${opts.createConcurrency} clients`);
    const base = await measureEtcdBaseline(etcdEndpoints(), [opts.createConcurrency], 5000, 1000);
    const put = base.put[0]!;

    const measured = podTimes();
    const { created, acked, addedSeen, bound, running, deleted } = measured;
    // The init pods (`i-`) are measured apart, before the measured ones (`p-`).
    const initial = podTimes();
    watch.onEvent = (type, pod, at) => {
      if (pod.metadata.namespace !== ns) return;
      const name = pod.metadata.name!;
      const t = name.startsWith('p-') ? measured : name.startsWith('i-') ? initial : undefined;
      if (!t) return;
      const k = key(pod);
      if (type === 'DELETED') t.deleted.add(k);
      if (type === 'ADDED' && !t.addedSeen.has(k)) t.addedSeen.set(k, at);
      if (pod.spec?.nodeName && !t.bound.has(k)) t.bound.set(k, at);
      if (isRunning(pod) && !t.running.has(k)) t.running.set(k, at);
    };
    /** Creates `count` pods named `<prefix><seq>` at the run's rate and concurrency, recording their times; resolves once every create landed. */
    const createPods = async (prefix: string, count: number, times: PodTimes): Promise<{ seconds: number; retries: number; retryReasons: Record<string, number> }> => {
      const t0 = performance.now();
      let retries = 0;
      const retryReasons: Record<string, number> = {};
      let landed = 0;
      const fill = await runClosedLoop({
        concurrency: opts.createConcurrency,
        // Long enough for every pod at the paced rate: the scale run's 150,000 at 75/s take 33 min, and a fixed
        // 30 min once cut it short at 134,987 pods, then waited for bindings that could never come.
        durationMs: Math.max(30 * 60_000, opts.createRate ? (count / opts.createRate) * 2000 : 0),
        maxOps: count,
        ...(opts.createRate ? { ratePerSec: opts.createRate } : {}),
        op: async (seq) => {
          const name = `${prefix}${seq}`;
          times.created.set(`${ns}/${name}`, performance.now());
          // A starved apiserver on a shared machine times out connects now and then: one failed create must not end a long run.
          for (let attempt = 1; ; attempt++) {
            try {
              await pods.create(benchPod(ns, name));
              times.acked.set(`${ns}/${name}`, performance.now());
              landed++;
              return;
            } catch (err) {
              // Names are unique per run: an AlreadyExists means an earlier attempt (ours or the client's own retry) did land.
              if (isReason(err, 'AlreadyExists')) {
                landed++;
                return;
              }
              if (attempt >= 20 || (err instanceof ApiError && !isReason(err, 'ServiceUnavailable') && !isReason(err, 'TooManyRequests') && !isReason(err, 'Timeout'))) throw err;
              retries++;
              const why = retryReason(err);
              retryReasons[why] = (retryReasons[why] ?? 0) + 1;
              await sleep(Math.min(200 * attempt, 2000));
            }
          }
        },
      });
      if (fill.errors) throw new Error(`${fill.errors} pod creates failed: ${fill.firstError}`);
      if (landed < count) throw new Error(`only ${landed} of ${count} pods were created in ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
      return { seconds: (performance.now() - t0) / 1000, retries, retryReasons };
    };
    // At least 50 bindings a second, or 10 minutes.
    const waitMs = (count: number) => Math.max(600_000, count * 20);

    let initFigures: InitPodsFigures | undefined;
    if (initCount > 0) {
      progress(`creating ${initCount} init pods (unmeasured, as scheduler_perf's initPods: the processes' cold start)`);
      const made = await createPods('i-', initCount, initial);
      await until(`${initCount} init pods bound`, waitMs(initCount), () => initial.bound.size >= initCount || undefined, 100);
      await until(`${initCount} init pods Running`, waitMs(initCount) / 2, () => initial.running.size >= initCount || undefined, 100);
      initFigures = { count: initCount, createdPerSec: initCount / made.seconds, ...phaseLatencies(initial) };
      progress(`init pods bound at ${initFigures.boundPerSec.toFixed(0)}/s, creation -> binding p99 ${(initFigures.schedulingLatency.p99 / 1000).toFixed(2)} s`);
    }
    const pids = { apiserver: server.pids(), scheduler: scheduler.pid, 'controller-manager': cm.pid, etcd: etcdPid(), 'hollow nodes': fleet.pids };
    const idleSeconds = opts.idleSeconds ?? 10;
    const idleCpuMsPerSec: Record<string, number> = {};
    if (idleSeconds > 0) {
      progress(`measuring each process's CPU with no pod work for ${idleSeconds} s`);
      Object.assign(idleCpuMsPerSec, await idleCpu(pids, idleSeconds));
    }
    progress(`creating ${opts.pods} pods`);
    const cpu = new CpuMeter(pids);
    const syscalls = new SyscallMeter(pids);
    const runQueue = new RunQueueMeter(pids);
    const rss0 = rssByProcess();
    const metrics0 = await apiserverMetrics(server);
    const connections0 = connectionCounts(metrics0);
    const schedulerMetrics0 = await metricsText(`http://127.0.0.1:${schedulerMetricsPort}/metrics`);
    const requests0 = await requestCounts(server, metrics0);
    const etcdMetrics0 = await etcdMetrics();
    const etcdWindowFrom = Date.now();
    const etcdCalls0 = etcdCallCounts(etcdMetrics0);
    const tCreate = performance.now();
    const { seconds: createSeconds, retries: createRetries, retryReasons: createRetryReasons } = await createPods('p-', opts.pods, measured);
    const createdPerSec = opts.pods / createSeconds;
    progress(`created at ${createdPerSec.toFixed(0)}/s; waiting for every binding`);
    await until(`${opts.pods} pods bound`, waitMs(opts.pods), () => bound.size >= opts.pods || undefined, 100).catch((e: Error) => progress(e.message));
    const cpuToBound = cpu.read();
    const runQueueToBound = runQueue.read();
    await until(`${opts.pods} pods Running`, waitMs(opts.pods) / 2, () => running.size >= opts.pods || undefined, 100).catch((e: Error) => progress(e.message));
    const cpuToRunning = cpu.read();
    const syscallsToRunning = syscalls.read();
    // The steady cost again, with every pod in place: what the cluster's size costs when nothing happens
    // (hollow relists over more pods, larger heaps to collect), which the per-pod figure includes.
    const idleAfterCpuMsPerSec: Record<string, number> = {};
    /** Requests and etcd calls per second in that window: what the cluster does at rest. */
    const atRestPerSec: Record<string, number> = {};
    const restSeconds = opts.restSeconds ?? 30;
    if (restSeconds > 0) {
      // The recorders write the events they still hold (up to 1,000 each) after the last pod ran: wait for
      // that to end, so the window measures rest and not the tail of the run.
      const events = async () => (await requestCounts(server)).get('CREATE events') ?? 0;
      let last = await events();
      let stableSince = performance.now();
      const deadline = performance.now() + 120_000;
      while (performance.now() - stableSince < 3000 && performance.now() < deadline) {
        await sleep(500);
        const now = await events();
        if (now !== last) (last = now), (stableSince = performance.now());
      }
      progress(`measuring each process's CPU with no pod work for ${restSeconds} s, every pod in place`);
      const [req0, calls0] = [await requestCounts(server), etcdCallCounts(await etcdMetrics())];
      const t0 = performance.now();
      Object.assign(idleAfterCpuMsPerSec, await idleCpu(pids, restSeconds));
      const [req1, calls1] = [await requestCounts(server), etcdCallCounts(await etcdMetrics())];
      const secs = (performance.now() - t0) / 1000;
      for (const [k, n] of req1) if (n > (req0.get(k) ?? 0)) atRestPerSec[k] = (n - (req0.get(k) ?? 0)) / secs;
      for (const [k, n] of calls1) if (n > (calls0.get(k) ?? 0)) atRestPerSec[`etcd ${k}`] = (n - (calls0.get(k) ?? 0)) / secs;
    }
    const metrics1 = await apiserverMetrics(server);
    const connections1 = connectionCounts(metrics1);
    const schedulerMetrics1 = await metricsText(`http://127.0.0.1:${schedulerMetricsPort}/metrics`);
    const pauses = { apiserver: runtimePauses(metrics0, metrics1), scheduler: runtimePauses(schedulerMetrics0, schedulerMetrics1) };
    const requests1 = await requestCounts(server, metrics1);
    const [watch0, watch1] = [watchWriteCounts(metrics0), watchWriteCounts(metrics1)];
    const [events0, events1] = [watchEventsByKind(metrics0), watchEventsByKind(metrics1)];
    const watchEventsPerPod = Object.fromEntries([...events1].map(([kind, n]) => [kind, (n - (events0.get(kind) ?? 0)) / opts.pods]).filter(([, v]) => (v as number) > 0));
    const apiLatency = latencyBetween(parseLatencyHistogram(metrics0), parseLatencyHistogram(metrics1));
    const etcdMetrics1 = await etcdMetrics();
    const etcdCalls1 = etcdCallCounts(etcdMetrics1);
    const etcdWindow = etcdStops(etcdMetrics0, etcdMetrics1);
    const etcdLog = etcdLogText();
    const etcdSlowLog = etcdLog !== undefined ? summarizeEtcdSlowLog(etcdLog, etcdWindowFrom, Date.now()) : undefined;
    const etcdCallsPerPod: Record<string, number> = {};
    for (const [k, n] of etcdCalls1) if (n > (etcdCalls0.get(k) ?? 0)) etcdCallsPerPod[k] = (n - (etcdCalls0.get(k) ?? 0)) / opts.pods;
    const requestWindowSeconds = (performance.now() - tCreate) / 1000;
    const cpuMsPerPodNetOfIdle: Record<string, number> = {};
    for (const [k, v] of Object.entries(cpuToRunning)) if (idleCpuMsPerSec[k] !== undefined) cpuMsPerPodNetOfIdle[k] = (v * 1000 - idleCpuMsPerSec[k]! * requestWindowSeconds) / opts.pods;
    const requestsPerPod: Record<string, number> = {};
    let writes = 0;
    for (const [k, n] of requests1) {
      const d = n - (requests0.get(k) ?? 0);
      if (d <= 0) continue;
      requestsPerPod[k] = d / opts.pods;
      if (/^(CREATE|UPDATE|PATCH|DELETE|DELETECOLLECTION) /.test(k)) writes += d;
    }
    const rss = rssByProcess();
    const rssMiBPer1000Pods = Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, ((v - (rss0[k] ?? v)) * 1000) / opts.pods]));
    const delivery: number[] = [];
    for (const [k, t] of acked) {
      const seen = addedSeen.get(k);
      if (seen !== undefined) delivery.push(Math.max(0, seen - t));
    }
    progress('LIST of every pod in the cluster, three times');
    const listAllPods = { items: 0, ms: [] as number[], bodyMs: [] as number[], parseMs: [] as number[], bytes: 0, errors: [] as string[] };
    const beforeLists = await apiserverMetrics(server);
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      // A failed LIST is a figure too (it failed, after so long): the run goes on to print the rest.
      try {
        // What pods.list() does, timed in its two parts.
        const text = await client.requestText({ method: 'GET', path: '/api/v1/pods' });
        const received = performance.now();
        const all = JSON.parse(text) as { items: unknown[] };
        const parsed = performance.now();
        listAllPods.ms.push(parsed - t);
        listAllPods.bodyMs.push(received - t);
        listAllPods.parseMs.push(parsed - received);
        listAllPods.bytes = Buffer.byteLength(text);
        listAllPods.items = all.items.length;
      } catch (err) {
        listAllPods.errors.push(`${(err as Error).message.slice(0, 200)} after ${((performance.now() - t) / 1000).toFixed(1)} s`);
        progress(`LIST of every pod failed: ${listAllPods.errors.at(-1)}`);
      }
    }

    const afterLists = await apiserverMetrics(server);
    const readsDuringLists = readSources(beforeLists, afterLists);
    const listAllPodsLoop = runtimePauses(beforeLists, afterLists).eventLoop;
    const readyAfterScheduling = (await fleetState(nodesApi, 'hollow-')).ready;
    const { boundPerSec, schedulingLatency, runningLatency } = phaseLatencies(measured);
    const bindTimes = [...bound.values()].sort((a, b) => a - b);
    const lastBind = bindTimes[bindTimes.length - 1] ?? tCreate;
    const windows: number[] = [];
    // One pass over the sorted times: 150,000 bindings make a filter per window too slow.
    for (let w = bindTimes[0] ?? 0, i = 0; w < lastBind; w += 1000) {
      let n = 0;
      while (i < bindTimes.length && bindTimes[i]! < w + 1000) (n++, i++);
      windows.push(n);
    }
    const decision = schedulerDecisionMs(schedulerMetrics1);
    const sortedWindows = [...windows].sort((a, b) => a - b);

    progress(`Deployment of ${opts.deploymentReplicas} replicas to fully available`);
    const tDep = performance.now();
    await deployments.create(deployment(ns, 'web', opts.deploymentReplicas));
    await until('the deployment to be available', 300_000, async () => available(await deployments.get(ns, 'web')) >= opts.deploymentReplicas || undefined);
    const deploymentMs = performance.now() - tDep;

    progress(`losing ${lostName} (SIGKILL of its hollow-node process)`);
    const lostPods = [...watch.pods.values()].filter((p) => p.spec?.nodeName === lostName && p.metadata.labels?.app === 'lost').map(key);
    const tLost = performance.now();
    await lost.stop('SIGKILL');
    const notReadyMs = await until('the lost node to be NotReady', 300_000, async () => {
      const n = await nodesApi.get(undefined, lostName);
      const ready = ((n.status as { conditions?: Array<{ type: string; status: string }> })?.conditions ?? []).find((c) => c.type === 'Ready');
      return ready && ready.status !== 'True' ? performance.now() - tLost : undefined;
    }, 100);
    const evictedMs = await until('its pods to be evicted', 300_000, () => (lostPods.every((k) => !watch.pods.has(k) || watch.pods.get(k)!.metadata.deletionTimestamp) ? performance.now() - tLost : undefined), 50);
    const runningElsewhereMs = await until(`${opts.lostNodePods} replacement pods Running elsewhere`, 300_000, () => {
      const live = [...watch.pods.values()].filter((p) => p.metadata.labels?.app === 'lost' && !p.metadata.deletionTimestamp && p.spec?.nodeName !== lostName && isRunning(p));
      return live.length >= opts.lostNodePods ? performance.now() - tLost : undefined;
    }, 50);

    const measureApiserverRestart = async (): Promise<NonNullable<SchedulerBenchResult['apiserverRestart']>> => {
      progress('apiserver crash: SIGKILL, started again at once');
      // One LIST before and one after (the benchmark's watch keeps only the lost node's pods, and may relist).
      // Those of the node lost above are left out: their eviction may still be under way.
      const liveMeasured = async () => new Set((await pods.list(ns)).items.filter((p) => p.metadata.name!.startsWith('p-') && !p.metadata.deletionTimestamp && p.spec?.nodeName !== lostName).map(key));
      const liveBefore = await liveMeasured();
      const readyBefore = (await fleetState(nodesApi, 'hollow-')).ready;
      const relistsBefore = watch.relists;
      const resumesBefore = watch.resumes;
      const tKill = performance.now();
      await server.restart('SIGKILL');
      const restartReadyMs = performance.now() - tKill;
      const tReady = performance.now();
      await deployments.create(deployment(ns, 'after-restart', opts.deploymentReplicas));
      await until('the deployment made after the restart to be available', 300_000, async () => available(await deployments.get(ns, 'after-restart')) >= opts.deploymentReplicas || undefined);
      const restartDeploymentMs = performance.now() - tReady;
      // Long enough for a node-lifecycle controller that misjudged its nodes (Leases not renewed during the outage) to say so.
      await sleep(Math.max(0, RESTART_SETTLE_MS - (performance.now() - tKill)));
      const liveAfter = await liveMeasured();
      return {
        readyMs: restartReadyMs,
        deploymentAvailableMs: restartDeploymentMs,
        podsLost: [...liveBefore].filter((k) => !liveAfter.has(k)).length,
        podsBefore: liveBefore.size,
        nodesReadyBefore: readyBefore,
        nodesReadyAfter: (await fleetState(nodesApi, 'hollow-')).ready,
        connections: connectionCounts(await apiserverMetrics(server)),
        benchWatchRelists: watch.relists - relistsBefore,
        benchWatchResumes: watch.resumes - resumesBefore,
      };
    };
    // Every client at once loses its connections and watches and comes back: nothing may be lost or judged dead.
    // Measured last: a failure here costs this figure, not the run's others.
    // A SIGKILLed process writes no CPU profile: a profiled apiserver is not crashed (its profile is the point).
    const skipRestart = profiled('apiserver');
    if (skipRestart) progress('apiserver crash: skipped (the apiserver is being profiled, and a SIGKILLed process writes no profile)');
    const apiserverRestart = skipRestart
      ? undefined
      : await measureApiserverRestart().catch((err: unknown) => {
          progress(`apiserver restart: ${(err as Error).message.slice(0, 300)}`);
          return undefined;
        });

    const result: SchedulerBenchResult = {
      nodes: opts.nodes,
      pods: opts.pods,
      hollowEvents,
      fleetNice: opts.fleetNice ?? 0,
      createdPerSec,
      boundPerSec,
      throughputWindows: {
        average: windows.length ? windows.reduce((a, b) => a + b, 0) / windows.length : Number.NaN,
        p50: percentile(sortedWindows, 50),
        p90: percentile(sortedWindows, 90),
        p99: percentile(sortedWindows, 99),
      },
      firstWindows: windows.slice(0, 10),
      ...(initFigures ? { initPods: initFigures } : {}),
      schedulingLatency,
      runningLatency,
      // performance.now() and the wall clock differ by a constant: etcdWindowFrom was taken just before tCreate.
      slowBindings: slowStretches(created, bound, { t0: tCreate, thresholdMs: 2000, windowMs: 10_000, top: 5 }).map((st) => ({ ...st, at: new Date(etcdWindowFrom + st.atMs).toISOString() })),
      unbound: opts.pods - bound.size,
      deletedDuringRun: deleted.size,
      createRetries,
      createRetryReasons,
      watchRelists: watch.relists,
      baseline: { etcdPutsPerSec: put.opsPerSec, etcdPutP99Ms: put.latency.p99, decisionMeanMs: decision, decisionsPerSecAlone: 1000 / decision },
      idleCpuMsPerSec,
      idleAfterCpuMsPerSec,
      atRestPerSec,
      cpuMsPerPodNetOfIdle,
      cpuMsPerPodToBound: perPod(cpuToBound, opts.pods),
      cpuMsPerPodToRunning: perPod(cpuToRunning, opts.pods),
      runQueue: runQueueToBound,
      syscallsPerPod: Object.fromEntries(Object.entries(syscallsToRunning).map(([k, v]) => [k, { reads: v.reads / opts.pods, writes: v.writes / opts.pods }])),
      requestsPerPod,
      writesPerPod: writes / opts.pods,
      ...(watch0 && watch1 ? { watchWrites: { lines: watch1.lines - watch0.lines, writes: watch1.writes - watch0.writes } } : {}),
      ...(events1.size ? { watchEventsPerPod } : {}),
      etcdCallsPerPod,
      requestWindowSeconds,
      rssMiB: rss,
      rssMiBPer1000Pods,
      apiserverMemoryMiB: memoryMiB(metrics1),
      apiLatency,
      runtimePauses: pauses,
      etcdStops: etcdWindow,
      ...(etcdSlowLog ? { etcdSlowLog } : {}),
      readSources: { window: readSources(metrics0, metrics1), listAllPods: readsDuringLists },
      watchDelivery: summarize(delivery),
      listAllPods,
      ...(listAllPodsLoop ? { listAllPodsLoop } : {}),
      deployment: { replicas: opts.deploymentReplicas, availableMs: deploymentMs },
      lostNode: { pods: lostPods.length, graceSeconds: opts.nodeMonitorGraceSeconds, notReadyMs, evictedMs, runningElsewhereMs },
      ...(apiserverRestart ? { apiserverRestart } : {}),
      nodesReady: { afterRegistration: readyAfterRegistration, afterScheduling: readyAfterScheduling },
      podRangesSeconds,
      connections: { registration: connectionsBetween(connectionsAtStart, connections0), pods: connectionsBetween(connections0, connections1) },
      machine: { cpus: cpus().length, loadBefore, loadAfter: loadavg()[0]! },
      targets: [],
    };
    result.targets = [
      // Only a run offered 500 creates a second or more can bind 500: the scale run, paced under it (SCALE_CREATE_RATE), is judged on latencies.
      ...(opts.createRate !== undefined && opts.createRate < BIND_RATE_TARGET
        ? []
        : [
            {
              name: `pods bound per second (${opts.nodes} nodes)`,
              target: `>= ${BIND_RATE_TARGET}/s`,
              // Paced creates cap bindings at their rate: such a run says whether binding kept up, the unpaced one what it can do.
              measured: `${boundPerSec.toFixed(0)}/s (created at ${createdPerSec.toFixed(0)}/s${opts.createRate ? ', which caps it' : ''}; ${(boundPerSec / put.opsPerSec).toFixed(2)}x bare etcd puts)`,
              met: boundPerSec >= BIND_RATE_TARGET,
            },
          ]),
      {
        name: 'creation -> binding p99',
        target: '<= 2 s',
        measured: `${(result.schedulingLatency.p99 / 1000).toFixed(2)} s${opts.createRate ? ` (creates paced at ${opts.createRate}/s)` : ' (creates unpaced: queueing included)'}${initFigures ? `; the ${initFigures.count} init pods before: ${(initFigures.schedulingLatency.p99 / 1000).toFixed(2)} s` : '; no init pods'}`,
        met: result.schedulingLatency.p99 <= 2000,
      },
      {
        name: 'pod startup p99 (creation -> Running)',
        target: '<= 5 s',
        measured: `${(result.runningLatency.p99 / 1000).toFixed(2)} s`,
        met: result.runningLatency.p99 <= 5000,
      },
      {
        name: 'apiserver crash and restart: nothing lost',
        target: '0 pods lost, every node Ready',
        measured: apiserverRestart
          ? `${apiserverRestart.podsLost} of ${apiserverRestart.podsBefore} pods lost; ${apiserverRestart.nodesReadyAfter} of ${apiserverRestart.nodesReadyBefore} nodes Ready`
          : skipRestart
            ? 'not measured: the apiserver was profiled'
            : 'not measured: the restart failed (see above)',
        met: !!apiserverRestart && apiserverRestart.podsLost === 0 && apiserverRestart.nodesReadyAfter >= apiserverRestart.nodesReadyBefore,
      },
      {
        name: 'API call latency p99 (every verb, resource, scope)',
        target: 'Kubernetes SLO',
        measured: sloSummary(apiLatency),
        met: apiLatency.every((c) => c.met),
      },
    ];
    printSchedulerResult(result);
    if (opts.previous) printPrevious(opts.previous, result);
    printJson(opts.benchName ?? 'scheduler', result);
    return result;
  } finally {
    progress('stopping');
    await watch.stop().catch(() => undefined);
    // A profiled process writes its profile as it exits: minutes of samples take a while.
    const grace = opts.cpuProfDir ? PROFILED_STOP_GRACE_MS : undefined;
    for (const s of started.reverse()) await s.stop(grace).catch(() => undefined);
    await client.close().catch(() => undefined);
    await server.stop(grace);
    await deleteEtcdPrefix(etcdEndpoints(), `${server.prefix}/`).catch(() => undefined);
  }
}

const showConnections = (c: ConnectionCounts) => `${c.accepted} / ${c.tlsFailed} / ${c.listenOverflows}`;

function printSchedulerResult(r: SchedulerBenchResult): void {
  print(`machine: ${r.machine.cpus} cores, 1-min load average ${r.machine.loadBefore.toFixed(1)} at start, ${r.machine.loadAfter.toFixed(1)} at end`);
  section(`scheduling ${r.pods} pods on ${r.nodes} hollow nodes`);
  print(
    table(
      ['measure', 'value'],
      [
        ['pods created per second (offered load)', r.createdPerSec],
        ['pods bound per second (bound ÷ first create → last binding)', r.boundPerSec],
        ['bindings per 1 s window: average / p50 / p90 / p99', `${r.throughputWindows.average.toFixed(0)} / ${r.throughputWindows.p50} / ${r.throughputWindows.p90} / ${r.throughputWindows.p99}`],
        ['bindings in each of the first 10 s', r.firstWindows?.join(' ') ?? '-'],
        [
          'init pods created first, unmeasured (scheduler_perf initPods): count, created/s, bound/s',
          r.initPods ? `${r.initPods.count}, ${r.initPods.createdPerSec.toFixed(0)}/s, ${r.initPods.boundPerSec.toFixed(0)}/s` : 'none',
        ],
        ['pods never bound', r.unbound],
        ['hollow nodes Ready: once registered / after every pod ran', `${r.nodesReady.afterRegistration} / ${r.nodesReady.afterScheduling} of ${r.nodes}`],
        ['every node given its pod range, s after registration', r.podRangesSeconds],
        ['apiserver connections accepted / TLS handshakes failed / dropped by the kernel (listen queue full), fleet registering', showConnections(r.connections.registration)],
        ['the same while the pods were created and ran', showConnections(r.connections.pods)],
        ['measured pods deleted during the run (evicted)', r.deletedDuringRun],
        ["benchmark watch relists (bindings then seen late)", r.watchRelists],
        ['pod creates retried (connect timeout, 503, 429)', `${r.createRetries}${Object.keys(r.createRetryReasons ?? {}).length ? ` (${Object.entries(r.createRetryReasons!).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}× ${k}`).join('; ')})` : ''}`],
        ["hollow nodes' kubelet Events", r.hollowEvents ? 'recorded' : 'off'],
        ['hollow-node processes\' nice (control plane: 0)', r.fleetNice ?? 0],
      ],
    ),
  );
  print('');
  print(
    table(
      ['latency (ms)', 'n', 'p50', 'p90', 'p99', 'max'],
      [
        ['creation -> binding seen', ...latencyCells(r.schedulingLatency)],
        ['creation -> Running (hollow node)', ...latencyCells(r.runningLatency)],
        ...(r.initPods
          ? [
              ['init pods (cold start): creation -> binding', ...latencyCells(r.initPods.schedulingLatency)],
              ['init pods (cold start): creation -> Running', ...latencyCells(r.initPods.runningLatency)],
            ]
          : []),
      ],
    ),
  );
  if (r.slowBindings?.length)
    print(`bindings over 2 s, by the 10 s stretch of creation (s after the first create, UTC: count, slowest s): ${r.slowBindings.map((b) => `${b.atMs / 1000} (${b.at.slice(11, 19)}): ${b.count}, ${(b.maxMs / 1000).toFixed(1)}`).join('; ')}`);
  section('baselines measured in the same run');
  print(
    table(
      ['baseline', 'value', 'pods bound/s as a ratio'],
      [
        [`bare etcd put/s (pod-sized value, same concurrency; p99 ${r.baseline.etcdPutP99Ms.toFixed(1)} ms)`, r.baseline.etcdPutsPerSec, (r.boundPerSec / r.baseline.etcdPutsPerSec).toFixed(3)],
        [`scheduler decision alone (filter + score), mean ${r.baseline.decisionMeanMs.toFixed(3)} ms: decisions/s`, r.baseline.decisionsPerSecAlone, (r.boundPerSec / r.baseline.decisionsPerSecAlone).toFixed(3)],
      ],
    ),
  );
  section('CPU ms per pod (from /proc; the figure a shared machine distorts least)');
  const procs = Object.keys(r.cpuMsPerPodToRunning);
  print(table(['process', 'create -> last bound', 'create -> last Running'], procs.map((k) => [k, r.cpuMsPerPodToBound[k], r.cpuMsPerPodToRunning[k]])));
  const sys = r.syscallsPerPod;
  if (sys && Object.keys(sys).length) {
    print('');
    print('syscalls per pod, create -> last Running (from /proc/PID/io: each socket read and write is one, and on loopback a write also runs the receiver\'s TCP path):');
    print(table(['process', 'reads', 'writes'], Object.entries(sys).map(([k, v]) => [k, v.reads.toFixed(1), v.writes.toFixed(1)])));
  }
  const rq = r.runQueue;
  if (rq && Object.keys(rq).length) {
    print('');
    print("waiting for a core, create -> last bound (from /proc/PID/task/*/schedstat; a main thread that waits about as long as it runs is starved by the others, not slow of itself):");
    print(table(['process', 'main thread runs ms/s', 'main thread waits ms/s', 'all threads wait ms/s'], Object.entries(rq).map(([k, v]) => [k, v.mainRunMsPerSec.toFixed(0), v.mainWaitMsPerSec.toFixed(0), v.allWaitMsPerSec.toFixed(0)])));
  }
  if (Object.keys(r.idleCpuMsPerSec).length) {
    print('');
    print(`steady cost (CPU ms per second with no pod work, measured before the pods and again after the last one ran) and the per-pod figure net of the first over the ${r.requestWindowSeconds.toFixed(0)} s window:`);
    print(table(['process', 'idle CPU ms/s', 'idle after the pods', 'CPU ms per pod net of idle'], procs.map((k) => [k, r.idleCpuMsPerSec[k] ?? Number.NaN, r.idleAfterCpuMsPerSec?.[k] ?? Number.NaN, r.cpuMsPerPodNetOfIdle[k] ?? Number.NaN])));
    const rest = Object.entries(r.atRestPerSec ?? {}).filter(([, v]) => v >= 0.1).sort((a, b) => b[1] - a[1]);
    if (rest.length) print(`at rest after the pods, per second: ${rest.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  }
  section(`apiserver requests per pod (create -> last Running, ${r.requestWindowSeconds.toFixed(0)} s; node heartbeats included)`);
  const reqs = Object.entries(r.requestsPerPod).sort((a, b) => b[1] - a[1]);
  print(table(['request', 'per pod'], [...reqs.filter(([, v]) => v >= 0.005).map(([k, v]) => [k, v.toFixed(3)]), ['all writes', r.writesPerPod.toFixed(3)]]));
  const ww = r.watchWrites;
  if (ww && ww.writes > 0) print(`watch responses: ${(ww.lines / r.requestWindowSeconds).toFixed(0)} lines/s in ${(ww.writes / r.requestWindowSeconds).toFixed(0)} socket writes/s (${(ww.lines / ww.writes).toFixed(1)} lines a write)`);
  const we = Object.entries(r.watchEventsPerPod ?? {}).sort((a, b) => b[1] - a[1]);
  if (we.length) print(`watch events sent per pod, every watcher counted: ${we.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  section('etcd calls per pod (from etcd /metrics, same window; other apiservers on this etcd would count too)');
  const calls = Object.entries(r.etcdCallsPerPod).sort((a, b) => b[1] - a[1]);
  print(table(['etcd method', 'per pod'], [...calls.map(([k, v]) => [k, v.toFixed(3)]), ['all', calls.reduce((a, [, v]) => a + v, 0).toFixed(3)]]));
  section(`API call latency (apiserver_request_duration_seconds, create -> last Running; p99 is a bucket's upper bound)`);
  print(table(['call', 'scope', 'count', 'p99 (s)', 'SLO (s)', 'status'], r.apiLatency.map((c) => [c.call, c.scope, c.count, Number.isFinite(c.p99) ? c.p99 : '> 60', c.threshold, c.met ? 'OK' : 'MISS'])));
  if (r.readSources?.window) print(`\napiserver's consistent reads over the window: ${readSourcesText(r.readSources.window)}`);
  printPauses(r.runtimePauses);
  printEtcdStops(r.etcdStops);
  printEtcdSlowLog(r.etcdSlowLog, r.etcdStops?.slowApplies);
  print('');
  print(
    table(
      ['watch and list', 'n', 'p50', 'p90', 'p99', 'max'],
      [
        ['watch delivery: create acknowledged -> ADDED seen (ms)', r.watchDelivery.count, r.watchDelivery.p50, r.watchDelivery.p90, r.watchDelivery.p99, r.watchDelivery.max],
        [`LIST of every pod (${r.listAllPods.items} items${r.listAllPods.bytes ? `, ${(r.listAllPods.bytes / 1048576).toFixed(0)} MiB` : ''}, ms${r.listAllPods.errors.length ? `; ${r.listAllPods.errors.length} failed` : ''})`, r.listAllPods.ms.length, median(r.listAllPods.ms), '-', '-', r.listAllPods.ms.length ? Math.max(...r.listAllPods.ms) : '-'],
        ...(r.listAllPods.bodyMs?.length
          ? [
              ['  of which request -> last byte received (ms)', r.listAllPods.bodyMs.length, median(r.listAllPods.bodyMs), '-', '-', Math.max(...r.listAllPods.bodyMs)],
              ['  of which the client\'s JSON.parse (ms)', r.listAllPods.parseMs!.length, median(r.listAllPods.parseMs!), '-', '-', Math.max(...r.listAllPods.parseMs!)],
            ]
          : []),
      ],
    ),
  );
  if (r.readSources?.listAllPods) print(`during the LISTs of every pod: ${readSourcesText(r.readSources.listAllPods)}`);
  if (r.listAllPodsLoop) print(`during the LISTs of every pod, the apiserver's event loop was late by over 0.1 s ${r.listAllPodsLoop.over100ms} times, by over 1 s ${r.listAllPodsLoop.over1s} times, at most ${longestText(r.listAllPodsLoop)} s (every request in flight waited as long)`);
  section('memory (RSS MiB after scheduling; growth per 1,000 pods from registration to every pod Running)');
  print(table(['process', 'RSS MiB', 'MiB per 1,000 pods'], Object.entries(r.rssMiB).map(([k, v]) => [k, v, r.rssMiBPer1000Pods[k]])));
  const m = r.apiserverMemoryMiB;
  if (m && Number.isFinite(m.heapUsed)) print(`apiserver: V8 heap ${m.heapUsed.toFixed(0)} MiB used of ${m.heapTotal.toFixed(0)} reserved; Buffers outside the heap ${m.external.toFixed(0)} MiB`);
  section('control loops');
  print(
    table(
      ['scenario', 'seconds'],
      [
        [`Deployment of ${r.deployment.replicas} replicas to fully available`, r.deployment.availableMs / 1000],
        [`lost node (${r.lostNode.pods} pods, grace ${r.lostNode.graceSeconds} s): NotReady after`, r.lostNode.notReadyMs / 1000],
        ['   its pods evicted after', r.lostNode.evictedMs / 1000],
        ['   replacements Running elsewhere after', r.lostNode.runningElsewhereMs / 1000],
        ...(r.apiserverRestart
          ? [
              ['apiserver SIGKILLed and started again: ready after', r.apiserverRestart.readyMs / 1000],
              [`   then a Deployment of ${r.deployment.replicas} fully available after`, r.apiserverRestart.deploymentAvailableMs / 1000],
            ]
          : []),
      ],
    ),
  );
  const ar = r.apiserverRestart;
  if (ar) {
    print(
      `across the apiserver's restart: measured pods lost ${ar.podsLost} of ${ar.podsBefore}; fleet nodes Ready ${ar.nodesReadyBefore} before, ${ar.nodesReadyAfter} ${RESTART_SETTLE_MS / 1000} s after the kill; ` +
        `connections accepted / TLS failed / kernel-dropped by the new apiserver ${showConnections(ar.connections)}; benchmark watch resumed ${ar.benchWatchResumes}× / relisted ${ar.benchWatchRelists}×`,
    );
  }
  section('targets (issues 4 and 11)');
  print(targetTable(r.targets));
}

/** The figures a `--previous` file is compared on. */
const COMPARED: ReadonlyArray<readonly [string, string]> = [
  ['pods created per second', 'createdPerSec'],
  ['pods bound per second', 'boundPerSec'],
  ['creation -> binding p99 (ms)', 'schedulingLatency.p99'],
  ['init pods: creation -> binding p99 (ms)', 'initPods.schedulingLatency.p99'],
  ['creation -> Running p99 (ms)', 'runningLatency.p99'],
  ['watch delivery p99 (ms)', 'watchDelivery.p99'],
  ['CPU ms per pod: apiserver', 'cpuMsPerPodToRunning.apiserver'],
  ['CPU ms per pod: etcd', 'cpuMsPerPodToRunning.etcd'],
  ['CPU ms per pod: scheduler', 'cpuMsPerPodToRunning.scheduler'],
  ['CPU ms per pod: controller-manager', 'cpuMsPerPodToRunning.controller-manager'],
  ['CPU ms per pod: hollow nodes', 'cpuMsPerPodToRunning.hollow nodes'],
  ['etcd writes per pod', 'writesPerPod'],
  ['RSS MiB: apiserver', 'rssMiB.apiserver'],
  ['RSS MiB: scheduler', 'rssMiB.scheduler'],
  ['RSS MiB: controller-manager', 'rssMiB.controller-manager'],
  ['RSS MiB: etcd', 'rssMiB.etcd'],
  ['Deployment available (ms)', 'deployment.availableMs'],
  ['apiserver restart: ready (ms)', 'apiserverRestart.readyMs'],
  ['apiserver restart: then a Deployment available (ms)', 'apiserverRestart.deploymentAvailableMs'],
];

/** Prints this run beside an earlier one (`--previous FILE`). */
function printPrevious(previous: PreviousFigures, r: SchedulerBenchResult): void {
  section(`this run beside the previous one (${previous.at ?? 'undated'}, ${String(previous.nodes ?? '?')} nodes, ${String(previous.pods ?? '?')} pods)`);
  print(table(['figure', 'previous', 'now', 'now / previous'], comparePrevious(previous, r, COMPARED)));
}

/** One line for the API latency target: the worst call against its threshold. */
function sloSummary(calls: readonly ApiCallLatency[]): string {
  if (!calls.length) return 'no calls measured';
  const worst = [...calls].sort((a, b) => b.p99 / b.threshold - a.p99 / a.threshold)[0]!;
  const missed = calls.filter((c) => !c.met).length;
  return `${missed ? `${missed} of ${calls.length} call kinds over` : `all ${calls.length} call kinds within`}; worst ${worst.call} (${worst.scope}) p99 <= ${Number.isFinite(worst.p99) ? worst.p99 : '> 60'} s of ${worst.threshold} s`;
}

/** A process's /metrics text; empty when it cannot be read (the figures from it are then left out). */
async function metricsText(url: string): Promise<string> {
  try {
    const res = await request(url);
    return await res.body.text();
  } catch {
    return '';
  }
}

/** The window's GC pauses and event-loop delays per process, when the processes report them. */
function printPauses(pauses: SchedulerBenchResult['runtimePauses']): void {
  const rows = Object.entries(pauses ?? {}).filter(([, p]) => p.gc || p.eventLoop);
  if (rows.length === 0) return;
  print('');
  print('stops of the event loop over the same window (every request in flight waits them out; "longest" is a bucket bound, s):');
  print(
    table(
      ['process', 'GC pauses', 'GC total s', 'GC > 0.1 s', 'GC > 1 s', 'longest GC', 'loop late > 0.1 s', 'late > 1 s', 'longest late'],
      rows.map(([name, p]) => [name, p.gc?.count ?? '-', p.gc ? p.gc.seconds.toFixed(1) : '-', p.gc?.over100ms ?? '-', p.gc?.over1s ?? '-', longestText(p.gc), p.eventLoop?.over100ms ?? '-', p.eventLoop?.over1s ?? '-', longestText(p.eventLoop)]),
    ),
  );
}

/** What etcd's disk and apply loop did over the window, when it reports it. */
function printEtcdStops(stops: EtcdStops | undefined): void {
  if (!stops) return;
  const rows = (
    [
      ['WAL fsync', stops.walFsync],
      ['backend commit', stops.backendCommit],
      ['snapshot save', stops.snapshotSave],
      ['history compaction', stops.compaction],
      ['  its pauses (writes wait)', stops.compactionPause],
    ] as const
  ).filter(([, p]) => p !== undefined);
  if (rows.length === 0) return;
  print('');
  print(
    `etcd over the same window ("> 0.1 s" and "> 1 s" count those over the first bucket bound at or above: 0.128 and 1.024 s for fsyncs and commits, 1.6 s for compactions)${stops.slowApplies !== undefined ? `; applies slower than 100 ms: ${stops.slowApplies}` : ''}${stops.slowReadIndexes !== undefined ? `; slow linearizable reads: ${stops.slowReadIndexes}` : ''}${stops.dbBytes !== undefined ? `; database ${(stops.dbBytes / 2 ** 20).toFixed(0)} MiB at the end` : ''}:`,
  );
  print(
    table(
      ['etcd', 'count', 'total s', '> 0.1 s', '> 1 s', 'longest'],
      rows.map(([name, p]) => [name, p!.count, p!.seconds.toFixed(1), p!.over100ms, p!.over1s, longestText(p)]),
    ),
  );
}

/**
 * etcd's slow applies by request, from its log, when the benchmark could read
 * it. etcd's logger samples repeated lines, so under a storm the log holds
 * fewer than its /metrics counted (1,961 against 4,681 once): the counts are
 * a sample, their proportions and timings hold.
 */
function printEtcdSlowLog(log: EtcdSlowLog | undefined, counted: number | undefined): void {
  if (!log || log.count === 0) return;
  const during = log.kinds.reduce((a, k) => a + k.duringCompaction, 0);
  const sampled = counted !== undefined && counted > log.count ? ` of the ${counted} its /metrics counted (its log samples repeated lines)` : '';
  print('');
  print(
    `etcd's applies over 100 ms by request (its log, same window): ${log.count}${sampled}; ${during} of them while a history compaction ran (${log.compactions} compaction${log.compactions === 1 ? '' : 's'}, ${log.compactionSeconds.toFixed(1)} s of the ${log.windowSeconds.toFixed(0)} s window)`,
  );
  print(
    table(
      ['request', 'count', 'during a compaction', 'p50 took (ms)', 'longest (ms)'],
      log.kinds.slice(0, 12).map((k) => [k.kind, k.count, k.duringCompaction, k.p50Ms.toFixed(0), k.maxMs.toFixed(0)]),
    ),
  );
  print(`busiest 10 s stretches (s after the window's start: count): ${log.busiest.map((b) => `${b.atSeconds}: ${b.count}`).join(', ')}`);
}

/** The scheduler's mean filter + score time per decision (ms), from scheduler_scheduling_algorithm_duration_seconds in its /metrics text; NaN without it. */
function schedulerDecisionMs(text: string): number {
  const sum = sampleTotal(text, 'scheduler_scheduling_algorithm_duration_seconds_sum');
  const count = sampleTotal(text, 'scheduler_scheduling_algorithm_duration_seconds_count');
  return sum === undefined || !count ? Number.NaN : (sum / count) * 1000;
}

/** Every etcd member's /metrics text, one after the other (series of the same name add up); empty when unreadable. */
async function etcdMetrics(): Promise<string> {
  return (await Promise.all(etcdEndpoints().map((endpoint) => metricsText(`${endpoint}/metrics`)))).join('\n');
}

/** Unary gRPC calls etcd has started, by method (`KV/Range`, `KV/Txn`, `Lease/LeaseGrant`, ...), from its /metrics text. */
export function etcdCallCounts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('grpc_server_started_total{') || !line.includes('grpc_type="unary"')) continue;
    const method = /grpc_method="([^"]+)"/.exec(line)?.[1];
    const service = /grpc_service="(?:etcdserverpb\.)?([^"]+)"/.exec(line)?.[1];
    const n = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!method || !n) continue;
    const k = `${service}/${method}`;
    out.set(k, (out.get(k) ?? 0) + n);
  }
  return out;
}
