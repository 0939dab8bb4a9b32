/**
 * A closed-loop load generator: N workers each issue one operation, wait for
 * its answer, and issue the next, so the offered load adapts to the server
 * (the way `etcdctl benchmark` and kube's density tests drive a server).
 */
import { performance } from 'node:perf_hooks';
import { CpuMeter } from './processes.js';
import { summarize, type LatencySummary } from './stats.js';

/** Options of a closed-loop run. */
export interface ClosedLoopOptions {
  /** Workers issuing operations in parallel. */
  concurrency: number;
  /** Stop issuing new operations after this long (ms). */
  durationMs: number;
  /** Stop after this many operations in total, if reached first. */
  maxOps?: number;
  /**
   * Paced: operation n starts no earlier than n / ratePerSec seconds after
   * the start (an offered load that does not adapt to the server, while it
   * keeps up), with at most `concurrency` in flight. Unset: as fast as answers come.
   */
  ratePerSec?: number;
  /** Warm-up time (ms) whose samples are discarded: connections, JIT. */
  warmupMs?: number;
  /** Processes whose CPU time per operation is reported (name → PID); this process is always counted as `bench`. */
  cpuOf?: Record<string, number | number[] | undefined>;
  /** One operation; `seq` is unique over the run (for distinct names). */
  op: (seq: number, worker: number) => Promise<unknown>;
}

/** What a closed-loop run measured (the warm-up excluded). */
export interface ClosedLoopResult {
  concurrency: number;
  ops: number;
  errors: number;
  /** The first error message, to say why errors happened. */
  firstError?: string;
  elapsedMs: number;
  opsPerSec: number;
  latency: LatencySummary;
  /** CPU milliseconds per measured operation, per process (from /proc; includes the warm-up's share). */
  cpuMsPerOp: Record<string, number>;
}

/** Runs `op` from `concurrency` workers for `durationMs` and reports latency and throughput. */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { concurrency, op } = options;
  const warmupMs = options.warmupMs ?? 0;
  const maxOps = options.maxOps ?? Number.POSITIVE_INFINITY;
  let seq = 0;
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const begin = performance.now();
  const measureFrom = begin + warmupMs;
  const end = measureFrom + options.durationMs;
  let measuredOps = 0;
  let totalOps = 0;
  const meter = new CpuMeter(options.cpuOf ?? {});

  const worker = async (w: number) => {
    for (;;) {
      if (performance.now() >= end || seq >= maxOps) return;
      const n = seq++;
      if (options.ratePerSec) {
        // A timer may fire up to a millisecond early (it counts whole ms): wait until the start time has really come.
        const due = begin + (n * 1000) / options.ratePerSec;
        for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) await new Promise((r) => setTimeout(r, Math.ceil(wait)));
      }
      const t0 = performance.now();
      try {
        await op(n, w);
        const t1 = performance.now();
        totalOps++;
        if (t0 >= measureFrom) {
          samples.push(t1 - t0);
          measuredOps++;
        }
      } catch (err) {
        errors++;
        firstError ??= (err as Error)?.message ?? String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsedMs = performance.now() - Math.min(measureFrom, performance.now());
  const cpu = meter.read();
  const cpuMsPerOp = Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, totalOps ? (s * 1000) / totalOps : Number.NaN]));
  return {
    concurrency,
    ops: measuredOps,
    errors,
    ...(firstError ? { firstError } : {}),
    elapsedMs,
    opsPerSec: elapsedMs > 0 ? (measuredOps / elapsedMs) * 1000 : 0,
    latency: summarize(samples),
    cpuMsPerOp,
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; resolves when all are done (rejects on the first failure). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
