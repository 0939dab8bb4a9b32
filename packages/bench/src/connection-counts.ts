/**
 * How clients connected to the apiserver during a window: connections it
 * accepted, TLS handshakes that failed (mostly clients that had given up
 * waiting for them), and handshakes the kernel dropped because the listen
 * queue was full. Clients that dial in a storm (issue 11: thousands of
 * connect timeouts while the apiserver accepted a few connections a
 * second) show here before anywhere else.
 */
import { readFileSync } from 'node:fs';

/** Cumulative counts at one moment. */
export interface ConnectionCounts {
  accepted: number;
  tlsFailed: number;
  /** The kernel's TcpExtListenOverflows: machine-wide, so any other busy listener counts too. */
  listenOverflows: number;
}

/** The apiserver's connection counters from its /metrics text, and the kernel's listen overflows now. */
export function connectionCounts(metricsText: string, netstat = readNetstat()): ConnectionCounts {
  const read = (result: string) => Number(new RegExp(`^flotilla_apiserver_connections_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(metricsText)?.[1] ?? 0);
  return { accepted: read('accepted'), tlsFailed: read('tls_failed'), listenOverflows: listenOverflows(netstat) };
}

/** What happened between two counts. */
export function connectionsBetween(a: ConnectionCounts, b: ConnectionCounts): ConnectionCounts {
  return { accepted: b.accepted - a.accepted, tlsFailed: b.tlsFailed - a.tlsFailed, listenOverflows: b.listenOverflows - a.listenOverflows };
}

function readNetstat(): string {
  try {
    return readFileSync('/proc/net/netstat', 'utf8');
  } catch {
    return '';
  }
}

/** TcpExt ListenOverflows from /proc/net/netstat text (a header line of names, then a line of values); 0 when absent. */
export function listenOverflows(netstat: string): number {
  const lines = netstat.split('\n').filter((l) => l.startsWith('TcpExt:'));
  if (lines.length < 2) return 0;
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  const i = names.indexOf('ListenOverflows');
  return i > 0 ? Number(values[i] ?? 0) : 0;
}
