import { defaultDaemonSet, nowTimestamp, type ControllerRevision, type DaemonSet, type Node, type Pod } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient, FakeClock, waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEvents } from '../replicaset/test-fixtures.js';
import { CONTROLLER_REVISION_HASH_LABEL, nodeShouldRunDaemonPod, targetNode } from './daemon-pods.js';
import { DaemonSetController, daemonSetHash, daemonSetStatus, planDaemonSet } from './daemonset-controller.js';

const T0 = Date.UTC(2024, 0, 1);
const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

function node(name: string, opts: { labels?: Record<string, string>; taints?: Node['spec'] extends infer S ? S extends { taints?: infer T } ? T : never : never; unschedulable?: boolean } = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, labels: { 'kubernetes.io/hostname': name, ...(opts.labels ?? {}) } },
    spec: { ...(opts.taints ? { taints: opts.taints } : {}), ...(opts.unschedulable ? { unschedulable: true } : {}) },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function daemonSet(opts: { image?: string; nodeSelector?: Record<string, string>; strategy?: DaemonSet['spec'] extends infer S ? S extends { updateStrategy?: infer U } ? U : never : never } = {}): DaemonSet {
  const ds: DaemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { namespace: 'ns', name: 'agent', uid: 'uid-ds', generation: 1 },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'c', image: opts.image ?? 'img:1' }], ...(opts.nodeSelector ? { nodeSelector: opts.nodeSelector } : {}) } },
      ...(opts.strategy ? { updateStrategy: opts.strategy } : {}),
    },
  };
  defaultDaemonSet(ds);
  return ds;
}

/** A daemon pod of `ds` on `nodeName`, optionally from another template hash, ready since T0. */
function daemonPod(ds: DaemonSet, nodeName: string, opts: { hash?: string; ready?: boolean; phase?: Pod['status'] extends infer S ? S extends { phase?: infer P } ? P : never : never } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: 'ns',
      name: `agent-${nodeName}-${opts.hash ?? 'cur'}`,
      uid: `uid-agent-${nodeName}-${opts.hash ?? 'cur'}`,
      labels: { app: 'agent', [CONTROLLER_REVISION_HASH_LABEL]: opts.hash ?? daemonSetHash(ds) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'uid-ds', controller: true }],
      creationTimestamp: nowTimestamp(new Date(T0)),
    },
    spec: { nodeName, containers: [{ name: 'c', image: 'img:1' }] },
    status: { phase: opts.phase ?? 'Running', conditions: opts.ready === false ? [] : [{ type: 'Ready', status: 'True', lastTransitionTime: nowTimestamp(new Date(T0)) }] },
  };
}

async function setup(objects: Array<Node | Pod | DaemonSet>) {
  const clock = new FakeClock(T0 + 60_000);
  const fake = new FakeApiClient({ objects, clock });
  const informers = new InformerFactory(fake, { clock });
  const events = new MemoryEvents();
  const dsc = new DaemonSetController({ client: fake, informers, recorder: events, clock });
  const stop = new AbortController();
  stops.push(stop);
  informers.start(stop.signal);
  await informers.waitForSync();
  return { clock, fake, events, dsc };
}

describe('which nodes run a daemon pod', () => {
  it('honours nodeSelector, NoSchedule/NoExecute taints, and tolerates what Kubernetes adds (cordoned, not-ready, unreachable)', () => {
    const ds = daemonSet({ nodeSelector: { disk: 'ssd' } });
    expect(nodeShouldRunDaemonPod(node('a', { labels: { disk: 'ssd' } }), ds)).toEqual({ shouldRun: true, shouldContinueRunning: true });
    expect(nodeShouldRunDaemonPod(node('b'), ds)).toEqual({ shouldRun: false, shouldContinueRunning: false });
    const plain = daemonSet();
    expect(nodeShouldRunDaemonPod(node('c', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }), plain)).toEqual({ shouldRun: false, shouldContinueRunning: true });
    expect(nodeShouldRunDaemonPod(node('d', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] }), plain)).toEqual({ shouldRun: false, shouldContinueRunning: false });
    for (const key of ['node.kubernetes.io/unschedulable', 'node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
      const effect = key.endsWith('unschedulable') ? 'NoSchedule' : 'NoExecute';
      expect(nodeShouldRunDaemonPod(node('e', { unschedulable: true, taints: [{ key, effect }] }), plain).shouldRun).toBe(true);
    }
    plain.spec!.template.spec.tolerations = [{ key: 'dedicated', operator: 'Exists' }];
    expect(nodeShouldRunDaemonPod(node('f', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] }), plain).shouldRun).toBe(true);
  });
});

