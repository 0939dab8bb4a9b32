/**
 * Starting the real `flotilla <component>` processes the benchmarks measure
 * (packages/cli/dist, so `npx tsc -b` first), with their output in a log
 * file rather than a pipe the benchmark process would have to drain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { childPids, etcdEndpoints, flotillaBin, readProcStat, repoRoot } from '@flotilla/e2e';

// Where the repo, the built CLI and the test etcd are: the e2e harness's answers, shared.
export { etcdEndpoints, flotillaBin, repoRoot } from '@flotilla/e2e';

/** Resident set size of a process (the sum over several) in MiB (from /proc), or NaN when it is gone. */
export function rssMiB(pid: number | number[] | undefined): number {
  if (Array.isArray(pid)) return pid.reduce((sum, p) => sum + rssMiB(p), 0);
  if (!pid) return Number.NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user+system, seconds) a process (the sum over several) has used so far, or NaN. */
export function cpuSeconds(pid: number | number[] | undefined): number {
  if (Array.isArray(pid)) return pid.reduce((sum, p) => sum + cpuSeconds(p), 0);
  if (!pid) return Number.NaN;
  const stat = readProcStat(`/proc/${pid}/stat`);
  return stat ? stat.cpuTicks / 100 : Number.NaN; // clock ticks, USER_HZ = 100
}

/** Read and write syscalls of a process (or processes, summed) so far, from /proc/PID/io; undefined when unreadable. */
export function ioSyscalls(pid: number | number[] | undefined): { reads: number; writes: number } | undefined {
  if (Array.isArray(pid)) {
    let reads = 0;
    let writes = 0;
    for (const p of pid) {
      const one = ioSyscalls(p);
      if (!one) return undefined;
      reads += one.reads;
      writes += one.writes;
    }
    return { reads, writes };
  }
  if (!pid) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  const reads = field('syscr');
  const writes = field('syscw');
  return Number.isFinite(reads) && Number.isFinite(writes) ? { reads, writes } : undefined;
}

/** Read and write syscalls of each named process (and this one, as `bench`) since construction. */
export class SyscallMeter {
  private readonly targets: Array<[string, number | number[] | undefined]>;
  private readonly start0: Map<string, { reads: number; writes: number } | undefined>;

  constructor(pids: Record<string, number | number[] | undefined>) {
    this.targets = [...Object.entries(pids), ['bench', process.pid]];
    this.start0 = new Map(this.targets.map(([k, pid]) => [k, ioSyscalls(pid)]));
  }

  /** Per name, the syscalls since construction; names whose counts could not be read are left out. */
  read(): Record<string, { reads: number; writes: number }> {
    const out: Record<string, { reads: number; writes: number }> = {};
    for (const [k, pid] of this.targets) {
      const a = this.start0.get(k);
      const b = ioSyscalls(pid);
      if (a && b) out[k] = { reads: b.reads - a.reads, writes: b.writes - a.writes };
    }
    return out;
  }
}

