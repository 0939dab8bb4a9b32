/**
 * Forwarding of pod traffic that arrives from other hosts. A dockerd that
 * found `ip_forward=0` sets the FORWARD policy to DROP, and Docker's own
 * rules accept only replies into its bridges; a new connection from a pod
 * on another host to one here needs a rule of ours. Docker leaves the
 * `DOCKER-USER` chain to users and jumps to it first, so the rule goes there
 * (inserted: the chain ends in RETURN). Matched on the output bridge only,
 * whatever interface the packet came in on (not a hard-coded eth0).
 */
import { execCommand, type CommandRunner } from './route-table.js';

/** The rule accepting traffic forwarded into a pod bridge: `-o <bridge> -j ACCEPT`, with a comment to find it by. */
export function podForwardRule(bridge: string): string[] {
  return ['-o', bridge, '-m', 'comment', '--comment', 'flotilla pod network', '-j', 'ACCEPT'];
}

/** Inserts the forwarding rule for `bridge` into DOCKER-USER unless it is there (iptables -C first: idempotent). */
export async function ensurePodForwarding(bridge: string, run: CommandRunner = execCommand, chain = 'DOCKER-USER'): Promise<boolean> {
  const rule = podForwardRule(bridge);
  try {
    await run('iptables', ['-w', '10', '-C', chain, ...rule]);
    return false;
  } catch {
    await run('iptables', ['-w', '10', '-I', chain, ...rule]);
    return true;
  }
}
