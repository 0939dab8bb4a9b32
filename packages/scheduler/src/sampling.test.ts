import { describe, expect, it } from 'vitest';
import { makeNode, makePod } from './fixtures.js';
import { numFeasibleNodesToFind, schedule, type NodeCursor } from './schedule.js';
import { podInfo, Snapshot } from './snapshot.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `node-${String(i).padStart(4, '0')}`);

describe('numFeasibleNodesToFind (Kubernetes percentageOfNodesToScore)', () => {
  it.each([
    // [nodes, percentage, wanted]
    [0, 0, 0],
    [50, 0, 50],
    [99, 0, 99],
    [100, 0, 100],
    [200, 0, 100], // 48% of 200 is 96: never fewer than 100
    [1000, 0, 420], // adaptive: 50 - 1000/125 = 42%
    [5000, 0, 500], // 10%
    [10000, 0, 500], // floor at 5%
    [1000, 100, 1000],
    [1000, 10, 100],
    [1000, 30, 300],
    [50, 10, 50], // small clusters are always searched whole
  ])('%i nodes at %i%% -> %i', (nodes, pct, want) => {
    expect(numFeasibleNodesToFind(nodes, pct)).toBe(want);
  });
});

describe('schedule() with sampling', () => {
  it('stops filtering once enough nodes are feasible and advances the cursor past the nodes it looked at', () => {
    const snap = Snapshot.from(names(1000).map((n) => makeNode(n)));
    const cursor: NodeCursor = { next: 990 };
    const r = schedule(makePod('p'), snap, { cursor });
    expect(r.node).toBeDefined();
    expect(cursor.next).toBe((990 + 420) % 1000);
    // The node came from the window it searched: 990..999 and 0..409.
    const idx = Number(r.node!.slice('node-'.length));
    expect(idx >= 990 || idx < 410).toBe(true);
  });

  it('counts unfeasible nodes as looked at, and searches the whole cluster before giving up', () => {
    const nodes = names(300).map((n, i) => makeNode(n, i < 250 ? { unschedulable: true } : {}));
    const snap = Snapshot.from(nodes);
    const cursor: NodeCursor = { next: 0 };
    expect(schedule(makePod('p'), snap, { cursor }).node).toBeDefined();
    // 250 cordoned nodes, then the 50 others: fewer than the 100 wanted, so every node was filtered.
    expect(cursor.next).toBe(0);

    const none = Snapshot.from(names(300).map((n) => makeNode(n, { unschedulable: true })));
    const r = schedule(makePod('q'), none, { cursor: { next: 123 } });
    expect(r.unschedulable).toBe(true);
    expect(Object.keys(r.unschedulable ? r.reasons : {})).toHaveLength(300);
    expect(r.unschedulable && r.message).toMatch(/^0\/300 nodes are available: /);
  });

  it('percentageOfNodesToScore 100 scores every node: the globally least allocated one wins', () => {
    const nodes = names(1000).map((n) => makeNode(n));
    const busy = names(1000).filter((n) => n !== 'node-0777').map((n, i) => makePod(`busy-${i}`, { cpu: '1', nodeName: n }));
    const snap = Snapshot.from(nodes, busy);
    expect(schedule(makePod('p', { cpu: '100m' }), snap, { percentageOfNodesToScore: 100, cursor: { next: 0 } }).node).toBe('node-0777');
    // Sampled from the start, the idle node is outside the 420 nodes looked at.
    expect(schedule(makePod('p', { cpu: '100m' }), snap, { cursor: { next: 0 } }).node).not.toBe('node-0777');
  });

  it('a rotating cursor spreads equal pods over the whole cluster, and never overcommits', () => {
    const snap = Snapshot.from(names(1000).map((n) => makeNode(n, { cpu: '4', memory: '16Gi', pods: '12' })));
    const cursor: NodeCursor = { next: 0 };
    for (let i = 0; i < 10_000; i++) {
      const pi = podInfo(makePod(`p${i}`, { cpu: '10m', memory: '16Mi' }));
      const r = schedule(pi, snap, { cursor });
      expect(r.node).toBeDefined();
      snap.assume(pi, r.node!);
    }
    const counts = snap.nodes().map((ni) => ni.pods.size);
    expect(counts.every((c) => c >= 1 && c <= 12)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000);
  });
});
