import { describe, expect, it } from 'vitest';
import type { Pod, TopologySpreadConstraint } from '@flotilla/api';
import { makeNode, makePod } from './fixtures.js';
import { schedule } from './schedule.js';
import { Snapshot, toPodInfo } from './snapshot.js';
import { topologySpread } from './topology-spread.js';

const zoneNodes = () => [
  makeNode('a1', { cpu: '8', memory: '8Gi', labels: { zone: 'a' } }),
  makeNode('a2', { cpu: '8', memory: '8Gi', labels: { zone: 'a' } }),
  makeNode('b1', { cpu: '8', memory: '8Gi', labels: { zone: 'b' } }),
  makeNode('c1', { cpu: '8', memory: '8Gi' }), // no zone label
];

/** A web pod, bound to `node` when given, spreading by zone with `when`. */
function web(name: string, node?: string, constraint?: Partial<TopologySpreadConstraint>): Pod {
  const p = makePod(name, { cpu: '100m', ...(node ? { nodeName: node, phase: 'Running' as const } : {}) });
  p.metadata.labels = { app: 'web' };
  if (constraint) p.spec!.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } }, ...constraint }];
  return p;
}

describe('PodTopologySpread', () => {
  it.each([
    // [pods already bound, nodes the new pod may go to]
    ['none yet', [], ['a1', 'a2', 'b1']],
    ['one in a: b is the only place within skew 1', ['a1'], ['b1']],
    ['one in each zone: both again', ['a1', 'b1'], ['a1', 'a2', 'b1']],
    ['two in a, one in b', ['a1', 'a2', 'b1'], ['b1']],
  ] as const)('DoNotSchedule, maxSkew 1: %s', (_, bound, feasible) => {
    const pods = bound.map((n, i) => web(`w${i}`, n));
    const snap = Snapshot.from(zoneNodes(), pods);
    const pi = toPodInfo(web('new', undefined, {}));
    const plugins = topologySpread(pi, snap.nodes())!;
    const ok = snap.nodes().filter((ni) => plugins.filter!.filter(pi, ni).length === 0).map((ni) => ni.name).sort();
    expect(ok).toEqual([...feasible]);
  });

  it('a node without the topology label is refused under DoNotSchedule, with a reason', () => {
    const snap = Snapshot.from(zoneNodes());
    const pi = toPodInfo(web('new', undefined, {}));
    const c1 = snap.nodes().find((n) => n.name === 'c1')!;
    expect(topologySpread(pi, snap.nodes())!.filter!.filter(pi, c1)).toEqual(["node(s) didn't have the label zone of a topology spread constraint"]);
  });

  it('counts only pods the selector matches in the same namespace', () => {
    const other = web('x', 'a1');
    other.metadata.namespace = 'elsewhere';
    const unrelated = web('y', 'a1');
    unrelated.metadata.labels = { app: 'db' };
    const snap = Snapshot.from(zoneNodes(), [other, unrelated]);
    const pi = toPodInfo(web('new', undefined, {}));
    const plugins = topologySpread(pi, snap.nodes())!;
    expect(snap.nodes().filter((ni) => plugins.filter!.filter(pi, ni).length === 0).map((n) => n.name).sort()).toEqual(['a1', 'a2', 'b1']);
  });

  it('the scheduler keeps a DoNotSchedule pod waiting when no domain is within skew, naming why', () => {
    const nodes = [makeNode('a1', { cpu: '8', memory: '8Gi', labels: { zone: 'a' } }), makeNode('b1', { cpu: '1', memory: '8Gi', labels: { zone: 'b' } })];
    // b is full (its cpu taken), a already holds one more web pod than b.
    const filler = makePod('filler', { cpu: '1', nodeName: 'b1', phase: 'Running' });
    const snap = Snapshot.from(nodes, [web('w0', 'a1'), filler]);
    const r = schedule(web('new', undefined, {}), snap);
    if (!r.unschedulable) throw new Error(`expected no node, got ${JSON.stringify(r)}`);
    expect(r.message).toMatch(/topology spread constraints/);
  });

  it('ScheduleAnyway prefers the emptiest zone but never refuses', () => {
    const snap = Snapshot.from(zoneNodes(), [web('w0', 'a1'), web('w1', 'a2')]);
    const pi = toPodInfo(web('new', undefined, { whenUnsatisfiable: 'ScheduleAnyway' }));
    const plugins = topologySpread(pi, snap.nodes())!;
    expect(plugins.filter).toBeUndefined();
    const r = schedule(web('new', undefined, { whenUnsatisfiable: 'ScheduleAnyway' }), snap);
    expect(r).toEqual({ node: 'b1' });
  });

  it('a pod without constraints costs nothing extra', () => {
    expect(topologySpread(toPodInfo(makePod('plain')), Snapshot.from(zoneNodes()).nodes())).toBeUndefined();
  });
});
