import type { Pod } from '@flotilla/api';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { RestartBackoff } from './backoff.js';
import { expandVars, resolveEnv } from './container-config.js';
import { nodePodSelection, runHollowNodes } from './hollow-nodes.js';
import { computePodStatus, podPhase, type PodStatusInput } from './pod-status.js';
import { ProbeState } from './prober.js';
import type { ContainerInfo } from './runtime/types.js';

describe('RestartBackoff', () => {
  it('first restart immediate, then initial doubling to the cap', () => {
    let now = 1000;
    const b = new RestartBackoff(10_000, 40_000, () => now);
    expect(b.remaining('k', now)).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      b.next('k');
      delays.push(b.delay('k'));
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, 40_000, 40_000]);
    now += 5000;
    expect(b.remaining('k', 1000)).toBe(35_000);
    b.reset('k');
    expect(b.remaining('k', now)).toBe(0);
  });
});

describe('ProbeState', () => {
  it('liveness starts passing and flips after failureThreshold consecutive failures', () => {
    const s = new ProbeState('liveness', 1, 3);
    expect(s.result).toBe('success');
    expect([s.record(false), s.record(false), s.record(true), s.record(false), s.record(false)]).toEqual([false, false, false, false, false]);
    expect(s.record(false)).toBe(true);
    expect(s.result).toBe('failure');
  });
  it('readiness starts failing and needs successThreshold successes', () => {
    const s = new ProbeState('readiness', 2, 3);
    expect(s.result).toBe('failure');
    expect(s.record(true)).toBe(false);
    expect(s.record(true)).toBe(true);
    expect(s.result).toBe('success');
  });
});

describe('env', () => {
  it('expands $(VAR), keeps unknown references, $$ escapes, and resolves the downward API', () => {
    expect(expandVars('a-$(X)-$(Y)-$$(X)', new Map([['X', '1']]))).toBe('a-1-$(Y)-$(X)');
    const pod: Pod = { metadata: { name: 'p', namespace: 'n', uid: 'u', labels: { app: 'web' } }, spec: { nodeName: 'node1', containers: [] } };
    const env = resolveEnv(
      pod,
      {
        name: 'c',
        env: [
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'URL', value: 'http://$(IP):80/$(NAME)' },
        ],
      },
      '10.0.0.5',
      '192.0.2.1',
    );
    expect(Object.fromEntries(env.map((e) => [e.name, e.value]))).toEqual({ NAME: 'p', IP: '10.0.0.5', HOST: '192.0.2.1', APP: 'web', URL: 'http://10.0.0.5:80/p' });
  });
});

const info = (o: Partial<ContainerInfo>): ContainerInfo => ({
  id: 'id',
  type: 'container',
  podUid: 'u',
  podNamespace: 'n',
  podName: 'p',
  containerName: 'app',
  attempt: 0,
  state: 'running',
  oomKilled: false,
  createdAt: '2024-01-01T00:00:00Z',
  image: 'img',
  imageId: 'sha256:x',
  labels: {},
  ...o,
});

describe('computePodStatus', () => {
  const pod: Pod = { metadata: { name: 'p', namespace: 'n', uid: 'u' }, spec: { restartPolicy: 'Always', containers: [{ name: 'app', image: 'img' }] } };
  const base = (containers: ContainerInfo[], extra: Partial<PodStatusInput> = {}): PodStatusInput => ({
    containers,
    waiting: new Map(),
    terminationMessages: new Map(),
    ready: () => undefined,
    started: () => true,
    hostIP: '192.0.2.1',
    now: '2024-01-01T00:00:10Z',
    ...extra,
  });
  it('running with a dead previous instance: restartCount, lastState with signal, Ready', () => {
    const s = computePodStatus(
      pod,
      base(
        [
          info({ id: 'sb', type: 'sandbox', containerName: 'POD', ip: '10.1.1.1' }),
          info({ id: 'c1', attempt: 1, startedAt: '2024-01-01T00:00:05Z' }),
          info({ id: 'c0', attempt: 0, state: 'exited', exitCode: 137, startedAt: '2024-01-01T00:00:01Z', finishedAt: '2024-01-01T00:00:04Z' }),
        ],
        { terminationMessages: new Map([['c0', 'last words']]) },
      ),
    );
    expect(s.phase).toBe('Running');
    expect(s.podIP).toBe('10.1.1.1');
    const cs = s.containerStatuses![0]!;
    expect(cs).toMatchObject({ ready: true, restartCount: 1, containerID: 'docker://c1', state: { running: { startedAt: '2024-01-01T00:00:05Z' } } });
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 137, signal: 9, reason: 'Error', message: 'last words', containerID: 'docker://c0' });
    expect(s.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });
  it('crash loop counts as stopped: Running with Always, Failed with Never', () => {
    const dead = info({ id: 'c0', state: 'exited', exitCode: 1 });
    const waiting = new Map([['app', { reason: 'CrashLoopBackOff', message: 'back-off 10s' }]]);
    const s = computePodStatus(pod, base([dead], { waiting }));
    expect(s.phase).toBe('Running');
    expect(s.containerStatuses![0]!.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(podPhase({ ...pod, spec: { ...pod.spec!, restartPolicy: 'Never' } }, s.containerStatuses!)).toBe('Failed');
    expect(podPhase({ ...pod, spec: { ...pod.spec!, restartPolicy: 'OnFailure' } }, [{ name: 'app', ready: false, restartCount: 0, image: '', imageID: '', state: { terminated: { exitCode: 0 } } }])).toBe('Succeeded');
  });
  it('nothing created yet: Pending with ContainerCreating', () => {
    const s = computePodStatus(pod, base([]));
    expect(s.phase).toBe('Pending');
    expect(s.containerStatuses![0]!.state?.waiting?.reason).toBe('ContainerCreating');
  });
});

