/**
 * `flotilla proxy --cleanup`: removes everything a proxy with `prefix`
 * installed (the jumps from the built-in chains, then its chains) and
 * exits, as `kube-proxy --cleanup` does. A running proxy never does this
 * itself: stopping must not break traffic.
 */
import type { Iptables } from './iptables.js';
import { chainsWithPrefix } from './restore-plan.js';
import { jumpRules } from './rules.js';

/** Deletes the proxy's jumps and chains; resolves with what was removed. */
export async function cleanupRules(iptables: Iptables, prefix: string): Promise<{ jumps: number; chains: number }> {
  let jumps = 0;
  for (const rule of jumpRules(prefix)) jumps += await iptables.deleteRule(rule);
  let chains = 0;
  const parts: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const mine = chainsWithPrefix(await iptables.save(table), prefix);
    if (mine.length === 0) continue;
    chains += mine.length;
    // Flush all first (they jump to each other), then delete.
    parts.push(`*${table}`, ...mine.map((c) => `:${c} - [0:0]`), ...mine.map((c) => `-X ${c}`), 'COMMIT');
  }
  if (parts.length) await iptables.restore(`${parts.join('\n')}\n`);
  return { jumps, chains };
}
