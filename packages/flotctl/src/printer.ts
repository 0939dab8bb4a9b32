/**
 * Output of `get`: the apiserver renders kubectl's Tables (columns, cells,
 * priorities), flotctl only lays them out; `-o yaml|json|name` print the
 * objects themselves.
 */
import type { KubeObject, ResourceInfo } from '@flotilla/api';
import { stringify } from 'yaml';
import { objectName } from './context.js';

/** A meta.k8s.io/v1 Table as the apiserver returns it. */
export interface Table {
  columnDefinitions: Array<{ name: string; type?: string; format?: string; priority?: number }>;
  rows: Array<{ cells: unknown[]; object?: { metadata?: { name?: string; namespace?: string } } }>;
}

/** Output formats of `get`. */
export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name';

/** Parses `-o`; anything else is the user's mistake. */
export function outputFormat(o: string | undefined): OutputFormat {
  if (o === undefined || o === '') return 'table';
  if (['wide', 'yaml', 'json', 'name'].includes(o)) return o as OutputFormat;
  throw new Error(`unable to match a printer suitable for the output format "${o}", allowed formats are: json,name,wide,yaml`);
}

const cellText = (c: unknown): string => (c === undefined || c === null ? '' : typeof c === 'object' ? JSON.stringify(c) : String(c));

/** Aligns rows into columns separated by three spaces, as kubectl's tabwriter does. */
export function layout(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd()).join('\n');
}

/** Options of tableRows. */
export interface TableOptions {
  wide?: boolean;
  /** Prefix a NAMESPACE column (for -A). */
  withNamespace?: boolean;
  /** Prefix names with `kind/` (several types in one get). */
  kindPrefix?: string;
  /** Leave the header out (watch updates after the first). */
  noHeader?: boolean;
}

/** The text rows of a Table (header first unless noHeader). */
export function tableRows(table: Table, opts: TableOptions = {}): string[][] {
  const cols = table.columnDefinitions
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => opts.wide || (c.priority ?? 0) === 0);
  const out: string[][] = [];
  if (!opts.noHeader) {
    const header = cols.map(({ c }) => c.name.toUpperCase());
    out.push(opts.withNamespace ? ['NAMESPACE', ...header] : header);
  }
  for (const row of table.rows) {
    const cells = cols.map(({ c, i }) => {
      const text = cellText(row.cells[i]);
      return opts.kindPrefix && c.format === 'name' ? `${opts.kindPrefix}/${text}` : text;
    });
    out.push(opts.withNamespace ? [row.object?.metadata?.namespace ?? '', ...cells] : cells);
  }
  return out;
}

/** Objects as `-o yaml|json|name` print them: one object alone, several as a v1 List. */
export function printObjects(info: Pick<ResourceInfo, 'group' | 'kind'>, objects: KubeObject[], format: 'yaml' | 'json' | 'name', single: boolean): string {
  if (format === 'name') return objects.map((o) => objectName(info, o.metadata.name ?? '')).join('\n');
  const doc = single && objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects, metadata: { resourceVersion: '' } };
  return format === 'json' ? JSON.stringify(doc, null, 4) : stringify(doc).trimEnd();
}
