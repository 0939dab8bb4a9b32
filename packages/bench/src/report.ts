/**
 * Printing results: an aligned text table for people and one JSON line per
 * benchmark (prefixed `BENCH_JSON `) for scripts that track numbers over time.
 */
import { round } from './stats.js';

/** One cell: numbers are rounded for display, NaN shows as `-`. */
export type Cell = string | number | undefined;

/** Formats rows under a header as a fixed-width table. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = (c: Cell) => (c === undefined || (typeof c === 'number' && !Number.isFinite(c)) ? '-' : typeof c === 'number' ? String(round(c)) : c);
  const cells = [header.map(String), ...rows.map((r) => r.map(text))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A target and whether the measured value meets it. */
export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

/** Formats target checks as a table with an OK/MISS column. */
export function targetTable(checks: readonly TargetCheck[]): string {
  return table(
    ['target', 'goal', 'measured', 'status'],
    checks.map((c) => [c.name, c.target, c.measured, c.met ? 'OK' : 'MISS']),
  );
}

/** Prints a section title. */
export function section(title: string): void {
  process.stdout.write(`\n== ${title} ==\n`);
}

/** Prints a text block. */
export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Progress on stderr, so stdout holds only the results. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Prints the machine-readable result line of one benchmark. */
export function printJson(name: string, result: unknown): void {
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ bench: name, at: new Date().toISOString(), ...(result as object) }, (_k, v) => (typeof v === 'number' ? round(v) : v))}\n`);
}
