import { ApiError, type Event, type Lease, type Node, type Pod } from '@flotilla/api';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, jitteredInterval, LEASE_RENEW_JITTER } from './agent.js';
import { FakeRuntime, type FakeBehavior } from './runtime/fake-runtime.js';
import { testStateDir } from './testing/state-dir.js';

const stateDir = testStateDir();

const log = createLogger('agent-test', { level: 'silent' });
const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort();
});

function pod(name: string, spec: Partial<Pod['spec']> = {}, node = 'n1'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: node, restartPolicy: 'Always', terminationGracePeriodSeconds: 5, containers: [{ name: 'app', image: 'flotilla/busybox:1' }], ...spec },
  };
}

function start(opts: { runtime?: FakeRuntime; client?: FakeApiClient; backoffInitialMs?: number; heartbeatIntervalMs?: number } = {}) {
  const client = opts.client ?? new FakeApiClient();
  const runtime = opts.runtime ?? new FakeRuntime();
  const agent = new Agent({
    config: { nodeName: 'n1', stateDir, nodeIP: '192.0.2.10', logger: log, relistIntervalMs: 200, heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 100, backoffInitialMs: opts.backoffInitialMs ?? 200, backoffMaxMs: 2000 },
    client,
    runtime,
  });
  const ac = new AbortController();
  stops.push(ac);
  const done = agent.run(ac.signal);
  return { client, runtime, agent, ac, done };
}

const getPod = (c: FakeApiClient, name: string) => c.peek<Pod>('pods', 'default', name);
/** The pod once `pred` holds for it. */
const podWhen = (c: FakeApiClient, name: string, pred: (p: Pod) => boolean, what: string, timeoutMs = 5000) =>
  waitFor(() => {
    const p = getPod(c, name);
    return p && pred(p) ? p : undefined;
  }, { what, timeoutMs });

