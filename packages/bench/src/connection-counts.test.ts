import { describe, expect, it } from 'vitest';
import { connectionCounts, connectionsBetween, listenOverflows } from './connection-counts.js';

const NETSTAT = 'TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 38578 38600\nIpExt: InNoRoutes\nIpExt: 0\n';

describe('connection counts', () => {
  it("reads the kernel's listen overflows from /proc/net/netstat", () => {
    expect(listenOverflows(NETSTAT)).toBe(38578);
    expect(listenOverflows('')).toBe(0);
  });

  it("reads the apiserver's counters and subtracts two moments", () => {
    const text = ['# TYPE flotilla_apiserver_connections_total counter', 'flotilla_apiserver_connections_total{result="accepted"} 120', 'flotilla_apiserver_connections_total{result="tls_failed"} 7'].join('\n');
    const a = connectionCounts(text, NETSTAT);
    expect(a).toEqual({ accepted: 120, tlsFailed: 7, listenOverflows: 38578 });
    const b = connectionCounts(text.replace('} 120', '} 150'), NETSTAT.replace('38578', '38600'));
    expect(connectionsBetween(a, b)).toEqual({ accepted: 30, tlsFailed: 0, listenOverflows: 22 });
  });
});
