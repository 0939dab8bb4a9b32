/**
 * One iptables-restore input per sync. A chain named in the input
 * (`:CHAIN - [0:0]`) is flushed and refilled; chains not named are left as
 * they are, so a partial sync names only the chains whose rules changed
 * since the last successful apply, and a full sync names every chain. Chains
 * no longer wanted are deleted (`-X`) after every rule that jumped to them
 * was rewritten, in the same transaction.
 */
import type { ChainSet, RuleSet } from './rules.js';

/** What one restore does, for logs and metrics. */
export interface RestorePlan {
  /** The iptables-restore input (both tables), or '' when nothing changes. */
  text: string;
  /** Chains (re)written, per table. */
  written: { nat: number; filter: number };
  /** Rules written, per table. */
  rules: { nat: number; filter: number };
  /** Chains deleted, per table. */
  deleted: { nat: number; filter: number };
}

/**
 * Plans the restore that takes the tables from `previous` (what the last
 * successful apply left; undefined means unknown: write everything) to
 * `next`. `existing` lists the proxy's chains found in the kernel (a full
 * sync reads them with iptables-save), so chains left by an earlier
 * process are deleted too.
 */
export function planRestore(next: RuleSet, previous: RuleSet | undefined, existing?: { nat: string[]; filter: string[] }): RestorePlan {
  const plan: RestorePlan = { text: '', written: { nat: 0, filter: 0 }, rules: { nat: 0, filter: 0 }, deleted: { nat: 0, filter: 0 } };
  const parts: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const want = next[table];
    const had: ChainSet | undefined = previous?.[table];
    const declare: string[] = [];
    const rules: string[] = [];
    for (const [chain, lines] of want) {
      const before = had?.get(chain);
      if (before && sameLines(before, lines)) continue;
      declare.push(`:${chain} - [0:0]`);
      for (const l of lines) rules.push(l);
      plan.written[table] += 1;
      plan.rules[table] += lines.length;
    }
    const stale = new Set<string>();
    for (const chain of had?.keys() ?? []) if (!want.has(chain)) stale.add(chain);
    for (const chain of existing?.[table] ?? []) if (!want.has(chain)) stale.add(chain);
    // A stale chain may still hold jumps to other stale chains: flush them all first, then delete.
    const deletes: string[] = [];
    for (const chain of [...stale].sort()) {
      declare.push(`:${chain} - [0:0]`);
      deletes.push(`-X ${chain}`);
    }
    plan.deleted[table] = stale.size;
    if (declare.length === 0) continue;
    parts.push(`*${table}`, ...declare, ...rules, ...deletes, 'COMMIT');
  }
  plan.text = parts.length ? `${parts.join('\n')}\n` : '';
  return plan;
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The chains of `table` in iptables-save output whose names start with `<prefix>-`. */
export function chainsWithPrefix(saveOutput: string, prefix: string): string[] {
  const out: string[] = [];
  for (const line of saveOutput.split('\n')) {
    if (line.startsWith(`:${prefix}-`)) out.push(line.slice(1).split(' ')[0]!);
  }
  return out;
}
