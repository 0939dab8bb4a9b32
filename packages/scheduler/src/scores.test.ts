import { describe, expect, it } from 'vitest';
import { makeNode, makePod } from './fixtures.js';
import { leastAllocated, leastRequestedScore, ownerSpread } from './scores.js';
import { podInfo, Snapshot } from './snapshot.js';

describe('leastRequestedScore', () => {
  it.each([
    [0, 1000, 100],
    [500, 1000, 50],
    [1000, 1000, 0],
    [1500, 1000, 0],
    [250, 1000, 75],
    [1, 3, 66],
    [0, 0, 0],
  ])('requested %d of %d → %d', (req, cap, want) => expect(leastRequestedScore(req, cap)).toBe(want));
});

describe('LeastAllocated', () => {
  const cases = [
    { name: 'empty node, pod takes a quarter', node: { cpu: '4', memory: '8Gi' }, existing: [], pod: { cpu: '1', memory: '2Gi' }, want: 75 },
    { name: 'half used cpu, memory free', node: { cpu: '4', memory: '8Gi' }, existing: [{ cpu: '2', memory: '0' }], pod: { cpu: '1', memory: '2Gi' }, want: 50 },
    { name: 'request-less pod counts as 100m/200Mi', node: { cpu: '1', memory: '1000Mi' }, existing: [], pod: {}, want: 85 },
    { name: 'overcommitted resource scores 0', node: { cpu: '1', memory: '8Gi' }, existing: [{ cpu: '2', memory: '0' }], pod: { cpu: '100m', memory: '4Gi' }, want: 25 },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const pods = c.existing.map((r, i) => makePod(`e${i}`, { ...r, nodeName: 'n' }));
    const snap = Snapshot.from([makeNode('n', c.node)], pods);
    expect(leastAllocated().score(podInfo(makePod('p', c.pod)), snap.get('n')!)).toBe(c.want);
  });
});

describe('OwnerSpread', () => {
  const nodes = ['a', 'b', 'c'].map((n) => makeNode(n));
  const cases = [
    { name: 'no siblings anywhere: all 100', siblings: {}, owner: 'rs1', want: [100, 100, 100] },
    { name: 'fewer siblings scores higher', siblings: { a: 2, b: 1 }, owner: 'rs1', want: [0, 50, 100] },
    { name: 'other owners do not count', siblings: { a: 3 }, owner: 'rs2', want: [100, 100, 100] },
    { name: 'ownerless pod: uniform', siblings: { a: 3 }, owner: undefined, want: [100, 100, 100] },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const pods = Object.entries(c.siblings).flatMap(([node, n]) => Array.from({ length: n }, (_, i) => makePod(`${node}-${i}`, { nodeName: node, ownerUid: 'rs1' })));
    const snap = Snapshot.from(nodes, pods);
    const pi = podInfo(makePod('p', c.owner ? { ownerUid: c.owner } : {}));
    const s = ownerSpread();
    const raw = snap.nodes().map((ni) => s.score(pi, ni));
    s.normalize!(pi, raw);
    expect(raw).toEqual(c.want);
  });
});
