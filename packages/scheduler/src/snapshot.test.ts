import { describe, expect, it } from 'vitest';
import type { Pod } from '@flotilla/api';
import { DEFAULT_FILTERS } from './filters.js';
import { makeNode, makePod } from './fixtures.js';
import { filterNode } from './schedule.js';
import { podInfo, Snapshot } from './snapshot.js';

describe('Snapshot', () => {
  it('recomputes a node\'s static filter facts when the node changes', () => {
    const snap = Snapshot.from([makeNode('n')]);
    const pi = podInfo(makePod('p'));
    expect(filterNode(pi, snap.get('n')!, DEFAULT_FILTERS)).toEqual([]);

    snap.upsertNode(makeNode('n', { ready: 'False', unschedulable: true, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'soft', effect: 'PreferNoSchedule' }] }));
    expect(snap.get('n')!.static).toMatchObject({ readyStatus: 'False', unschedulable: true, blockingTaints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    expect(filterNode(pi, snap.get('n')!, DEFAULT_FILTERS)).toEqual(['node is not ready (Ready=False)', 'node is unschedulable (cordoned)', 'taint dedicated=gpu not tolerated']);

    snap.upsertNode(makeNode('n', { labels: { disk: 'ssd' } }));
    expect(filterNode(podInfo(makePod('q', { nodeSelector: { disk: 'ssd' } })), snap.get('n')!, DEFAULT_FILTERS)).toEqual([]);
  });

  it('status updates of a bound pod keep its counted requests; a new controller is recounted', () => {
    const snap = Snapshot.from([makeNode('n')]);
    const bound = makePod('p', { cpu: '500m', nodeName: 'n', ownerUid: 'rs1' });
    snap.upsertPod(bound);
    const counted = snap.get('n')!.pods.get('default/p')!;
    const running: Pod = { ...bound, status: { phase: 'Running' } };
    snap.upsertPod(running);
    expect(snap.get('n')!.pods.get('default/p')).toBe(counted);
    expect(counted.pod).toBe(running);
    expect(snap.get('n')!.requested.milliCPU).toBe(500);

    // Orphaned (controller reference removed): spreading must stop counting it for rs1.
    snap.upsertPod({ ...running, metadata: { ...running.metadata, ownerReferences: [] } });
    expect(snap.get('n')!.ownerCounts.get('rs1')).toBeUndefined();
    expect(snap.get('n')!.requested.milliCPU).toBe(500);

    // A new pod of the same name (another uid) replaces the old one's count.
    snap.upsertPod({ ...makePod('p', { cpu: '1', nodeName: 'n' }), metadata: { ...bound.metadata, uid: 'other' } });
    expect(snap.get('n')!.requested.milliCPU).toBe(1000);
  });

  it('a confirmed binding keeps the assumed pod counted once', () => {
    const snap = Snapshot.from([makeNode('n')]);
    const pod = makePod('p', { cpu: '250m' });
    snap.assume(pod, 'n');
    snap.upsertPod({ ...pod, spec: { ...pod.spec!, nodeName: 'n' } });
    expect(snap.isAssumed('default/p')).toBe(false);
    expect(snap.get('n')!.pods.size).toBe(1);
    expect(snap.get('n')!.requested.milliCPU).toBe(250);
  });
});
