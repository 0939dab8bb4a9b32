/**
 * Stale flows. A UDP "connection" through a Service is a conntrack entry
 * whose DNAT was decided by the first packet; as long as the client keeps
 * sending (a DNS resolver reusing its source port does), the entry never
 * expires and every packet keeps going to the endpoint chosen then — even
 * once that pod is gone. So when an endpoint leaves a UDP Service's rules,
 * its flows are deleted (as kube-proxy does), and the next packet is NATed
 * afresh by the rules in force.
 *
 * TCP has one such trap. A SYN sent to a ClusterIP before this proxy has
 * rules for it (the Service was created a moment ago, or the proxy was
 * down) is routed as it is, un-NATed, nowhere; its entry waits in
 * SYN_SENT for 2 minutes, and every retransmission renews it. A busy
 * client cycles through its ephemeral ports in seconds: a new connection
 * from that port matches the old entry instead of being NATed by the rules
 * now in force, and times out — again and again, each timeout renewing the
 * entry. (Found by scanning every source port against a Service: exactly
 * the ports of the first, early attempts failed.) So when a TCP port gets
 * endpoints (new, or none before), its flows that were never NATed
 * (`--reply-src` the Service address itself) are deleted. A ClusterIP is
 * virtual, so such a flow can never have worked. The same holds for a SYN
 * NATed to an endpoint that vanished before answering (a pod deleted while
 * a connect was in flight), and for a connection the endpoint reset (a
 * killed container resets its open connections; conntrack keeps them 10 s
 * in CLOSE and lets a new SYN from the same port through on the old NAT):
 * when an endpoint leaves, its flows in SYN_SENT and CLOSE are deleted.
 * Established flows are left alone (a terminating pod may still be
 * finishing them). A connect the endpoint refused outright leaves no entry
 * (conntrack drops one whose only answer was a reset).
 */
import { spawn } from 'node:child_process';
import type { ServicePortFlows } from './rules.js';

/**
 * The TCP states whose flows leave with their endpoint: a connect still
 * unanswered, and a connection the endpoint reset (conntrack keeps it 10 s
 * in CLOSE, and a new SYN from the same client port is let through on its
 * old NAT — to the endpoint that is gone).
 */
export const STALE_TCP_STATES = ['SYN_SENT', 'CLOSE'] as const;

/** Which flows to delete (every field given must match). */
export interface ConntrackFilter {
  protocol: 'udp' | 'tcp';
  /** TCP only: the connection state (conntrack's name). */
  state?: (typeof STALE_TCP_STATES)[number];
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
  /** Deletes the flows matching `filter`; resolves with how many were deleted. */
  delete(filter: ConntrackFilter): Promise<number>;
}

/** `conntrack -D` argv for a filter. */
export function conntrackArgs(f: ConntrackFilter): string[] {
  const args = ['-D', '-p', f.protocol];
  if (f.state) args.push('--state', f.state);
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

  delete(filter: ConntrackFilter): Promise<number> {
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
 * The flows to delete going from `previous` to `next` (service ports by
 * key). UDP: for every endpoint that left a port's rules, the flows NATed
 * to it through each of the port's addresses and its NodePort; and for a
 * port that had no endpoints and now has some (or is new), every flow to
 * it (one opened while it had none must not linger). TCP: the same for an
 * endpoint that left, but only flows in STALE_TCP_STATES; for a port that now has
 * endpoints and had none (or is new), the flows to each of its addresses
 * that were never NATed. Nothing on the first sync (`previous`
 * undefined): what flows exist then is not known to be stale.
 */
export function staleFlows(previous: ReadonlyMap<string, ServicePortFlows> | undefined, next: ReadonlyMap<string, ServicePortFlows>): ConntrackFilter[] {
  if (!previous) return [];
  const out: ConntrackFilter[] = [];
  for (const [key, p] of previous) {
    const n = next.get(key);
    const keep = new Set(n?.endpoints ?? []);
    for (const ep of p.endpoints) {
      if (keep.has(ep)) continue;
      const [replySrc, port] = ep.split(':');
      const replyPortSrc = Number(port);
      const kinds: Array<Pick<ConntrackFilter, 'protocol' | 'state'>> = p.protocol === 'udp' ? [{ protocol: 'udp' }] : STALE_TCP_STATES.map((state) => ({ protocol: 'tcp', state }));
      for (const which of kinds) {
        for (const ip of p.ips) out.push({ ...which, origDst: ip, origPortDst: p.port, replySrc, replyPortSrc });
        if (p.nodePort) out.push({ ...which, origPortDst: p.nodePort, replySrc, replyPortSrc });
      }
    }
  }
  for (const [key, n] of next) {
    const p = previous.get(key);
    if (n.endpoints.length === 0 || (p && p.endpoints.length > 0)) continue;
    if (n.protocol === 'tcp') {
      for (const ip of n.ips) out.push({ protocol: 'tcp', origDst: ip, origPortDst: n.port, replySrc: ip });
      continue;
    }
    for (const ip of n.ips) out.push({ protocol: 'udp', origDst: ip, origPortDst: n.port });
    if (n.nodePort) out.push({ protocol: 'udp', origPortDst: n.nodePort });
  }
  return out;
}