describe('Agent over FakeRuntime', () => {
  it('registers its Node with capacity, labels, addresses and Ready, and renews its Lease', async () => {
    const { client } = start();
    const node = await waitFor(() => client.peek<Node>('nodes', undefined, 'n1'), { what: 'node' });
    expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux' });
    expect(node.status?.capacity).toMatchObject({ cpu: '4', pods: '110' });
    expect(node.status?.addresses).toContainEqual({ type: 'InternalIP', address: '192.0.2.10' });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const first = await waitFor(() => client.peek<Lease>('leases', 'kube-node-lease', 'n1'), { what: 'lease' });
    await waitFor(() => client.peek<Lease>('leases', 'kube-node-lease', 'n1')!.spec?.renewTime !== first.spec?.renewTime, { what: 'lease renewal' });
  });

  it('a failed Lease renewal is retried after a second or two, not a whole interval later', async () => {
    const client = new FakeApiClient();
    let refused = 0;
    client.prependReactor((a) => {
      if (a.resource === 'leases' && a.verb === 'create' && refused < 2) {
        refused++;
        throw new ApiError('ServiceUnavailable', 'the apiserver is overloaded');
      }
    });
    start({ client, heartbeatIntervalMs: 60_000 });
    await waitFor(() => client.peek<Lease>('leases', 'kube-node-lease', 'n1'), { what: 'the Lease, retried after two refusals', timeoutMs: 10_000 });
    expect(refused).toBe(2);
  });

  it('creates sandbox then containers in order and reports Running with the pod IP, events Created/Started', async () => {
    const { client, runtime } = start();
    await client.resource<Pod>('pods').create(pod('web', { containers: [{ name: 'a', image: 'flotilla/busybox:1' }, { name: 'b', image: 'flotilla/echo:1' }] }));
    const p = await podWhen(client, 'web', (p) => p.status?.phase === 'Running', 'Running');
    expect(p.status?.podIP).toMatch(/^10\.88\.0\./);
    expect(p.status?.hostIP).toBe('192.0.2.10');
    expect(p.status?.containerStatuses?.map((s) => [s.name, s.ready, s.restartCount])).toEqual([['a', true, 0], ['b', true, 0]]);
    expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    // A fresh pod's containers are created while its sandbox starts, then started in spec order once it runs.
    expect(runtime.calls.filter((c) => !c.startsWith('stop'))).toEqual([
      'ensureSandbox default/web 0',
      'createContainer default/web a 0',
      'createContainer default/web b 0',
      'startContainer default/web a 0',
      'startContainer default/web b 0',
    ]);
    await waitFor(() => client.peekAll<Event>('events').some((e) => e.reason === 'Started'), { what: 'Started event' });
  });

  it('a pod that starts is synced once: the runtime events of what its own sync did (its sandbox started) ask for no second sync; a container that dies later does', async () => {
    const { client, agent, runtime } = start();
    const synced: string[] = [];
    const sync = agent.syncer.sync.bind(agent.syncer);
    agent.syncer.sync = (p: Pod) => {
      synced.push(p.metadata.name!);
      return sync(p);
    };
    const q = agent.controller.queue as unknown as { len(): number; processing: Set<string> };
    const idle = () => waitFor(() => (q.len() === 0 && q.processing.size === 0 ? true : undefined), { what: 'the pod workers idle' });
    await client.resource<Pod>('pods').create(pod('once'));
    await podWhen(client, 'once', (p) => p.status?.phase === 'Running', 'Running');
    await idle();
    expect(synced).toEqual(['once']);
    const id = getPod(client, 'once')!.status!.containerStatuses![0]!.containerID!.replace(/^[a-z]+:\/\//, '');
    runtime.exit(id, 1);
    await podWhen(client, 'once', (p) => p.status?.containerStatuses?.[0]?.restartCount === 1, 'restarted');
    expect(synced.length).toBeGreaterThan(1);
  });

  it('creates a container whose environment takes the pod IP only once the sandbox runs, with that IP', async () => {
    const { client, runtime } = start();
    const env = [{ name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }];
    await client.resource<Pod>('pods').create(pod('ip', { containers: [{ name: 'a', image: 'flotilla/busybox:1' }, { name: 'b', image: 'flotilla/busybox:1', env }] }));
    const p = await podWhen(client, 'ip', (p) => p.status?.phase === 'Running', 'Running');
    expect(runtime.calls.filter((c) => !c.startsWith('stop'))).toEqual([
      'ensureSandbox default/ip 0',
      'createContainer default/ip a 0',
      'startContainer default/ip a 0',
      'createContainer default/ip b 0',
      'startContainer default/ip b 0',
    ]);
    const b = runtime.all().find((c) => c.podName === 'ip' && c.containerName === 'b')!;
    expect(runtime.envOf(b.id)).toMatchObject({ MY_IP: p.status?.podIP });
  });

  it('a container with a readiness probe is never reported Ready before the probe has passed', async () => {
    let passing = false;
    const runtime = new FakeRuntime({ execHandler: () => ({ exitCode: passing ? 0 : 1 }) });
    const { client } = start({ runtime });
    const probe = { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 };
    await client.resource<Pod>('pods').create(pod('gated', { containers: [{ name: 'app', image: 'flotilla/busybox:1', readinessProbe: probe }] }));
    await podWhen(client, 'gated', (p) => p.status?.phase === 'Running', 'Running');
    await waitFor(() => client.peekAll<Event>('events').some((e) => e.reason === 'Unhealthy'), { what: 'a failed readiness probe' });
    const statusWrites = () => client.actions.filter((a) => a.resource === 'pods' && a.subresource === 'status' && a.name === 'gated');
    const readyIn = (a: { object?: unknown }) => ((a.object as Pod).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    expect(statusWrites().length).toBeGreaterThan(0);
    expect(statusWrites().filter(readyIn)).toEqual([]);
    passing = true;
    await podWhen(client, 'gated', (p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 'Ready once the probe passes');
  });

  it('restarts a killed container at once, then backs off with CrashLoopBackOff and a growing delay', async () => {
    const behavior = (_i: unknown, spec: { name: string }): FakeBehavior | undefined => (spec.name === 'crash' ? { exitAfterMs: 20, exitCode: 1, output: 'boom: config missing\n' } : undefined);
    const { client, agent } = start({ runtime: new FakeRuntime({ behavior }), backoffInitialMs: 300 });
    await client.resource<Pod>('pods').create(pod('c1', { containers: [{ name: 'crash', image: 'flotilla/busybox:1', terminationMessagePolicy: 'FallbackToLogsOnError' }] }));
    const p = await podWhen(client, 'c1', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff', 5000);
    const cs = p.status!.containerStatuses![0]!;
    expect(cs.restartCount).toBeGreaterThanOrEqual(1);
    expect(cs.state?.waiting?.message).toMatch(/^back-off \d+s restarting failed container=crash pod=c1_default\(/);
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error', message: 'boom: config missing' });
    const uid = p.metadata.uid!;
    await waitFor(() => (getPod(client, 'c1')?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 3, { what: 'three restarts', timeoutMs: 8000 });
    expect(agent.syncer.backoffDelay(uid, 'crash')).toBeGreaterThanOrEqual(1200);
    expect(p.status?.phase).toBe('Running');
  });

  it('restartPolicy Never: a failed container makes the pod Failed and is not restarted', async () => {
    const runtime = new FakeRuntime({ behavior: () => ({ exitAfterMs: 10, exitCode: 3 }) });
    const { client } = start({ runtime });
    await client.resource<Pod>('pods').create(pod('once', { restartPolicy: 'Never' }));
    const p = await podWhen(client, 'once', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(p.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(runtime.calls.filter((c) => c.startsWith('createContainer'))).toHaveLength(1);
  });

  it('reports OOMKilled', async () => {
    const runtime = new FakeRuntime({ behavior: () => ({ exitAfterMs: 10, exitCode: 137, oomKilled: true }) });
    const { client } = start({ runtime, backoffInitialMs: 5000 });
    await client.resource<Pod>('pods').create(pod('oom'));
    await waitFor(() => getPod(client, 'oom')?.status?.containerStatuses?.[0]?.lastState?.terminated?.reason === 'OOMKilled', { what: 'OOMKilled' });
  });

  it('a missing image: ErrImagePull then ImagePullBackOff with the engine message, events Failed/BackOff', async () => {
    const { client } = start();
    await client.resource<Pod>('pods').create(pod('img', { containers: [{ name: 'app', image: 'nope/missing:1', imagePullPolicy: 'IfNotPresent' }] }));
    const w = await waitFor(() => getPod(client, 'img')?.status?.containerStatuses?.[0]?.state?.waiting, { what: 'waiting' });
    expect(['ErrImagePull', 'ImagePullBackOff']).toContain(w.reason);
    expect(w.message).toContain('nope/missing:1');
    await waitFor(() => getPod(client, 'img')?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff', { what: 'ImagePullBackOff' });
    await waitFor(() => client.peekAll<Event>('events').some((e) => e.reason === 'Failed' && e.message?.includes('Failed to pull image')), { what: 'Failed event' });
  });

  it('host port clash is reported on the pod, the other pod keeps running', async () => {
    const { client, runtime } = start();
    await client.resource<Pod>('pods').create(pod('p1', { containers: [{ name: 'app', image: 'flotilla/echo:1', ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'TCP' }] }] }));
    await waitFor(() => getPod(client, 'p1')?.status?.phase === 'Running', { what: 'p1 running' });
    await client.resource<Pod>('pods').create(pod('p2', { containers: [{ name: 'app', image: 'flotilla/echo:1', ports: [{ containerPort: 8080, hostPort: 18080, protocol: 'TCP' }] }] }));
    const p2 = await podWhen(client, 'p2', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'HostPortConflict', 'conflict');
    expect(p2.status?.conditions?.find((c) => c.type === 'PodReadyToStartContainers')).toMatchObject({ status: 'False', reason: 'HostPortConflict' });
    expect(p2.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain('18080');
    expect(getPod(client, 'p1')?.status?.phase).toBe('Running');
    expect(runtime.all().filter((c) => c.podName === 'p1' && c.state === 'running')).toHaveLength(2);
  });

  it('deletion: stops containers with the grace period, removes the sandbox, then deletes the pod with uid precondition', async () => {
    const { client, runtime } = start();
    await client.resource<Pod>('pods').create(pod('del'));
    const p = await podWhen(client, 'del', (p) => p.status?.phase === 'Running', 'running');
    runtime.calls.length = 0;
    // What the apiserver does on a graceful DELETE (the fake deletes at once): mark the pod.
    client.seed({ ...getPod(client, 'del')!, metadata: { ...getPod(client, 'del')!.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 7 } });
    await waitFor(() => !getPod(client, 'del'), { what: 'pod deleted' });
    expect(runtime.calls).toEqual(['stopContainer default/del app 7', 'removeContainer default/del app 0', 'removeContainer default/del POD 0']);
    const del = client.actionsOf('delete', 'pods').at(-1)!;
    expect(del.object).toMatchObject({ gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } });
  });

  it('a restarted agent adopts running containers without restarting them', async () => {
    const runtime = new FakeRuntime();
    const client = new FakeApiClient();
    const first = start({ runtime, client });
    await client.resource<Pod>('pods').create(pod('keep'));
    await waitFor(() => getPod(client, 'keep')?.status?.phase === 'Running', { what: 'running' });
    const ids = runtime.all().map((c) => c.id).sort();
    first.ac.abort();
    await first.done;
    runtime.calls.length = 0;
    const second = start({ runtime, client });
    await second.agent.whenReady();
    await new Promise((r) => setTimeout(r, 600)); // two relists
    expect(runtime.calls).toEqual([]);
    expect(runtime.all().map((c) => c.id).sort()).toEqual(ids);
    expect(getPod(client, 'keep')?.status?.phase).toBe('Running');
  });

  it('removes containers of pods that no longer exist', async () => {
    const runtime = new FakeRuntime();
    const sb = await runtime.ensureSandbox({ uid: 'ghost-uid', namespace: 'default', name: 'ghost' });
    await runtime.startContainer(await runtime.createContainer(sb, { name: 'app', image: 'flotilla/busybox:1' }, { attempt: 0 }));
    start({ runtime });
    await waitFor(() => runtime.all().length === 0, { what: 'orphans removed', timeoutMs: 3000 });
  });

  it('does not take the containers of a pod that arrived while the runtime was listing for orphans', async () => {
    const runtime = new FakeRuntime();
    const { client, agent } = start({ runtime });
    await agent.whenReady();
    // The relist's listing of every container answers late, as a busy dockerd does; a pod's own listings do not wait.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = 0;
    let answered = 0;
    const list = runtime.listContainers.bind(runtime);
    runtime.listContainers = async (filter = {}) => {
      if (filter.podUid || filter.type) return list(filter);
      held++;
      await gate;
      answered++;
      return list(filter);
    };
    await waitFor(() => held > 0, { what: 'a relist waiting on the runtime' });
    await client.resource<Pod>('pods').create(pod('late'));
    const running = await podWhen(client, 'late', (p) => p.status?.phase === 'Running', 'Running');
    const uid = running.metadata.uid!;
    const ids = runtime.all().filter((c) => c.podUid === uid).map((c) => c.id).sort();
    expect(ids).toHaveLength(2); // its sandbox and its container
    release();
    await waitFor(() => answered >= 3, { what: 'two more relists' });
    expect(runtime.calls.filter((c) => c.startsWith('remove'))).toEqual([]);
    expect(runtime.all().filter((c) => c.podUid === uid).map((c) => c.id).sort()).toEqual(ids);
    expect(getPod(client, 'late')?.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });
});

describe('Lease renewal jitter', () => {
  it('spreads intervals evenly around the heartbeat interval, well inside the Lease duration', () => {
    const ms = 60_000;
    expect(jitteredInterval(ms, LEASE_RENEW_JITTER, () => 0)).toBe(54_000);
    expect(jitteredInterval(ms, LEASE_RENEW_JITTER, () => 0.5)).toBe(60_000);
    expect(jitteredInterval(ms, LEASE_RENEW_JITTER, () => 0.999999)).toBeLessThan(66_000);
    expect(jitteredInterval(ms, 0, () => 0)).toBe(ms);
    // The mean, hence the writes per second, is the interval's.
    const n = 10_000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += jitteredInterval(ms, LEASE_RENEW_JITTER, () => (i + 0.5) / n);
    expect(sum / n).toBeCloseTo(ms, 0);
  });
});
