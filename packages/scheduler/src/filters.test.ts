import { describe, expect, it } from 'vitest';
import type { ContainerPort, Node, NodeSelectorRequirement, Pod } from '@flotilla/api';
import { matchRequirement, nodeAffinity, nodePorts, nodeReady, nodeResourcesFit, nodeUnschedulable, taintToleration, toleratesTaint, type Filter } from './filters.js';
import { makeNode, makePod } from './fixtures.js';
import { podInfo, Snapshot } from './snapshot.js';

interface Case {
  name: string;
  pod: Pod;
  node: Node;
  existing?: Pod[];
  want: string[];
}

function run(filter: Filter, cases: Case[]): void {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const snap = Snapshot.from([c.node], c.existing ?? []);
    const ni = snap.get(c.node.metadata.name!)!;
    expect(filter.filter(podInfo(c.pod), ni)).toEqual(c.want);
  });
}

describe('NodeReady', () => {
  run(nodeReady, [
    { name: 'ready node passes', pod: makePod('p'), node: makeNode('n'), want: [] },
    { name: 'Ready=False fails', pod: makePod('p'), node: makeNode('n', { ready: 'False' }), want: ['node is not ready (Ready=False)'] },
    { name: 'no Ready condition fails', pod: makePod('p'), node: makeNode('n', { ready: null }), want: ['node is not ready (Ready=Unknown)'] },
    {
      name: 'unreachable NoExecute taint not tolerated',
      pod: makePod('p'),
      node: makeNode('n', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }),
      want: ['taint node.kubernetes.io/unreachable:NoExecute not tolerated'],
    },
    {
      name: 'not-ready NoSchedule taint tolerated',
      pod: makePod('p', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] }),
      node: makeNode('n', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }),
      want: [],
    },
    {
      name: 'not-ready PreferNoSchedule taint ignored',
      pod: makePod('p'),
      node: makeNode('n', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'PreferNoSchedule' }] }),
      want: [],
    },
  ]);
});

describe('NodeUnschedulable', () => {
  run(nodeUnschedulable, [
    { name: 'schedulable node passes', pod: makePod('p'), node: makeNode('n'), want: [] },
    { name: 'cordoned node fails', pod: makePod('p'), node: makeNode('n', { unschedulable: true }), want: ['node is unschedulable (cordoned)'] },
    {
      name: 'cordoned node with toleration passes',
      pod: makePod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }),
      node: makeNode('n', { unschedulable: true }),
      want: [],
    },
  ]);
});

describe('NodeResourcesFit', () => {
  const node = makeNode('n', { cpu: '1', memory: '1Gi', pods: '3' });
  run(nodeResourcesFit, [
    { name: 'fits on an empty node', pod: makePod('p', { cpu: '500m', memory: '512Mi' }), node, want: [] },
    { name: 'exactly fills the node', pod: makePod('p', { cpu: '1', memory: '1Gi' }), node, want: [] },
    {
      name: 'cpu short',
      pod: makePod('p', { cpu: '500m' }),
      node,
      existing: [makePod('a', { cpu: '800m', nodeName: 'n' })],
      want: ['cpu wants 500m, 200m free'],
    },
    {
      name: 'cpu and memory short',
      pod: makePod('p', { cpu: '2', memory: '1Gi' }),
      node,
      existing: [makePod('a', { memory: '512Mi', nodeName: 'n' })],
      want: ['cpu wants 2, 1 free', 'memory wants 1Gi, 512Mi free'],
    },
    {
      name: 'pod count full',
      pod: makePod('p'),
      node,
      existing: ['a', 'b', 'c'].map((n) => makePod(n, { nodeName: 'n' })),
      want: ['too many pods: 3 of 3 in use'],
    },
    {
      name: 'terminal pods do not count',
      pod: makePod('p', { cpu: '1' }),
      node,
      existing: [makePod('a', { cpu: '1', nodeName: 'n', phase: 'Succeeded' })],
      want: [],
    },
    {
      name: 'init container larger than the sum counts',
      pod: makePod('p', { cpu: '100m', initContainers: [{ name: 'init', resources: { requests: { cpu: '1500m' } } }] }),
      node,
      want: ['cpu wants 1500m, 1 free'],
    },
    {
      name: 'a request-less pod fits a full node (BestEffort)',
      pod: makePod('p'),
      node,
      existing: [makePod('a', { cpu: '1', memory: '1Gi', nodeName: 'n' })],
      want: [],
    },
  ]);
});

describe('matchRequirement', () => {
  const labels = { zone: 'a', gen: '5', disk: 'ssd' };
  const cases: Array<[NodeSelectorRequirement, boolean]> = [
    [{ key: 'zone', operator: 'In', values: ['a', 'b'] }, true],
    [{ key: 'zone', operator: 'In', values: ['b'] }, false],
    [{ key: 'missing', operator: 'In', values: ['a'] }, false],
    [{ key: 'zone', operator: 'NotIn', values: ['b'] }, true],
    [{ key: 'zone', operator: 'NotIn', values: ['a'] }, false],
    [{ key: 'missing', operator: 'NotIn', values: ['a'] }, true],
    [{ key: 'disk', operator: 'Exists' }, true],
    [{ key: 'missing', operator: 'Exists' }, false],
    [{ key: 'missing', operator: 'DoesNotExist' }, true],
    [{ key: 'disk', operator: 'DoesNotExist' }, false],
    [{ key: 'gen', operator: 'Gt', values: ['4'] }, true],
    [{ key: 'gen', operator: 'Gt', values: ['5'] }, false],
    [{ key: 'gen', operator: 'Lt', values: ['6'] }, true],
    [{ key: 'gen', operator: 'Lt', values: ['5'] }, false],
    [{ key: 'zone', operator: 'Gt', values: ['1'] }, false],
    [{ key: 'missing', operator: 'Lt', values: ['1'] }, false],
  ];
  it.each(cases)('%j → %s', (req, want) => expect(matchRequirement(req, labels)).toBe(want));
});

