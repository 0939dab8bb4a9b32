/**
 * One restartable child process of a test cluster (the apiserver, a
 * scheduler, an agent…): spawned with node, its output kept (the last
 * 4 MiB) for failure messages, started only once ready, stopped politely.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { repoRoot } from './env.js';
import { readProcStat } from './proc-stat.js';
import { waitFor } from './wait-for.js';

const MAX_LOG = 4 * 1024 * 1024;

// Children still alive when the test worker exits die with it, so a crashed
// test never leaves a process behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * SIGSTOPs `pid` and resolves once every thread of it has stopped. kill(2)
 * only queues the signal: one thread is woken to begin the group stop, and
 * until it is scheduled the others go on working. On a loaded machine a
 * "frozen" etcd answered requests for some milliseconds after kill returned.
 */
export async function freezeProcess(pid: number, timeoutMs = 10_000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  await waitFor(() => allThreadsStopped(pid), { timeout: timeoutMs, interval: 1, message: `process ${pid} to stop after SIGSTOP` });
}

/** Whether every thread of `pid` is in the stopped state (`T`) per /proc. */
function allThreadsStopped(pid: number): boolean {
  const tids = readdirSync(`/proc/${pid}/task`);
  // A thread that exits meanwhile (undefined) is not running either.
  return tids.length > 0 && tids.every((tid) => (readProcStat(`/proc/${pid}/task/${tid}/stat`)?.state ?? 'T') === 'T');
}

/** What one incarnation runs: node's arguments, and when it counts as ready. */
export interface Incarnation {
  /** Arguments to node (the script first), or to `file`. */
  args: string[];
  /** What is executed; node (process.execPath) by default. E.g. `nsenter` to run node inside a host's network namespace. */
  file?: string;
  /** What the start line of the log shows, e.g. `flotilla scheduler --port 1`. */
  command: string;
  /** Polled until true; `startedAt` is when this incarnation was spawned, `output` what it has written so far. */
  ready: (startedAt: number, output: () => string) => Promise<boolean>;
}

/**
 * The port a Flotilla server bound for /metrics and /healthz, from its
 * `serving /metrics and /healthz` log line (pino JSON, level info), or
 * undefined before that line. Started with `--metrics-port 0`, a server takes
 * the port the kernel gives it: a port picked free in advance can be taken by
 * another process before the server binds it.
 */
export function statusPort(output: string): number | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('"serving /metrics and /healthz"')) continue;
    try {
      const port = (JSON.parse(line) as { port?: unknown }).port;
      if (typeof port === 'number' && port > 0) return port;
    } catch {
      // Not a JSON line after all.
    }
  }
  return undefined;
}

/** A supervised child process. */
export interface SupervisedProcess {
  /** Spawns the next incarnation and resolves once it is ready; rejects, with its output, if it dies or times out first. */
  launch(): Promise<void>;
  /** Sends `signal` and waits for the exit; SIGSTOP resolves once every thread stopped, SIGCONT at once. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGCONT + SIGTERM, SIGKILL after the grace period; resolves once it exited. */
  stop(): Promise<void>;
  /** Whether the current incarnation is still alive (a SIGSTOPped process counts as alive). */
  alive(): boolean;
  pid(): number | undefined;
  /** Every incarnation's output (the last 4 MiB). */
  logs(): string;
}

/** Options of superviseProcess(). */
export interface SuperviseOptions {
  /** Names the process in messages (`node-2`, `apiserver`). */
  name: string;
  /** What the start waits for, in a timeout message: `node-2 (flotilla agent) to be ready`. */
  readyMessage: string;
  /** Computed per launch, so a restart can pick a new free port. */
  incarnation: () => Promise<Incarnation>;
  /** How long one launch may take to be ready, ms. */
  readyTimeout: number;
  /** How long stop() waits after SIGTERM before SIGKILL, ms. */
  stopGraceMs: number;
}

/** statusPort(output), once GET http://127.0.0.1:<it>/healthz answers 200; undefined until then. */
export async function healthyStatusPort(output: string): Promise<number | undefined> {
  const port = statusPort(output);
  return port !== undefined && (await healthz(port)) ? port : undefined;
}

/** `ready` of a server started with `--metrics-port 0`: the port its log names answers /healthz. */
export const statusPortReady: Incarnation['ready'] = async (_, output) => (await healthyStatusPort(output())) !== undefined;

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** A process handle; nothing runs until launch(). */
export function superviseProcess(options: SuperviseOptions): SupervisedProcess {
  const { name } = options;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  // The current incarnation's output from its start (its head is what ready() looks at).
  let current = '';
  const append = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    log += text;
    if (log.length > MAX_LOG) log = log.slice(log.length - MAX_LOG);
    if (current.length < MAX_LOG) current += text;
  };
  const alive = () => !!child && child.exitCode === null && child.signalCode === null;

  const launch = async () => {
    const { args, command, ready, file } = await options.incarnation();
    const startedAt = Date.now();
    current = '';
    log += `--- start ${new Date(startedAt).toISOString()}: ${command}\n`;
    const proc = spawn(file ?? process.execPath, args, { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    child = proc;
    live.add(proc);
    proc.stdout!.on('data', append);
    proc.stderr!.on('data', append);
    let exitInfo = '';
    exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? `code ${code}`}`;
        log += `--- ${new Date().toISOString()} ${exitInfo}\n`;
        live.delete(proc);
        resolve();
      });
    });
    const isReady = waitFor(() => ready(startedAt, () => current), { timeout: options.readyTimeout, interval: 100, message: options.readyMessage });
    // A process that dies while starting fails the start at once, not at the deadline.
    const died = exited.then(() => {
      throw new Error(`${name} ${exitInfo} before it was ready`);
    });
    try {
      await Promise.race([isReady, died]);
    } catch (err) {
      isReady.catch(() => undefined);
      died.catch(() => undefined);
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`${(err as Error).message}\n--- ${name} output (last 4 KiB):\n${log.slice(-4096)}`);
    }
    died.catch(() => undefined);
  };

  return {
    launch,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      const proc = child;
      if (!proc || !alive()) return;
      if (signal === 'SIGSTOP' && proc.pid) return freezeProcess(proc.pid);
      proc.kill(signal);
      if (signal === 'SIGCONT') return;
      await exited;
    },
    async stop() {
      const proc = child;
      if (!proc || !alive()) return;
      proc.kill('SIGCONT');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), options.stopGraceMs);
      await exited;
      clearTimeout(timer);
    },
    alive,
    pid: () => child?.pid,
    logs: () => log,
  };
}

/** The PIDs of `pid`'s direct children, from /proc (an apiserver's workers, for example). */
export function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && readProcStat(`/proc/${entry}/stat`)?.ppid === pid)
    .map(Number);
}