describe('nodePodSelection (a hollow process caches only its own nodes\' pods)', () => {
  const sel = nodePodSelection(new Set(['hollow-1', 'hollow-2']));
  const line = (o: unknown) => JSON.stringify({ type: 'MODIFIED', object: o });
  it('keeps the lines and objects of pods bound to its nodes, and drops the rest unparsed', () => {
    const mine = { metadata: { name: 'a' }, spec: { nodeName: 'hollow-2', containers: [] } };
    const other = { metadata: { name: 'b' }, spec: { nodeName: 'hollow-12', containers: [] } };
    const unbound = { metadata: { name: 'c' }, spec: { containers: [] }, status: { nominatedNodeName: 'hollow-1' } };
    expect([mine, other, unbound].map((o) => sel.line!(line(o)))).toEqual([true, false, false]);
    expect([mine, other, unbound].map((o) => sel.object(o as never))).toEqual([true, false, false]);
  });
  it('never misses its own pod; a label named nodeName may only add a line the object check drops', () => {
    const decoy = { metadata: { name: 'd', labels: { nodeName: 'hollow-1' } }, spec: { nodeName: 'hollow-9', containers: [] } };
    expect(sel.line!(line(decoy))).toBe(true);
    expect(sel.object(decoy as never)).toBe(false);
    const mine = { metadata: { name: 'e', labels: { nodeName: 'hollow-9' } }, spec: { nodeName: 'hollow-1', containers: [] } };
    expect(sel.line!(line(mine))).toBe(true);
    // A quote inside a value is escaped, so it cannot fake the key.
    const escaped = { metadata: { name: 'f', annotations: { x: '"nodeName":"hollow-1"' } }, spec: { containers: [] } };
    expect(sel.line!(line(escaped))).toBe(false);
  });
});

describe('runHollowNodes', () => {
  it('runs many nodes on one shared informer; a bound pod becomes Running on its node', async () => {
    const client = new FakeApiClient();
    const ac = new AbortController();
    try {
      const h = runHollowNodes({ count: 50, client, signal: ac.signal, logger: createLogger('hollow', { level: 'silent' }) });
      await h.ready;
      await client.resource<Pod>('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'default' }, spec: { nodeName: 'hollow-42', containers: [{ name: 'c', image: 'flotilla/busybox:1' }] } });
      const p = await waitFor(() => {
        const x = client.peek<Pod>('pods', 'default', 'x');
        return x?.status?.phase === 'Running' ? x : undefined;
      }, { what: 'hollow pod Running' });
      expect(p.status?.hostIP).toBe('10.250.0.42');
      expect(h.runtimes[42]!.all()).toHaveLength(2);
      expect(h.runtimes[41]!.all()).toHaveLength(0);
      // One pod watch and one Service watch (service variables) shared by all 50 nodes.
      expect(client.openWatches()).toBe(2);
    } finally {
      ac.abort();
    }
  });

  it('with podWatch per-node, each node watches its own pods, as a kubelet does', async () => {
    const client = new FakeApiClient();
    const ac = new AbortController();
    try {
      const h = runHollowNodes({ count: 20, client, signal: ac.signal, podWatch: 'per-node', logger: createLogger('hollow', { level: 'silent' }) });
      await h.ready;
      for (const [name, node] of [['x', 'hollow-7'], ['y', 'hollow-8']] as const)
        await client.resource<Pod>('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'c', image: 'flotilla/busybox:1' }] } });
      for (const name of ['x', 'y']) await waitFor(() => client.peek<Pod>('pods', 'default', name)?.status?.phase === 'Running' || undefined, { what: `${name} Running` });
      expect(client.peek<Pod>('pods', 'default', 'x')?.status?.hostIP).toBe('10.250.0.7');
      expect([h.runtimes[7]!.all().length, h.runtimes[8]!.all().length, h.runtimes[9]!.all().length]).toEqual([2, 2, 0]);
      // A pod watch per node, and the one shared Service watch.
      expect(client.openWatches()).toBe(21);
    } finally {
      ac.abort();
    }
  });
});
