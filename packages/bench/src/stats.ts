/**
 * Latency statistics of a benchmark run: nearest-rank percentiles over the
 * raw samples (no histogram buckets, so p99 of a few hundred samples is a
 * real sample and not an interpolation).
 */

/** Summary of a set of latency samples, in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** The nearest-rank percentile `p` (0–100) of ascending-sorted samples; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Sorts a copy of the samples and summarises them. */
export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  const arr = Array.from(sorted);
  let sum = 0;
  for (const v of arr) sum += v;
  return {
    count: arr.length,
    min: arr.length ? arr[0]! : Number.NaN,
    p50: percentile(arr, 50),
    p90: percentile(arr, 90),
    p99: percentile(arr, 99),
    max: arr.length ? arr[arr.length - 1]! : Number.NaN,
    mean: arr.length ? sum / arr.length : Number.NaN,
  };
}

/** A summary's cells for a `n, p50, p90, p99, max` table row. */
export function latencyCells(s: LatencySummary): [number, number, number, number, number] {
  return [s.count, s.p50, s.p90, s.p99, s.max];
}

/** `value / baseline` rounded to one decimal, or NaN when the baseline is 0 or missing. */
export function ratio(value: number, baseline: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return Math.round((value / baseline) * 10) / 10;
}

/** Rounds to a readable precision: 2 decimals under 10, 1 under 100, else whole. */
export function round(v: number): number {
  if (!Number.isFinite(v)) return v;
  const a = Math.abs(v);
  if (a < 10) return Math.round(v * 100) / 100;
  if (a < 100) return Math.round(v * 10) / 10;
  return Math.round(v);
}

/** A stretch of start times in which samples were slow (see slowStretches). */
export interface SlowStretch {
  /** Start of the stretch, ms after `t0`. */
  atMs: number;
  /** Samples that started in it and took longer than the threshold. */
  count: number;
  /** The slowest of them (ms). */
  maxMs: number;
}

/**
 * Where a latency's tail is: the samples over `thresholdMs`, counted by the
 * `windowMs` stretch their start fell in (after `t0`), busiest first, at
 * most `top`. A tail made of a few stretches points at a stall (a GC, an
 * etcd compaction) at those times; one spread thin over the run, at a
 * steady cost.
 */
export function slowStretches(starts: ReadonlyMap<string, number>, ends: ReadonlyMap<string, number>, o: { t0: number; thresholdMs: number; windowMs: number; top: number }): SlowStretch[] {
  const by = new Map<number, SlowStretch>();
  for (const [k, start] of starts) {
    const end = ends.get(k);
    if (end === undefined || end - start <= o.thresholdMs) continue;
    const at = Math.floor((start - o.t0) / o.windowMs) * o.windowMs;
    const s = by.get(at) ?? { atMs: at, count: 0, maxMs: 0 };
    s.count++;
    s.maxMs = Math.max(s.maxMs, end - start);
    by.set(at, s);
  }
  return [...by.values()].sort((a, b) => b.count - a.count || a.atMs - b.atMs).slice(0, o.top);
}