describe('DaemonSetController.reconcile', () => {
  it('creates one pod per node, pinned by required node affinity on metadata.name (the scheduler binds it), with the daemon tolerations', async () => {
    const ds = daemonSet();
    const { fake, dsc, events } = await setup([ds, node('n1'), node('n2'), node('n3', { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] })]);
    await dsc.reconcile('ns/agent');
    const created = fake.actionsOf('create', 'pods').map((a) => a.object as Pod);
    expect(created.map(targetNode).sort()).toEqual(['n1', 'n2', 'n3']);
    const p = created[0]!;
    expect(p.spec?.nodeName).toBeUndefined();
    expect(p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: [targetNode(p)] }] },
    ]);
    expect(p.spec?.tolerations?.map((t) => `${t.key}:${t.effect}`)).toEqual([
      'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/unreachable:NoExecute',
      'node.kubernetes.io/disk-pressure:NoSchedule',
      'node.kubernetes.io/memory-pressure:NoSchedule',
      'node.kubernetes.io/pid-pressure:NoSchedule',
      'node.kubernetes.io/unschedulable:NoSchedule',
    ]);
    expect(p.metadata.labels).toMatchObject({ app: 'agent', [CONTROLLER_REVISION_HASH_LABEL]: daemonSetHash(ds), 'pod-template-generation': '1' });
    expect(p.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'DaemonSet', name: 'agent', controller: true });
    expect(events.reasons()).toEqual(['SuccessfulCreate', 'SuccessfulCreate', 'SuccessfulCreate']);
    // Not again while the creations are unobserved, nor after.
    await dsc.reconcile('ns/agent');
    await waitFor(() => fake.peekAll<Pod>('pods').length === 3);
    await waitFor(() => dsc.expectations.satisfied('ns/agent'), { what: 'creations observed' });
    await dsc.reconcile('ns/agent');
    expect(fake.actionsOf('create', 'pods')).toHaveLength(3);
  });

  it('adds a pod for a node that joins later and deletes the pod of a node that is gone', async () => {
    const ds = daemonSet();
    const { fake, dsc } = await setup([ds, node('n1'), daemonPod(ds, 'n1'), daemonPod(ds, 'gone')]);
    fake.seed(node('n2'));
    await waitFor(() => (dsc as unknown as { nodeInformer: { store: { size(): number } } }).nodeInformer.store.size() === 2);
    await dsc.reconcile('ns/agent');
    expect(fake.actionsOf('create', 'pods').map((a) => targetNode(a.object as Pod))).toEqual(['n2']);
    expect(fake.actionsOf('delete', 'pods').map((a) => a.name)).toEqual(['agent-gone-cur']);
  });

  it('replaces a failed daemon pod and removes pods from nodes that no longer match', async () => {
    const ds = daemonSet({ nodeSelector: { role: 'edge' } });
    const { fake, dsc, events } = await setup([ds, node('n1', { labels: { role: 'edge' } }), node('n2'), daemonPod(ds, 'n1', { phase: 'Failed' }), daemonPod(ds, 'n2')]);
    await dsc.reconcile('ns/agent');
    expect(fake.actionsOf('delete', 'pods').map((a) => a.name).sort()).toEqual(['agent-n1-cur', 'agent-n2-cur']);
    expect(fake.actionsOf('create', 'pods').map((a) => targetNode(a.object as Pod))).toEqual(['n1']);
    expect(events.reasons()).toContain('FailedDaemonPod');
  });

  it('writes the status kubectl rollout status reads', async () => {
    const ds = daemonSet();
    const { fake, dsc } = await setup([ds, node('n1'), node('n2'), daemonPod(ds, 'n1'), daemonPod(ds, 'n2', { ready: false })]);
    await dsc.reconcile('ns/agent');
    const st = fake.actionsOf('patch', 'daemonsets')[0]!;
    expect(st.subresource).toBe('status');
    expect((st.object as { status: unknown }).status).toEqual({
      currentNumberScheduled: 2, numberMisscheduled: 0, desiredNumberScheduled: 2, numberReady: 1, observedGeneration: 1,
      updatedNumberScheduled: 2, numberAvailable: 1, numberUnavailable: 1,
    });
  });
});