describe('NodeAffinity', () => {
  const node = makeNode('n', { labels: { zone: 'a', disk: 'ssd' } });
  run(nodeAffinity, [
    { name: 'no constraints pass', pod: makePod('p'), node, want: [] },
    { name: 'nodeSelector matches', pod: makePod('p', { nodeSelector: { zone: 'a' } }), node, want: [] },
    { name: 'nodeSelector mismatch', pod: makePod('p', { nodeSelector: { zone: 'b', disk: 'ssd' } }), node, want: ['nodeSelector zone=b not matched'] },
    {
      name: 'terms are ORed',
      pod: makePod('p', {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchExpressions: [{ key: 'disk', operator: 'Exists' }] }],
          },
        },
      }),
      node,
      want: [],
    },
    {
      name: 'expressions within a term are ANDed',
      pod: makePod('p', {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'disk', operator: 'DoesNotExist' }] }],
          },
        },
      }),
      node,
      want: ['required node affinity not matched'],
    },
    {
      name: 'an empty term matches nothing',
      pod: makePod('p', { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}] } } }),
      node,
      want: ['required node affinity not matched'],
    },
    {
      name: 'matchFields on metadata.name',
      pod: makePod('p', {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n'] }] }] } },
      }),
      node,
      want: [],
    },
  ]);
});

describe('toleratesTaint', () => {
  const taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' as const };
  it.each([
    [{ key: 'dedicated', operator: 'Equal' as const, value: 'gpu', effect: 'NoSchedule' as const }, true],
    [{ key: 'dedicated', value: 'gpu' }, true],
    [{ key: 'dedicated', value: 'cpu' }, false],
    [{ key: 'dedicated', operator: 'Exists' as const }, true],
    [{ key: 'dedicated', operator: 'Exists' as const, effect: 'NoExecute' as const }, false],
    [{ operator: 'Exists' as const }, true],
    [{ key: '', value: 'gpu' }, false],
    [{ key: 'other', operator: 'Exists' as const }, false],
  ])('%j → %s', (t, want) => expect(toleratesTaint(t, taint)).toBe(want));
});

describe('TaintToleration', () => {
  const gpu = makeNode('n', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
  run(taintToleration, [
    { name: 'untainted node passes', pod: makePod('p'), node: makeNode('n'), want: [] },
    { name: 'NoSchedule taint not tolerated', pod: makePod('p'), node: gpu, want: ['taint dedicated=gpu not tolerated'] },
    { name: 'tolerated by Equal', pod: makePod('p', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu' }] }), node: gpu, want: [] },
    { name: 'tolerated by wildcard Exists', pod: makePod('p', { tolerations: [{ operator: 'Exists' }] }), node: gpu, want: [] },
    {
      name: 'NoExecute taint without value',
      pod: makePod('p'),
      node: makeNode('n', { taints: [{ key: 'maintenance', effect: 'NoExecute' }] }),
      want: ['taint maintenance not tolerated'],
    },
    { name: 'PreferNoSchedule does not filter', pod: makePod('p'), node: makeNode('n', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] }), want: [] },
    {
      name: 'lifecycle taints are left to NodeReady',
      pod: makePod('p'),
      node: makeNode('n', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }),
      want: [],
    },
  ]);
});

describe('NodePorts', () => {
  const node = makeNode('n');
  const on = (hostPorts: ContainerPort[]) => [makePod('a', { nodeName: 'n', hostPorts })];
  run(nodePorts, [
    { name: 'no host ports', pod: makePod('p'), node, existing: on([{ containerPort: 80, hostPort: 8080 }]), want: [] },
    { name: 'free port', pod: makePod('p', { hostPorts: [{ containerPort: 80, hostPort: 8081 }] }), node, existing: on([{ containerPort: 80, hostPort: 8080 }]), want: [] },
    {
      name: 'same port and protocol clash',
      pod: makePod('p', { hostPorts: [{ containerPort: 80, hostPort: 8080 }] }),
      node,
      existing: on([{ containerPort: 80, hostPort: 8080, protocol: 'TCP' }]),
      want: ['host port 8080/TCP in use'],
    },
    {
      name: 'different protocol does not clash',
      pod: makePod('p', { hostPorts: [{ containerPort: 53, hostPort: 53, protocol: 'UDP' }] }),
      node,
      existing: on([{ containerPort: 53, hostPort: 53 }]),
      want: [],
    },
    {
      name: 'different specific host IPs do not clash',
      pod: makePod('p', { hostPorts: [{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.2' }] }),
      node,
      existing: on([{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.1' }]),
      want: [],
    },
    {
      name: 'specific IP clashes with a wildcard user',
      pod: makePod('p', { hostPorts: [{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.2' }] }),
      node,
      existing: on([{ containerPort: 80, hostPort: 8080 }]),
      want: ['host port 10.0.0.2:8080/TCP in use'],
    },
    {
      name: 'wildcard clashes with a specific-IP user',
      pod: makePod('p', { hostPorts: [{ containerPort: 80, hostPort: 8080 }] }),
      node,
      existing: on([{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.1' }]),
      want: ['host port 8080/TCP in use'],
    },
  ]);
});
