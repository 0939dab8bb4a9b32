import { describe, expect, it } from 'vitest';
import { conntrackArgs, staleFlows } from './conntrack.js';
import type { ServicePortFlows } from './rules.js';

const port = (endpoints: string[], nodePort?: number, protocol: 'udp' | 'tcp' = 'udp'): ServicePortFlows => ({ protocol, ips: ['10.96.0.10', '10.250.0.99'], port: 53, ...(nodePort ? { nodePort } : {}), endpoints });

describe('staleFlows', () => {
  it('first sync: nothing (what exists is not known to be stale)', () => {
    expect(staleFlows(undefined, new Map([['a', port(['10.244.1.2:53'])]]))).toEqual([]);
  });
  it('an endpoint gone: its flows through every address and the NodePort', () => {
    const prev = new Map([['a', port(['10.244.1.2:5353', '10.244.1.3:5353'], 30053)]]);
    const next = new Map([['a', port(['10.244.1.3:5353'], 30053)]]);
    expect(staleFlows(prev, next)).toEqual([
      { protocol: 'udp', origDst: '10.96.0.10', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 },
      { protocol: 'udp', origDst: '10.250.0.99', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 },
      { protocol: 'udp', origPortDst: 30053, replySrc: '10.244.1.2', replyPortSrc: 5353 },
    ]);
  });
  it('a service deleted: all its endpoints; a port gaining its first endpoints: every flow to it; unchanged: nothing', () => {
    expect(staleFlows(new Map([['a', port(['10.244.1.2:53'])]]), new Map())).toHaveLength(2);
    expect(staleFlows(new Map([['a', port([])]]), new Map([['a', port(['10.244.1.2:53'], 30053)]]))).toEqual([
      { protocol: 'udp', origDst: '10.96.0.10', origPortDst: 53 },
      { protocol: 'udp', origDst: '10.250.0.99', origPortDst: 53 },
      { protocol: 'udp', origPortDst: 30053 },
    ]);
    const same = new Map([['a', port(['10.244.1.2:53'])]]);
    expect(staleFlows(same, new Map(same))).toEqual([]);
  });
  it('TCP: a port getting endpoints (new, or none before) loses the flows to its addresses that were never NATed; an endpoint leaving, its flows in SYN_SENT and CLOSE', () => {
    const tcp = (eps: string[]) => port(eps, 30080, 'tcp');
    const unNATed = [
      { protocol: 'tcp', origDst: '10.96.0.10', origPortDst: 53, replySrc: '10.96.0.10' },
      { protocol: 'tcp', origDst: '10.250.0.99', origPortDst: 53, replySrc: '10.250.0.99' },
    ];
    expect(staleFlows(new Map(), new Map([['t', tcp(['10.244.1.2:80'])]]))).toEqual(unNATed);
    expect(staleFlows(new Map([['t', tcp([])]]), new Map([['t', tcp(['10.244.1.2:80'])]]))).toEqual(unNATed);
    expect(staleFlows(new Map(), new Map([['t', tcp([])]]))).toEqual([]);
    expect(staleFlows(new Map([['t', tcp(['10.244.1.2:80', '10.244.1.3:80'])]]), new Map([['t', tcp(['10.244.1.3:80'])]]))).toEqual(
      ['SYN_SENT', 'CLOSE'].flatMap((state) => [
        { protocol: 'tcp', state, origDst: '10.96.0.10', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 80 },
        { protocol: 'tcp', state, origDst: '10.250.0.99', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 80 },
        { protocol: 'tcp', state, origPortDst: 30080, replySrc: '10.244.1.2', replyPortSrc: 80 },
      ]),
    );
    expect(conntrackArgs({ protocol: 'tcp', state: 'SYN_SENT', origPortDst: 30080, replySrc: '10.244.1.2', replyPortSrc: 80 })).toEqual(['-D', '-p', 'tcp', '--state', 'SYN_SENT', '--orig-port-dst', '30080', '--reply-src', '10.244.1.2', '--reply-port-src', '80']);
  });
});

describe('conntrackArgs', () => {
  it('conntrack -D -p <protocol> with the given fields', () => {
    expect(conntrackArgs({ protocol: 'udp', origDst: '10.96.0.10', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 })).toEqual(['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53', '--reply-src', '10.244.1.2', '--reply-port-src', '5353']);
    expect(conntrackArgs({ protocol: 'udp', origPortDst: 30053 })).toEqual(['-D', '-p', 'udp', '--orig-port-dst', '30053']);
    expect(conntrackArgs({ protocol: 'tcp', origDst: '10.96.0.10', origPortDst: 80, replySrc: '10.96.0.10' })).toEqual(['-D', '-p', 'tcp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '80', '--reply-src', '10.96.0.10']);
  });
});
