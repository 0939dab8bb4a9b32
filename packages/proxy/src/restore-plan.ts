/**
 * The iptables-restore input of one sync. A chain named in the input
 * (`:CHAIN - [0:0]`) is flushed and refilled; chains not named are left as
 * they are, so a partial sync names only the chains whose rules changed
 * since the last successful apply, and a full sync names every chain. Chains
 * no longer wanted are deleted (`-X`) after every rule that jumped to them
 * was rewritten.
 *
 * A small plan is one input (one transaction). A large one (a full sync of
 * thousands of chains) is cut into several inputs applied in order:
 * iptables-nft-restore's user-space cost grows with the square of the
 * chains one input writes (1,000 Services × 10 endpoints, 12,000 chains: ~7 s
 * in one input, ~1 s in chunks of 1,000 on this machine), while
 * iptables-legacy does not care. Chunks go in jump order — a chain is
 * written only after every proxy chain it jumps to — so each chunk is
 * consistent on its own: new chains exist before anything jumps to them,
 * a rewritten chain points only at chains already written, and stale chains
 * are flushed (all of them) before any is deleted.
 */
import type { ChainSet, RuleSet } from './rules.js';

/** Chains per iptables-restore input before a large plan is cut (see the module comment). */
export const DEFAULT_MAX_CHAINS_PER_RESTORE = 1000;

/** What one restore does, for logs and metrics. */
export interface RestorePlan {
  /** The whole iptables-restore input (both tables), or '' when nothing changes: `chunks` joined. */
  text: string;
  /** The inputs to apply one after another, in order; one when the plan is small, none when nothing changes. */
  chunks: string[];
  /** Chains (re)written, per table. */
  written: { nat: number; filter: number };
  /** Rules written, per table. */
  rules: { nat: number; filter: number };
  /** Chains deleted, per table. */
  deleted: { nat: number; filter: number };
}

/** Options of planRestore. */
export interface PlanOptions {
  /** Chains one input may name before the plan is cut into chunks. Default 1,000; Infinity keeps one input. */
  maxChainsPerRestore?: number;
}

interface TablePlan {
  table: 'nat' | 'filter';
  /** Chains to write, in jump order (targets first), with their rules. */
  write: Array<[string, readonly string[]]>;
  /** Stale chains, to flush and delete. */
  stale: string[];
}

/**
 * Plans the restore that takes the tables from `previous` (what the last
 * successful apply left; undefined means unknown: write everything) to
 * `next`. `existing` lists the proxy's chains found in the kernel (a full
 * sync reads them with iptables-save), so chains left by an earlier
 * process are deleted too.
 */
export function planRestore(next: RuleSet, previous: RuleSet | undefined, existing?: { nat: string[]; filter: string[] }, options: PlanOptions = {}): RestorePlan {
  const plan: RestorePlan = { text: '', chunks: [], written: { nat: 0, filter: 0 }, rules: { nat: 0, filter: 0 }, deleted: { nat: 0, filter: 0 } };
  const tables: TablePlan[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const want = next[table];
    const had: ChainSet | undefined = previous?.[table];
    const changed = new Map<string, readonly string[]>();
    for (const [chain, lines] of want) {
      const before = had?.get(chain);
      if (before && sameLines(before, lines)) continue;
      changed.set(chain, lines);
      plan.written[table] += 1;
      plan.rules[table] += lines.length;
    }
    const stale = new Set<string>();
    for (const chain of had?.keys() ?? []) if (!want.has(chain)) stale.add(chain);
    for (const chain of existing?.[table] ?? []) if (!want.has(chain)) stale.add(chain);
    plan.deleted[table] = stale.size;
    if (changed.size === 0 && stale.size === 0) continue;
    tables.push({ table, write: jumpOrder(changed), stale: [...stale].sort() });
  }
  const max = Math.max(1, options.maxChainsPerRestore ?? DEFAULT_MAX_CHAINS_PER_RESTORE);
  const total = tables.reduce((n, t) => n + t.write.length + t.stale.length, 0);
  if (total <= max) {
    // One transaction: all or nothing.
    const parts: string[] = [];
    for (const t of tables) {
      parts.push(`*${t.table}`);
      for (const [chain] of t.write) parts.push(`:${chain} - [0:0]`);
      for (const chain of t.stale) parts.push(`:${chain} - [0:0]`);
      for (const [, lines] of t.write) for (const l of lines) parts.push(l);
      for (const chain of t.stale) parts.push(`-X ${chain}`);
      parts.push('COMMIT');
    }
    if (parts.length) plan.chunks.push(`${parts.join('\n')}\n`);
  } else {
    for (const t of tables) {
      for (let i = 0; i < t.write.length; i += max) {
        const part = t.write.slice(i, i + max);
        plan.chunks.push(restoreText(t.table, part.map(([c]) => c), part.flatMap(([, lines]) => lines)));
      }
      // Flush every stale chain before deleting any: one may still jump to another.
      for (let i = 0; i < t.stale.length; i += max) plan.chunks.push(restoreText(t.table, t.stale.slice(i, i + max), []));
      for (let i = 0; i < t.stale.length; i += max) plan.chunks.push(restoreText(t.table, [], t.stale.slice(i, i + max).map((c) => `-X ${c}`)));
    }
  }
  plan.text = plan.chunks.join('');
  return plan;
}

function restoreText(table: string, declare: readonly string[], lines: readonly string[]): string {
  const parts = [`*${table}`];
  for (const c of declare) parts.push(`:${c} - [0:0]`);
  for (const l of lines) parts.push(l);
  parts.push('COMMIT');
  return `${parts.join('\n')}\n`;
}

/** The chains a rule line jumps or goes to (`-j X`, `-g X`). */
function targets(line: string): string[] {
  const out: string[] = [];
  const re = / -[jg] (\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1]!);
  return out;
}

/**
 * `chains` ordered so that every chain comes after the chains of `chains`
 * it jumps to (depth-first; targets outside `chains` already exist). A
 * cycle cannot happen in the proxy's rules; were one there, its chains
 * would simply keep their input order.
 */
function jumpOrder(chains: Map<string, readonly string[]>): Array<[string, readonly string[]]> {
  const out: Array<[string, readonly string[]]> = [];
  const state = new Map<string, 1 | 2>();
  const visit = (root: string) => {
    // Iterative DFS: a chain's targets first, then the chain (no recursion limit at 10,000s of chains).
    const stack: Array<[string, string[] | undefined]> = [[root, undefined]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [chain] = top;
      if (top[1] === undefined) {
        if (state.has(chain)) {
          stack.pop();
          continue;
        }
        state.set(chain, 1);
        const deps = new Set<string>();
        for (const l of chains.get(chain)!) for (const t of targets(l)) if (t !== chain && chains.has(t) && !state.has(t)) deps.add(t);
        top[1] = [...deps];
      }
      const next = top[1].pop();
      if (next !== undefined) {
        if (!state.has(next)) stack.push([next, undefined]);
        continue;
      }
      stack.pop();
      state.set(chain, 2);
      out.push([chain, chains.get(chain)!]);
    }
  };
  for (const chain of chains.keys()) visit(chain);
  return out;
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
