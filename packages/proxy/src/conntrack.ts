/**
 * Stale UDP flows. A UDP "connection" through a Service is a conntrack
 * entry whose DNAT was decided by the first packet; as long as the client
 * keeps sending (a DNS resolver reusing its source port does), the entry
 * never expires and every packet keeps going to the endpoint chosen then —
 * even once that pod is gone. So when an endpoint leaves a UDP Service's
 * rules, its flows are deleted (as kube-proxy does), and the next packet
 * is NATed afresh by the rules in force. TCP needs none of this: a dead
 * endpoint resets or times out the connection and the client reconnects.
 */
import { spawn } from 'node:child_process';
import type { UdpServicePort } from './rules.js';

/** Which UDP flows to delete (every field given must match). */
export interface ConntrackFilter {
  /** Original destination address (the ClusterIP, an external IP); unset: any (NodePorts). */
  origDst?: string;
  /** Original destination port (the service port or the NodePort). */
  origPortDst: number;
  /** The endpoint the flow was NATed to (reply source); unset: any. */
  replySrc?: string;
  replyPortSrc?: number;
}

/** Deletes conntrack entries; behind an interface so the sync logic is tested with a fake. */
export interface Conntrack {
  /** Deletes the UDP flows matching `filter`; resolves with how many were deleted. */
  deleteUdp(filter: ConntrackFilter): Promise<number>;
}

/** `conntrack -D` argv for a filter. */
export function conntrackArgs(f: ConntrackFilter): string[] {
  const args = ['-D', '-p', 'udp'];
  if (f.origDst) args.push('--orig-dst', f.origDst);
  args.push('--orig-port-dst', String(f.origPortDst));
  if (f.replySrc) args.push('--reply-src', f.replySrc);
  if (f.replyPortSrc) args.push('--reply-port-src', String(f.replyPortSrc));
  return args;
}

/** Options of the conntrack(8) driver. */
export interface ExecConntrackOptions {
  /** A command to run under, e.g. `['nsenter', '--net=…', '--']`. */
  wrap?: string[];
  /** The binary. Default `conntrack` (Debian package conntrack). */
  binary?: string;
}

/** Drives the `conntrack` tool (conntrack-tools) in this network namespace. */
export class ExecConntrack implements Conntrack {
  constructor(private readonly options: ExecConntrackOptions = {}) {}

  deleteUdp(filter: ConntrackFilter): Promise<number> {
    const wrap = this.options.wrap ?? [];
    const argv = [...wrap, this.options.binary ?? 'conntrack', ...conntrackArgs(filter)];
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', (err) => reject(new Error(`conntrack: ${err.message}`)));
      child.on('close', (code) => {
        // "N flow entries have been deleted" on stderr; exit 1 with 0 entries is "nothing matched".
        const n = Number(/(\d+) flow entr/.exec(stderr)?.[1] ?? Number.NaN);
        if (code === 0 || (code === 1 && n === 0)) resolve(Number.isFinite(n) ? n : 0);
        else reject(new Error(`conntrack ${conntrackArgs(filter).join(' ')} failed (${code}): ${stderr.trim().slice(0, 500)}`));
      });
    });
  }
}

/**
 * The flows to delete going from `previous` to `next` (UDP service ports by
 * key): for every endpoint that left a port's rules, the flows NATed to it
 * through each of the port's addresses and its NodePort; and for a port
 * that had no endpoints and now has some, every flow to it (one opened
 * while it had none must not linger). Nothing on the first sync
 * (`previous` undefined): what flows exist then is not known to be stale.
 */
export function staleFlows(previous: ReadonlyMap<string, UdpServicePort> | undefined, next: ReadonlyMap<string, UdpServicePort>): ConntrackFilter[] {
  if (!previous) return [];
  const out: ConntrackFilter[] = [];
  for (const [key, p] of previous) {
    const n = next.get(key);
    const keep = new Set(n?.endpoints ?? []);
    for (const ep of p.endpoints) {
      if (keep.has(ep)) continue;
      const [replySrc, port] = ep.split(':');
      const replyPortSrc = Number(port);
      for (const ip of p.ips) out.push({ origDst: ip, origPortDst: p.port, replySrc, replyPortSrc });
      if (p.nodePort) out.push({ origPortDst: p.nodePort, replySrc, replyPortSrc });
    }
  }
  for (const [key, n] of next) {
    const p = previous.get(key);
    if (n.endpoints.length === 0 || (p && p.endpoints.length > 0)) continue;
    for (const ip of n.ips) out.push({ origDst: ip, origPortDst: n.port });
    if (n.nodePort) out.push({ origPortDst: n.nodePort });
  }
  return out;
}
