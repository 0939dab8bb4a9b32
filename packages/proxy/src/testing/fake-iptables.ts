/**
 * An in-memory netfilter for tests and benchmarks: applies iptables-restore
 * input the way `--noflush` does (a named chain is flushed, `-A` appends,
 * `-X` deletes, a failed input changes nothing) and records every call.
 */
import type { Iptables } from '../iptables.js';
import type { JumpRule } from '../rules.js';

type Table = Map<string, string[]>;

/** The fake's tables and a log of what it was asked. */
export class FakeIptables implements Iptables {
  /** Chains by table (built-in ones appear once a jump is added to them). */
  readonly tables: Record<'nat' | 'filter', Table> = { nat: new Map(), filter: new Map() };
  /** Every restore input, in order. */
  readonly restores: string[] = [];
  /** How many save() calls were made. */
  saves = 0;
  /** Make the next restore fail (then reset). */
  failNextRestore = false;

  async restore(text: string): Promise<void> {
    this.restores.push(text);
    if (this.failNextRestore) {
      this.failNextRestore = false;
      throw new Error('iptables-restore failed (1): injected failure');
    }
    const staged = { nat: new Map([...this.tables.nat].map(([k, v]) => [k, [...v]])), filter: new Map([...this.tables.filter].map(([k, v]) => [k, [...v]])) };
    let table: Table | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      if (line.startsWith('*')) {
        const name = line.slice(1);
        if (name !== 'nat' && name !== 'filter') throw new Error(`fake iptables: unknown table ${name}`);
        table = staged[name];
      } else if (line === 'COMMIT') table = undefined;
      else if (!table) throw new Error(`fake iptables: line outside a table: ${line}`);
      else if (line.startsWith(':')) table.set(line.slice(1).split(' ')[0]!, []);
      else if (line.startsWith('-A ')) {
        const chain = line.split(' ')[1]!;
        const rules = table.get(chain);
        if (!rules) throw new Error(`fake iptables: chain ${chain} does not exist`);
        const target = / -j (\S+)/.exec(line)?.[1];
        if (target && /^[A-Z0-9]+-/.test(target) && !table.has(target)) throw new Error(`fake iptables: jump to missing chain ${target}`);
        rules.push(line);
      } else if (line.startsWith('-X ')) {
        const chain = line.slice(3).trim();
        for (const [name, rules] of table) if (name !== chain && rules.some((r) => r.endsWith(` -j ${chain}`) || r.includes(` -j ${chain} `))) throw new Error(`fake iptables: chain ${chain} is still referenced by ${name}`);
        table.delete(chain);
      } else throw new Error(`fake iptables: unsupported line ${line}`);
    }
    this.tables.nat = staged.nat;
    this.tables.filter = staged.filter;
  }

  async save(table: 'nat' | 'filter'): Promise<string> {
    this.saves += 1;
    const t = this.tables[table];
    return [`*${table}`, ...[...t.keys()].map((c) => `:${c} - [0:0]`), ...[...t.values()].flat(), 'COMMIT', ''].join('\n');
  }

  async ensureRule(rule: JumpRule): Promise<boolean> {
    const line = `-A ${rule.chain} ${rule.args.join(' ')}`;
    const chain = this.tables[rule.table].get(rule.chain) ?? [];
    this.tables[rule.table].set(rule.chain, chain);
    if (chain.includes(line)) return false;
    chain.unshift(line);
    return true;
  }

  async deleteRule(rule: JumpRule): Promise<number> {
    const line = `-A ${rule.chain} ${rule.args.join(' ')}`;
    const chain = this.tables[rule.table].get(rule.chain) ?? [];
    const kept = chain.filter((l) => l !== line);
    this.tables[rule.table].set(rule.chain, kept);
    return chain.length - kept.length;
  }

  /** The rules of one chain (empty when it does not exist). */
  chain(table: 'nat' | 'filter', name: string): string[] {
    return this.tables[table].get(name) ?? [];
  }

  /** The names of the chains of a table that start with `prefix`. */
  chains(table: 'nat' | 'filter', prefix = ''): string[] {
    return [...this.tables[table].keys()].filter((c) => c.startsWith(prefix)).sort();
  }
}