describe('controller revisions', () => {
  it('records each template as a ControllerRevision (`kubectl rollout history`), newest highest, and drops unused ones past the limit', async () => {
    const ds = daemonSet();
    ds.spec!.revisionHistoryLimit = 1;
    const { fake, dsc } = await setup([ds, node('n1')]);
    await dsc.reconcile('ns/agent');
    const revs = () => fake.peekAll<ControllerRevision>('controllerrevisions').sort((a, b) => a.revision - b.revision);
    expect(revs().map((r) => [r.metadata.name, r.revision])).toEqual([[`agent-${daemonSetHash(ds)}`, 1]]);
    const r1 = revs()[0]!;
    expect(r1.metadata.labels).toEqual({ app: 'agent', [CONTROLLER_REVISION_HASH_LABEL]: daemonSetHash(ds) });
    expect(r1.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'DaemonSet', name: 'agent', controller: true });
    expect((r1.data as { spec: { template: Record<string, unknown> } }).spec.template).toMatchObject({ $patch: 'replace', metadata: { labels: { app: 'agent' } } });
    const cached = (n: number) => waitFor(() => (dsc as unknown as { revisionInformer: { store: { size(): number } } }).revisionInformer.store.size() === n);
    for (const image of ['img:2', 'img:3']) {
      await cached(revs().length);
      const next = await fake.resource<DaemonSet>('daemonsets').patch('ns', 'agent', { spec: { template: { spec: { containers: [{ name: 'c', image }] } } } }, 'merge');
      await waitFor(() => (dsc as unknown as { dsInformer: { store: { get(k: string): DaemonSet | undefined } } }).dsInformer.store.get('ns/agent')?.metadata.resourceVersion === next.metadata.resourceVersion);
      await waitFor(() => dsc.expectations.satisfied('ns/agent'));
      await dsc.reconcile('ns/agent');
    }
    // Revisions 1..3 made; with limit 1 and no pods of revision 1 left, it went (2 is older but kept: one old revision).
    await cached(revs().length);
    expect(revs().map((r) => r.revision)).toEqual([2, 3]);
  });
});

describe('rolling update', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4'].map((n) => node(n));

  it('deletes old pods while at most maxUnavailable nodes lack an available pod; new ones follow', () => {
    const ds = daemonSet({ image: 'img:2' });
    const old = nodes.map((n) => daemonPod(ds, n.metadata.name!, { hash: 'old' }));
    const now = T0 + 60_000;
    // maxUnavailable 1: one old pod at a time.
    let plan = planDaemonSet(ds, nodes, old, now);
    expect(plan.create).toEqual([]);
    expect(plan.delete.map((d) => `${d.pod.metadata.name}:${d.reason}`)).toEqual(['agent-n1-old:update']);
    // n1's new pod is not ready yet: nothing else goes.
    const step = [daemonPod(ds, 'n1', { ready: false }), ...old.slice(1)];
    plan = planDaemonSet(ds, nodes, step, now);
    expect(plan.delete).toEqual([]);
    // Ready: the next old pod goes.
    plan = planDaemonSet(ds, nodes, [daemonPod(ds, 'n1'), ...old.slice(1)], now);
    expect(plan.delete.map((d) => d.pod.metadata.name)).toEqual(['agent-n2-old']);
    expect(daemonSetStatus(ds, nodes, [daemonPod(ds, 'n1'), ...old.slice(1)], now)).toMatchObject({ updatedNumberScheduled: 1, numberAvailable: 4 });
  });

  it('maxUnavailable 50% replaces two at a time; OnDelete replaces none', () => {
    const ds = daemonSet({ image: 'img:2', strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '50%' } } });
    const old = nodes.map((n) => daemonPod(ds, n.metadata.name!, { hash: 'old' }));
    expect(planDaemonSet(ds, nodes, old, T0).delete).toHaveLength(2);
    const onDelete = daemonSet({ image: 'img:2', strategy: { type: 'OnDelete' } });
    expect(planDaemonSet(onDelete, nodes, old, T0)).toEqual({ create: [], delete: [] });
  });

  it('maxSurge starts the new pod beside the old one and deletes the old one once the new is available', () => {
    const ds = daemonSet({ image: 'img:2', strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } });
    const old = nodes.map((n) => daemonPod(ds, n.metadata.name!, { hash: 'old' }));
    let plan = planDaemonSet(ds, nodes, old, T0);
    expect(plan).toEqual({ create: ['n1'], delete: [] });
    plan = planDaemonSet(ds, nodes, [...old, daemonPod(ds, 'n1', { ready: false })], T0);
    expect(plan).toEqual({ create: [], delete: [] });
    plan = planDaemonSet(ds, nodes, [...old, daemonPod(ds, 'n1')], T0);
    expect(plan.delete.map((d) => d.pod.metadata.name)).toEqual(['agent-n1-old']);
  });
});
