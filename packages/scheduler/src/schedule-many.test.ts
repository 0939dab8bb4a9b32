import { describe, expect, it } from 'vitest';
import { makeNode, makePod } from './fixtures.js';
import { schedule } from './schedule.js';
import { podInfo, Snapshot } from './snapshot.js';

// Placing many pods with assume never overcommits a node. The per-pod cost is
// printed for information; ./scripts/bench.sh scheduler measures it for real.
describe('schedule() over many nodes', () => {
  it('places 2,000 pods on 200 nodes with assume and never exceeds a node\'s pod capacity', () => {
    const nodes = Array.from({ length: 200 }, (_, i) => makeNode(`hollow-${String(i).padStart(4, '0')}`, { cpu: '16', memory: '64Gi', pods: '10' }));
    const snap = Snapshot.from(nodes);
    const pods = Array.from({ length: 2_000 }, (_, i) => podInfo(makePod(`p${i}`, { cpu: '100m', memory: '128Mi', ownerUid: `rs${i % 100}` })));
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
    console.log(`schedule() on 200 nodes: ${((ms * 1000) / pods.length).toFixed(1)} µs/pod (${pods.length} pods in ${ms.toFixed(0)} ms)`);
    expect(placed).toBe(2_000);
    for (const ni of snap.nodes()) expect(ni.pods.size).toBeLessThanOrEqual(110);
  });
});