/** A child process the benchmark started, and how to stop it. */
export interface Started {
  pid: number;
  logFile: string;
  /** `signal` (SIGTERM), SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns `node <args>` with output into `logFile`; node flags (e.g. --cpu-prof) go first. */
export function spawnNode(args: string[], logFile: string, nodeFlags: string[] = [], env: NodeJS.ProcessEnv = process.env): Started {
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, ...args], { cwd: repoRoot(), stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return {
    pid: child.pid!,
    logFile,
    async stop(graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM') {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A running `flotilla apiserver` the benchmark started. */
export interface BenchApiServer extends Started {
  url: string;
  caPem: string;
  adminToken: string;
  /** Token of `system:node:<name>` for the given node names (those passed as `nodes`). */
  nodeTokens: Map<string, string>;
  prefix: string;
  dir: string;
  /** The apiserver's processes: the one started and, with `workers`, its worker processes (for CPU and RSS). */
  pids(): number[];
  /** Stops the process and removes its temporary files (the etcd data goes with the bench etcd). */
  stop(graceMs?: number): Promise<void>;
  /**
   * Kills the apiserver with `signal` (SIGKILL: a crash), starts it again on
   * the same port, etcd data, certificates and tokens, and waits for /readyz.
   * `pid`, `pids()` and `stop()` then refer to the new process.
   */
  restart(signal?: NodeJS.Signals): Promise<void>;
}

/** Options of startApiServer. */
export interface StartApiServerOptions {
  port: number;
  /** etcd key prefix (default `/bench-<random>`). */
  prefix?: string;
  /** Node names that get a node token. */
  nodes?: string[];
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeFlags?: string[];
  /** More `flotilla apiserver` flags. */
  extraArgs?: string[];
  /** Keep the log and profile directory (for --cpu-prof). */
  keepDir?: boolean;
  /** `flotilla apiserver --workers N`: apiserver processes behind the port (default 1). */
  workers?: number;
}

const token = () => randomBytes(24).toString('base64url');

/** How long BenchApiServer.restart waits for /readyz. */
const RESTART_READY_S = 300;

/** Starts the real apiserver over HTTPS on `port` and waits for /readyz. */
export async function startApiServer(options: StartApiServerOptions): Promise<BenchApiServer> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-'));
  const certDir = join(dir, 'certs');
  const tokenFile = join(dir, 'tokens.csv');
  const adminToken = token();
  const nodeTokens = new Map((options.nodes ?? []).map((n) => [n, token()] as const));
  const lines = [`${adminToken},admin,admin-uid,"system:masters"`];
  for (const [n, t] of nodeTokens) lines.push(`${t},system:node:${n},node-uid-${n},"system:nodes"`);
  await writeFile(tokenFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  const prefix = options.prefix ?? `/bench-${randomBytes(4).toString('hex')}`;
  const url = `https://127.0.0.1:${options.port}`;
  const launch = () =>
    spawnNode(
      [
        flotillaBin(),
        'apiserver',
        '--etcd-servers', etcdEndpoints().join(','),
        '--etcd-prefix', prefix,
        '--bind-address', '127.0.0.1',
        '--secure-port', String(options.port),
        '--cert-dir', certDir,
        '--token-auth-file', tokenFile,
        ...(options.workers && options.workers > 1 ? ['--workers', String(options.workers)] : []),
        ...(options.extraArgs ?? []),
      ],
      join(dir, 'apiserver.log'),
      options.nodeFlags ?? [],
    );
  let caPem = '';
  // Workers start one after another on a busy machine: 30 s each.
  const readyS = 30 * Math.max(1, options.workers ?? 1);
  const waitReady = async (proc: Started, waitS = readyS) => {
    // Lines logged before this start (a restart appends to the same log) do not count.
    const logFrom = (await readFile(proc.logFile, 'utf8').catch(() => '')).length;
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      try {
        caPem ||= await readFile(join(certDir, 'ca.crt'), 'utf8');
        const dispatcher = new Agent({ connect: { ca: caPem } });
        const res = await request(`${url}/readyz`, { dispatcher, headers: { authorization: `Bearer ${adminToken}` } });
        await res.body.text();
        await dispatcher.close();
        // With workers, every one of them must be listening, not just the one that answered.
        const listening = options.workers && options.workers > 1 ? (await readFile(proc.logFile, 'utf8')).slice(logFrom).split('\n').filter((l) => l.includes('"msg":"listening"')).length : 1;
        if (res.statusCode === 200 && listening >= (options.workers ?? 1)) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        await proc.stop(1000);
        const log = await readFile(proc.logFile, 'utf8').catch(() => '');
        throw new Error(`apiserver on ${url} not ready after ${waitS} s; log:\n${log.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let proc = launch();
  await waitReady(proc);
  return {
    get pid() {
      return proc.pid;
    },
    get logFile() {
      return proc.logFile;
    },
    url,
    get caPem() {
      return caPem;
    },
    adminToken,
    nodeTokens,
    prefix,
    dir,
    pids: () => (options.workers && options.workers > 1 ? [proc.pid, ...childPids(proc.pid)] : [proc.pid]),
    async restart(signal: NodeJS.Signals = 'SIGKILL') {
      await proc.stop(0, signal);
      proc = launch();
      // It loads every object into its read cache first: 150,000 pods take a while.
      await waitReady(proc, RESTART_READY_S);
    },
    async stop(graceMs?: number) {
      await proc.stop(graceMs);
      // FLOTILLA_BENCH_KEEP=1 keeps the processes' logs for a post-mortem.
      if (!options.keepDir && !process.env.FLOTILLA_BENCH_KEEP) await rm(dir, { recursive: true, force: true });
      else process.stderr.write(`[bench] logs kept in ${dir}\n`);
    },
  };
}

/** CPU time used between `start()` and `stop()` by some processes (by PID) and by this one. */
export class CpuMeter {
  private readonly start0: Map<string, number>;
  private readonly self0 = process.cpuUsage();

  constructor(private readonly pids: Record<string, number | number[] | undefined>) {
    this.start0 = new Map(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  }

  /** CPU seconds used since construction, per name, plus `bench` (this process). */
  read(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, pid] of Object.entries(this.pids)) out[k] = cpuSeconds(pid) - (this.start0.get(k) ?? Number.NaN);
    const self = process.cpuUsage(this.self0);
    out.bench = (self.user + self.system) / 1e6;
    return out;
  }
}

/** The PID of the benchmark's etcd (scripts/bench.sh exports it), to count its CPU too. */
export function etcdPid(): number | undefined {
  const v = Number(process.env.FLOTILLA_BENCH_ETCD_PID);
  return Number.isInteger(v) && v > 0 ? v : undefined;
}

/** The text of the benchmark etcd's log (scripts/bench.sh names it in FLOTILLA_BENCH_ETCD_LOG); undefined without one. */
export function etcdLogText(): string | undefined {
  const path = process.env.FLOTILLA_BENCH_ETCD_LOG;
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Nanoseconds a thread has run and has waited on a run queue (ready but not running), from /proc/.../schedstat. */
export interface SchedTimes {
  runNs: number;
  waitNs: number;
}

/** The first two fields of a schedstat line (`run wait timeslices`); undefined when they are not numbers. */
export function parseSchedstat(text: string): SchedTimes | undefined {
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  return Number.isFinite(run) && Number.isFinite(wait) ? { runNs: run!, waitNs: wait! } : undefined;
}

function schedTimes(path: string): SchedTimes | undefined {
  try {
    return parseSchedstat(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Run and run-queue wait of a process's main thread, and summed over all of
 * its threads (those alive at the reading: a thread that ended takes its
 * share with it, so the sum is for long-lived pools like etcd's).
 */
export function processSchedTimes(pid: number): { main: SchedTimes; all: SchedTimes } | undefined {
  const main = schedTimes(`/proc/${pid}/schedstat`);
  if (!main) return undefined;
  const all = { runNs: 0, waitNs: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of tids) {
    const t = schedTimes(`/proc/${pid}/task/${tid}/schedstat`);
    if (t) (all.runNs += t.runNs), (all.waitNs += t.waitNs);
  }
  return { main, all };
}

/** Per process, ms per second of running and of waiting for a core: its main thread, and all its threads. */
export interface RunQueueFigures {
  mainRunMsPerSec: number;
  mainWaitMsPerSec: number;
  allWaitMsPerSec: number;
}

/**
 * How long each process ran and how long it was ready to run but waited
 * for a core, between construction and read (the kernel's schedstat). On a
 * machine whose cores the processes share, a main thread that waits about
 * as long as it runs is starved, not slow: its work per pod is not what
 * limits it. A name given several PIDs (apiserver workers, a fleet split
 * over processes) is left out: one main thread stands for one event loop.
 */
export class RunQueueMeter {
  private readonly start0 = new Map<string, { pid: number; at: number; times: { main: SchedTimes; all: SchedTimes } }>();

  constructor(pids: Record<string, number | number[] | undefined>) {
    for (const [k, given] of [...Object.entries(pids), ['bench', process.pid] as const]) {
      const pid = Array.isArray(given) ? (given.length === 1 ? given[0] : undefined) : given;
      if (typeof pid !== 'number') continue;
      const times = processSchedTimes(pid);
      if (times) this.start0.set(k, { pid, at: performance.now(), times });
    }
  }

  read(): Record<string, RunQueueFigures> {
    const out: Record<string, RunQueueFigures> = {};
    for (const [k, s] of this.start0) {
      const now = processSchedTimes(s.pid);
      const secs = (performance.now() - s.at) / 1000;
      if (!now || secs <= 0) continue;
      const per = (ns: number) => ns / 1e6 / secs;
      out[k] = { mainRunMsPerSec: per(now.main.runNs - s.times.main.runNs), mainWaitMsPerSec: per(now.main.waitNs - s.times.main.waitNs), allWaitMsPerSec: per(now.all.waitNs - s.times.all.waitNs) };
    }
    return out;
  }
}
