import { describe, expect, it } from 'vitest';
import { DEFAULT_FILTERS, nodeAffinity, nodePorts, type Filter } from './filters.js';
import { makeNode, makePod, type PodFixture } from './fixtures.js';
import { schedule } from './schedule.js';
import { defaultScores, ownerSpread, type Score } from './scores.js';
import { podInfo, Snapshot } from './snapshot.js';

// The same plugins without their skip(): what schedule() computed before PreFilter/PreScore Skip.
const unskippable = <T extends Filter | Score>(p: T): T => ({ ...p, skip: undefined, passesPlainNodes: undefined });

describe('PreFilter / PreScore Skip and plain nodes', () => {
  it('skips NodeAffinity and NodePorts only for pods without selector, affinity or host ports, and OwnerSpread only for ownerless pods', () => {
    expect(nodeAffinity.skip!(podInfo(makePod('a')))).toBe(true);
    expect(nodeAffinity.skip!(podInfo(makePod('a', { nodeSelector: { zone: 'a' } })))).toBe(false);
    expect(nodeAffinity.skip!(podInfo(makePod('a', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } })))).toBe(false);
    expect(nodePorts.skip!(podInfo(makePod('a')))).toBe(true);
    expect(nodePorts.skip!(podInfo(makePod('a', { hostPorts: [{ containerPort: 80, hostPort: 80 }] })))).toBe(false);
    expect(ownerSpread().skip!(podInfo(makePod('a')))).toBe(true);
    expect(ownerSpread().skip!(podInfo(makePod('a', { ownerUid: 'rs' })))).toBe(false);
  });

  it('picks the node, and explains a failure, exactly as evaluating every plugin does', () => {
    // A mixed cluster: zones, taints, a cordoned node, a NotReady one, small and large nodes, pods with host ports already placed.
    const nodes = Array.from({ length: 150 }, (_, i) =>
      makeNode(`n-${String(i).padStart(3, '0')}`, {
        cpu: i % 7 === 0 ? '1' : '8',
        memory: i % 5 === 0 ? '1Gi' : '16Gi',
        labels: { zone: `z${i % 3}` },
        ...(i % 11 === 0 ? { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' as const }] } : {}),
        ...(i % 13 === 0 ? { unschedulable: true } : {}),
        ...(i % 17 === 0 ? { ready: 'False' as const } : {}),
      }),
    );
    const placed = Array.from({ length: 200 }, (_, i) => makePod(`old-${i}`, { cpu: '500m', memory: '512Mi', nodeName: `n-${String(i % 150).padStart(3, '0')}`, ownerUid: `rs${i % 4}`, ...(i % 9 === 0 ? { hostPorts: [{ containerPort: 80, hostPort: 8080 }] } : {}) }));
    const variants: PodFixture[] = [
      {},
      { cpu: '100m', memory: '64Mi' },
      { cpu: '100m', ownerUid: 'rs1' },
      { cpu: '7', memory: '8Gi' },
      { cpu: '64' },
      { nodeSelector: { zone: 'z1' } },
      { nodeSelector: { zone: 'nowhere' } },
      { hostPorts: [{ containerPort: 80, hostPort: 8080 }] },
      { tolerations: [{ key: 'dedicated', operator: 'Exists' }], ownerUid: 'rs2' },
      { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z0', 'z2'] }] }] } } },
    ];
    const options = { filters: DEFAULT_FILTERS.map(unskippable), scores: defaultScores().map(unskippable) };
    for (let k = 0; k < 60; k++) {
      const pod = makePod(`p-${k}`, variants[k % variants.length]);
      const snap = Snapshot.from(nodes, placed);
      // The same cursor start for both, so sampling looks at the same nodes.
      const want = schedule(pod, snap, { ...options, cursor: { next: k * 7 } });
      expect(schedule(pod, snap, { cursor: { next: k * 7 } })).toEqual(want);
    }
  });
});
