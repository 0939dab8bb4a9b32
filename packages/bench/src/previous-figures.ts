/**
 * `--previous FILE`: the figures of an earlier run of a benchmark (the
 * `BENCH_JSON` line it printed, or the whole output holding it), so a run
 * prints its figures beside the last ones and a change is seen as a change.
 */
import { readFileSync } from 'node:fs';

/** An earlier run's result object (its BENCH_JSON, parsed). */
export type PreviousFigures = Record<string, unknown> & { bench?: string; at?: string };

/** Reads the last `BENCH_JSON` line of `bench` (any bench when unset) in `file`, or the file as one JSON object. */
export function readPreviousFigures(file: string, bench?: string): PreviousFigures {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('BENCH_JSON '));
  const parsed = lines.map((l, i) => {
    try {
      return JSON.parse(l.slice('BENCH_JSON '.length)) as PreviousFigures;
    } catch (err) {
      throw new Error(`${file}: BENCH_JSON line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
  });
  const match = parsed.filter((p) => !bench || p.bench === bench).pop();
  if (match) return match;
  if (lines.length) throw new Error(`${file}: no BENCH_JSON line of the '${bench}' benchmark (found: ${parsed.map((p) => p.bench).join(', ')})`);
  try {
    return JSON.parse(text) as PreviousFigures;
  } catch {
    throw new Error(`${file}: neither a BENCH_JSON line nor a JSON object of earlier figures`);
  }
}

/** The value at a dotted path (`schedulingLatency.p99`), when it is a number. */
export function figureAt(obj: unknown, path: string): number | undefined {
  let v: unknown = obj;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === 'number' ? v : undefined;
}

/** Rows of [figure, previous, now, now ÷ previous] for the dotted `paths` (label → path) present in either run. */
export function comparePrevious(previous: PreviousFigures, now: unknown, paths: ReadonlyArray<readonly [string, string]>): Array<[string, number | undefined, number | undefined, string]> {
  const rows: Array<[string, number | undefined, number | undefined, string]> = [];
  for (const [label, path] of paths) {
    const a = figureAt(previous, path);
    const b = figureAt(now, path);
    if (a === undefined && b === undefined) continue;
    rows.push([label, a, b, a !== undefined && b !== undefined && a !== 0 ? `${(b / a).toFixed(2)}x` : '-']);
  }
  return rows;
}
