import { describe, expect, it } from 'vitest';
import { node } from '../fixtures.js';
import { allFullyDisrupted, evictionRate, zoneCounts, zoneOf, zoneState } from './disruption.js';

describe('zone disruption (Kubernetes ComputeZoneState)', () => {
  it.each([
    [3, 0, 'Normal'],
    [0, 1, 'FullDisruption'],
    [0, 0, 'Normal'],
    [2, 2, 'Normal'], // not more than 2 unready
    [1, 3, 'PartialDisruption'],
    [45, 55, 'PartialDisruption'],
    [46, 54, 'Normal'],
  ] as const)('%i ready, %i not ready → %s', (ready, notReady, want) => {
    expect(zoneState(ready, notReady)).toBe(want);
  });

  it('master disruption only when every zone is fully disrupted', () => {
    expect(allFullyDisrupted(new Map())).toBe(false);
    expect(allFullyDisrupted(new Map([['a', 'FullDisruption' as const]]))).toBe(true);
    expect(allFullyDisrupted(new Map([['a', 'FullDisruption' as const], ['b', 'Normal' as const]]))).toBe(false);
  });

  it('eviction rate: unlimited unless partial; secondary rate in large zones, none in small ones', () => {
    expect(evictionRate('Normal', 10)).toBe(Number.POSITIVE_INFINITY);
    expect(evictionRate('FullDisruption', 10)).toBe(Number.POSITIVE_INFINITY);
    expect(evictionRate('PartialDisruption', 50)).toBe(0);
    expect(evictionRate('PartialDisruption', 51)).toBe(0.01);
  });

  it('zones from the topology labels', () => {
    const n = node('n1');
    expect(zoneOf(n)).toBe('');
    n.metadata.labels = { 'topology.kubernetes.io/zone': 'z1', 'topology.kubernetes.io/region': 'r' };
    expect(zoneOf(n)).toBe('r:\x00:z1');
    expect([...zoneCounts([{ zone: 'a', ready: true }, { zone: 'a', ready: false }, { zone: 'b', ready: false }])]).toEqual([
      ['a', { ready: 1, notReady: 1 }],
      ['b', { ready: 0, notReady: 1 }],
    ]);
  });
});
