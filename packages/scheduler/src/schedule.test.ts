import { describe, expect, it } from 'vitest';
import type { Node, Pod } from '@flotilla/api';
import { makeNode, makePod } from './fixtures.js';
import { failureMessage, schedule } from './schedule.js';
import { Snapshot } from './snapshot.js';

describe('schedule', () => {
  const cases: Array<{ name: string; nodes: Node[]; existing?: Pod[]; pod: Pod; want: string | { reasons: Record<string, string[]>; message: string } }> = [
    {
      name: 'the example from the design: one reason per node',
      nodes: [
        makeNode('node-1', { cpu: '1', unschedulable: true }),
        makeNode('node-2', { cpu: '1' }),
        makeNode('node-3', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      ],
      existing: [makePod('big', { cpu: '800m', nodeName: 'node-2' })],
      pod: makePod('p', { cpu: '500m' }),
      want: {
        reasons: {
          'node-1': ['node is unschedulable (cordoned)'],
          'node-2': ['cpu wants 500m, 200m free'],
          'node-3': ['taint dedicated=gpu not tolerated'],
        },
        message: '0/3 nodes are available: node-1: node is unschedulable (cordoned); node-2: cpu wants 500m, 200m free; node-3: taint dedicated=gpu not tolerated.',
      },
    },
    {
      name: 'several reasons on one node are joined',
      nodes: [makeNode('n', { cpu: '1', memory: '1Gi', ready: 'False' })],
      pod: makePod('p', { cpu: '2', memory: '2Gi' }),
      want: {
        reasons: { n: ['node is not ready (Ready=False)', 'cpu wants 2, 1 free', 'memory wants 2Gi, 1Gi free'] },
        message: '0/1 nodes are available: n: node is not ready (Ready=False) and cpu wants 2, 1 free and memory wants 2Gi, 1Gi free.',
      },
    },
    { name: 'no nodes', nodes: [], pod: makePod('p'), want: { reasons: {}, message: '0/0 nodes are available: no nodes available to schedule pods.' } },
    {
      name: 'the only feasible node wins',
      nodes: [makeNode('a', { cpu: '1' }), makeNode('b', { cpu: '4' })],
      pod: makePod('p', { cpu: '2' }),
      want: 'b',
    },
    {
      name: 'least allocated node wins',
      nodes: [makeNode('a'), makeNode('b'), makeNode('c')],
      existing: [makePod('x', { cpu: '2', nodeName: 'a' }), makePod('y', { cpu: '1', nodeName: 'c' })],
      pod: makePod('p', { cpu: '500m' }),
      want: 'b',
    },
    {
      name: 'spreading beats a small resource difference',
      nodes: [makeNode('a'), makeNode('b')],
      existing: [makePod('s1', { cpu: '100m', nodeName: 'a', ownerUid: 'rs' }), makePod('big', { cpu: '400m', nodeName: 'b' })],
      pod: makePod('p', { cpu: '100m', ownerUid: 'rs' }),
      want: 'b',
    },
    {
      name: 'nodeSelector narrows to the labelled node',
      nodes: [makeNode('a'), makeNode('b', { labels: { disk: 'ssd' } }), makeNode('c')],
      pod: makePod('p', { nodeSelector: { disk: 'ssd' } }),
      want: 'b',
    },
    {
      name: 'toleration admits the tainted node',
      nodes: [makeNode('a', { cpu: '1', taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), makeNode('b', { ready: 'False' })],
      pod: makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }),
      want: 'a',
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const result = schedule(c.pod, Snapshot.from(c.nodes, c.existing ?? []));
    if (typeof c.want === 'string') expect(result).toEqual({ node: c.want });
    else expect(result).toEqual({ unschedulable: true, ...c.want });
  });

  it('breaks ties deterministically per pod but spreads pods over equal nodes', () => {
    const snap = Snapshot.from(['a', 'b', 'c', 'd'].map((n) => makeNode(n)));
    const pods = Array.from({ length: 40 }, (_, i) => makePod(`p${i}`));
    const first = pods.map((p) => schedule(p, snap).node);
    expect(pods.map((p) => schedule(p, snap).node)).toEqual(first);
    expect(new Set(first).size).toBe(4);
  });

  it('never overcommits when decisions are assumed into the snapshot', () => {
    const snap = Snapshot.from(['a', 'b', 'c'].map((n) => makeNode(n, { cpu: '2', memory: '4Gi' })));
    const placed: Record<string, number> = {};
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      const pod = makePod(`p${i}`, { cpu: '500m', memory: '256Mi', ownerUid: 'rs' });
      const r = schedule(pod, snap);
      if (r.unschedulable) {
        failures++;
        continue;
      }
      snap.assume(pod, r.node);
      placed[r.node] = (placed[r.node] ?? 0) + 1;
    }
    expect(placed).toEqual({ a: 4, b: 4, c: 4 });
    expect(failures).toBe(8);
  });

  it('summarises long failure messages', () => {
    const reasons = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`n${String(i).padStart(2, '0')}`, [`cpu wants 1, ${i}m free`]]));
    const msg = failureMessage(15, reasons, 2);
    expect(msg).toBe('0/15 nodes are available: n00: cpu wants 1, 0m free; n01: cpu wants 1, 1m free; and 13 more node(s): 13 insufficient cpu.');
  });
});
