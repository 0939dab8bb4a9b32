/**
 * Hairpin mode on a pod bridge's ports. A pod that reaches its own Service
 * may be DNATed back to itself: the packet then has to leave and re-enter
 * through the same bridge port, which a Linux bridge refuses unless the port
 * is in hairpin mode (kubelet sets it on every pod's veth; Docker only does
 * with --userland-proxy=false). Run in the host's network namespace, via
 * netlink (`ip`), not /sys, which shows the namespace it was mounted in.
 */
import { execCommand, type CommandRunner } from './route-table.js';

/** The ports of `bridge` that are not in hairpin mode yet. */
export function portsWithoutHairpin(ipDetailsOutput: string): string[] {
  const out: string[] = [];
  // `ip -d -o link show master BR`: one line per port; "hairpin off" until set.
  for (const line of ipDetailsOutput.split('\n')) {
    const m = /^\d+:\s+([^@:\s]+)/.exec(line);
    if (m && /\bhairpin off\b/.test(line)) out.push(m[1]!);
  }
  return out;
}

/** Turns hairpin mode on for every port of `bridge` that lacks it; returns the ports changed. */
export async function ensureHairpin(bridge: string, run: CommandRunner = execCommand): Promise<string[]> {
  const ports = portsWithoutHairpin(await run('ip', ['-d', '-o', 'link', 'show', 'master', bridge]));
  for (const port of ports) await run('ip', ['link', 'set', 'dev', port, 'type', 'bridge_slave', 'hairpin', 'on']);
  return ports;
}
