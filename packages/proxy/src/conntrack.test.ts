import { describe, expect, it } from 'vitest';
import { conntrackArgs, staleFlows } from './conntrack.js';
import type { UdpServicePort } from './rules.js';

const port = (endpoints: string[], nodePort?: number): UdpServicePort => ({ ips: ['10.96.0.10', '10.250.0.99'], port: 53, ...(nodePort ? { nodePort } : {}), endpoints });

describe('staleFlows', () => {
  it('first sync: nothing (what exists is not known to be stale)', () => {
    expect(staleFlows(undefined, new Map([['a', port(['10.244.1.2:53'])]]))).toEqual([]);
  });
  it('an endpoint gone: its flows through every address and the NodePort', () => {
    const prev = new Map([['a', port(['10.244.1.2:5353', '10.244.1.3:5353'], 30053)]]);
    const next = new Map([['a', port(['10.244.1.3:5353'], 30053)]]);
    expect(staleFlows(prev, next)).toEqual([
      { origDst: '10.96.0.10', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 },
      { origDst: '10.250.0.99', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 },
      { origPortDst: 30053, replySrc: '10.244.1.2', replyPortSrc: 5353 },
    ]);
  });
  it('a service deleted: all its endpoints; a port gaining its first endpoints: every flow to it; unchanged: nothing', () => {
    expect(staleFlows(new Map([['a', port(['10.244.1.2:53'])]]), new Map())).toHaveLength(2);
    expect(staleFlows(new Map([['a', port([])]]), new Map([['a', port(['10.244.1.2:53'], 30053)]]))).toEqual([
      { origDst: '10.96.0.10', origPortDst: 53 },
      { origDst: '10.250.0.99', origPortDst: 53 },
      { origPortDst: 30053 },
    ]);
    const same = new Map([['a', port(['10.244.1.2:53'])]]);
    expect(staleFlows(same, new Map(same))).toEqual([]);
  });
});

describe('conntrackArgs', () => {
  it('conntrack -D -p udp with the given fields', () => {
    expect(conntrackArgs({ origDst: '10.96.0.10', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 })).toEqual(['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53', '--reply-src', '10.244.1.2', '--reply-port-src', '5353']);
    expect(conntrackArgs({ origPortDst: 30053 })).toEqual(['-D', '-p', 'udp', '--orig-port-dst', '30053']);
  });
});
