import { describe, expect, it } from 'vitest';
import { makeNode, makePod } from './fixtures.js';
import { schedule } from './schedule.js';
import { podInfo, Snapshot } from './snapshot.js';

// A micro-benchmark, not a timed assertion: it prints the per-pod cost of
// schedule() on 1,000 nodes and checks only that every decision was valid.
describe('schedule() cost on 1,000 nodes', () => {
  it('places 10,000 pods with assume, one filter+score pass per pod', () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => makeNode(`hollow-${String(i).padStart(4, '0')}`, { cpu: '16', memory: '64Gi', pods: '110' }));
    const snap = Snapshot.from(nodes);
    const pods = Array.from({ length: 10_000 }, (_, i) => podInfo(makePod(`p${i}`, { cpu: '100m', memory: '128Mi', ownerUid: `rs${i % 100}` })));
    const start = performance.now();
    let placed = 0;
    for (const pi of pods) {
      const r = schedule(pi, snap);
      if (r.node) {
        snap.assume(pi, r.node);
        placed++;
      }
    }
    const ms = performance.now() - start;
    console.log(`schedule() on 1000 nodes: ${((ms * 1000) / pods.length).toFixed(1)} µs/pod (${pods.length} pods in ${ms.toFixed(0)} ms)`);
    expect(placed).toBe(10_000);
    for (const ni of snap.nodes()) expect(ni.pods.size).toBeLessThanOrEqual(110);
  });
});
