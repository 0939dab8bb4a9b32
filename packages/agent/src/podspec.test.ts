/**
 * Pod fields the agent enforces, over the FakeRuntime: init containers,
 * lifecycle hooks, securityContext, activeDeadlineSeconds, startupProbe.
 */
import type { Event, Pod } from '@flotilla/api';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { FakeRuntime, type FakeRuntimeOptions } from './runtime/fake-runtime.js';
import { testStateDir } from './testing/state-dir.js';

const stateDir = testStateDir();

const log = createLogger('podspec-test', { level: 'silent' });
const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort();
});

function pod(name: string, spec: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: 'n1', restartPolicy: 'Always', terminationGracePeriodSeconds: 5, containers: [{ name: 'app', image: 'flotilla/busybox:1' }], ...spec },
  };
}

function start(opts: FakeRuntimeOptions = {}) {
  const client = new FakeApiClient();
  const runtime = new FakeRuntime(opts);
  const agent = new Agent({
    config: { nodeName: 'n1', stateDir, nodeIP: '192.0.2.10', logger: log, relistIntervalMs: 200, heartbeatIntervalMs: 100, backoffInitialMs: 200, backoffMaxMs: 2000 },
    client,
    runtime,
  });
  const ac = new AbortController();
  stops.push(ac);
  void agent.run(ac.signal);
  return { client, runtime };
}

const podWhen = (c: FakeApiClient, name: string, pred: (p: Pod) => boolean, what: string, timeoutMs = 5000) =>
  waitFor(() => {
    const p = c.peek<Pod>('pods', 'default', name);
    return p && pred(p) ? p : undefined;
  }, { what, timeoutMs });
/** What the apiserver does on a graceful DELETE (the fake deletes at once): mark the pod. */
function markDeleted(c: FakeApiClient, name: string): void {
  const p = c.peek<Pod>('pods', 'default', name)!;
  c.seed({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 5 } });
}
const events = (c: FakeApiClient, reason: string) => c.peekAll<Event>('events').filter((e) => e.reason === reason);

describe('init containers', () => {
  it('run one at a time, each to completion, before the app container; Initialized and Pending meanwhile', async () => {
    // Init containers exit 0 shortly after start; the app runs on.
    const { client, runtime } = start({ behavior: (info) => (info.containerName.startsWith('init') ? { exitAfterMs: 100, exitCode: 0 } : undefined) });
    await client.resource<Pod>('pods').create(pod('p', { initContainers: [{ name: 'init-a', image: 'flotilla/busybox:1' }, { name: 'init-b', image: 'flotilla/busybox:1' }] }));
    const pending = await podWhen(client, 'p', (p) => p.status?.initContainerStatuses?.[0]?.state?.running !== undefined, 'init-a running');
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.status?.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init-a init-b]' });
    expect(pending.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(pending.status?.initContainerStatuses?.[1]?.state?.waiting?.reason).toBe('PodInitializing');
    const p = await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    expect(p.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
    expect(p.status?.initContainerStatuses?.map((s) => [s.name, s.state?.terminated?.reason, s.ready])).toEqual([['init-a', 'Completed', true], ['init-b', 'Completed', true]]);
    const starts = runtime.calls.filter((c) => c.startsWith('startContainer'));
    expect(starts).toEqual(['startContainer default/p init-a 0', 'startContainer default/p init-b 0', 'startContainer default/p app 0']);
  });

  it('an app container restart does not rerun them', async () => {
    const { client, runtime } = start({ behavior: (info) => (info.containerName === 'init' ? { exitAfterMs: 50, exitCode: 0 } : undefined) });
    await client.resource<Pod>('pods').create(pod('p', { initContainers: [{ name: 'init', image: 'flotilla/busybox:1' }] }));
    await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    const app = runtime.all().find((c) => c.containerName === 'app' && c.state === 'running')!;
    runtime.kill(app.id);
    await podWhen(client, 'p', (p) => p.status?.containerStatuses?.[0]?.restartCount === 1 && p.status.containerStatuses[0].state?.running !== undefined, 'app restarted');
    expect(runtime.calls.filter((c) => c.startsWith('startContainer default/p init'))).toHaveLength(1);
  });

  it('a failing one is retried with the crash back-off and blocks the app (Init:CrashLoopBackOff)', async () => {
    const { client, runtime } = start({ behavior: (info) => (info.containerName === 'init' ? { exitAfterMs: 20, exitCode: 3 } : undefined) });
    await client.resource<Pod>('pods').create(pod('p', { initContainers: [{ name: 'init', image: 'flotilla/busybox:1' }] }));
    const p = await podWhen(client, 'p', (p) => p.status?.initContainerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff');
    expect(p.status?.phase).toBe('Pending');
    expect(p.status?.initContainerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(p.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(runtime.calls.some((c) => c.includes(' app '))).toBe(false);
  });

  it('with restartPolicy Never a failing one fails the pod and the app never starts', async () => {
    const { client, runtime } = start({ behavior: (info) => (info.containerName === 'init' ? { exitAfterMs: 20, exitCode: 1 } : undefined) });
    await client.resource<Pod>('pods').create(pod('p', { restartPolicy: 'Never', initContainers: [{ name: 'init', image: 'flotilla/busybox:1' }] }));
    const p = await podWhen(client, 'p', (p) => p.status?.phase === 'Failed', 'Failed');
    expect(p.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(runtime.calls.some((c) => c.includes(' app '))).toBe(false);
  });

  it('a sidecar (restartPolicy Always) keeps running beside the app and the next init container waits for it', async () => {
    const { client, runtime } = start({ behavior: (info) => (info.containerName === 'init' ? { exitAfterMs: 50, exitCode: 0 } : undefined) });
    await client.resource<Pod>('pods').create(pod('p', { initContainers: [{ name: 'side', image: 'flotilla/busybox:1', restartPolicy: 'Always' }, { name: 'init', image: 'flotilla/busybox:1' }] }));
    const p = await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    expect(p.status?.initContainerStatuses?.[0]?.state?.running).toBeDefined();
    expect(runtime.calls.filter((c) => c.startsWith('startContainer'))).toEqual(['startContainer default/p side 0', 'startContainer default/p init 0', 'startContainer default/p app 0']);
  });
});

describe('lifecycle hooks', () => {
  it('postStart runs right after the start; preStop runs before the stop on delete', async () => {
    const { client, runtime } = start({ recordExec: true });
    const lifecycle = { postStart: { exec: { command: ['touch', '/started'] } }, preStop: { exec: { command: ['sh', '-c', 'echo bye'] } } };
    await client.resource<Pod>('pods').create(pod('p', { containers: [{ name: 'app', image: 'flotilla/busybox:1', lifecycle }] }));
    await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    markDeleted(client, 'p');
    await waitFor(() => !client.peek<Pod>('pods', 'default', 'p'), { what: 'pod gone' });
    const relevant = runtime.calls.filter((c) => / app /.test(c) && /^(startContainer|exec|stopContainer)/.test(c));
    expect(relevant).toEqual(['startContainer default/p app 0', 'exec default/p app touch /started', 'exec default/p app sh -c echo bye', expect.stringMatching(/^stopContainer default\/p app \d+$/)]);
  });

  it('a failing postStart hook kills the container (FailedPostStartHook) and the restart policy brings it back', async () => {
    const { client, runtime } = start({ execHandler: (_i, cmd) => ({ exitCode: cmd[0] === 'false' ? 1 : 0, output: 'nope' }) });
    await client.resource<Pod>('pods').create(pod('p', { containers: [{ name: 'app', image: 'flotilla/busybox:1', lifecycle: { postStart: { exec: { command: ['false'] } } } }] }));
    await waitFor(() => events(client, 'FailedPostStartHook').length > 0, { what: 'FailedPostStartHook' });
    expect(events(client, 'FailedPostStartHook')[0]?.message).toMatch(/^Exec lifecycle hook \(\["false"\]\) for Container "app" in Pod "p_default\(.*\)" failed - error: command 'false' exited with 1: nope/);
    await waitFor(() => runtime.calls.filter((c) => c.startsWith('startContainer default/p app')).length >= 2, { what: 'restarted' });
  });

  it('a failing preStop hook is an Event and the container is stopped anyway', async () => {
    const { client, runtime } = start({ execHandler: () => ({ exitCode: 2 }) });
    await client.resource<Pod>('pods').create(pod('p', { containers: [{ name: 'app', image: 'flotilla/busybox:1', lifecycle: { preStop: { exec: { command: ['x'] } } } }] }));
    await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    markDeleted(client, 'p');
    await waitFor(() => !client.peek<Pod>('pods', 'default', 'p'), { what: 'pod gone' });
    expect(events(client, 'FailedPreStopHook')).toHaveLength(1);
    expect(runtime.calls.some((c) => c.startsWith('stopContainer default/p app'))).toBe(true);
  });
});

describe('securityContext', () => {
  it('merges pod and container levels (container wins) into the runtime options', async () => {
    const { client, runtime } = start();
    await client.resource<Pod>('pods').create(
      pod('p', {
        securityContext: { runAsUser: 1000, runAsGroup: 2000, supplementalGroups: [5], fsGroup: 7, sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '0' }] },
        shareProcessNamespace: true,
        containers: [{ name: 'app', image: 'flotilla/busybox:1', securityContext: { runAsUser: 1234, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } } }],
      }),
    );
    await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    const app = runtime.all().find((c) => c.containerName === 'app')!;
    expect(runtime.optionsOf(app.id)).toMatchObject({
      security: { runAsUser: 1234, runAsGroup: 2000, supplementalGroups: [5, 7], fsGroup: 7, readOnlyRootFilesystem: true, noNewPrivileges: true, capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'] },
      pidNamespace: 'pod',
    });
    expect(runtime.sandboxConfig(app.podUid)?.sysctls).toEqual({ 'net.ipv4.tcp_syncookies': '0' });
  });

  it('hostAliases, hostname and subdomain reach the sandbox', async () => {
    const { client, runtime } = start();
    await client.resource<Pod>('pods').create(pod('p', { hostname: 'web', subdomain: 'be', setHostnameAsFQDN: true, hostAliases: [{ ip: '10.1.2.3', hostnames: ['db'] }] }));
    const p = await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    expect(runtime.sandboxConfig(p.metadata.uid!)).toMatchObject({ hostname: 'web.be.default.svc.cluster.local', domainname: 'be.default.svc.cluster.local', extraHosts: ['db:10.1.2.3'] });
  });

  it('runAsNonRoot refuses an image that would run as root (CreateContainerConfigError), allows a numeric non-root USER', async () => {
    const { client } = start({ imageUsers: { 'flotilla/echo:1': '1001' } });
    await client.resource<Pod>('pods').create(pod('root', { securityContext: { runAsNonRoot: true } }));
    const p = await podWhen(client, 'root', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError', 'refused');
    expect(p.status?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(/^container has runAsNonRoot and image will run as root \(pod: "root_default\(.*\)", container: app\)$/);
    await client.resource<Pod>('pods').create(pod('uid0', { containers: [{ name: 'app', image: 'flotilla/busybox:1', securityContext: { runAsNonRoot: true, runAsUser: 0 } }] }));
    await podWhen(client, 'uid0', (p) => /runAsUser breaks non-root policy/.test(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? ''), 'uid 0 refused');
    await client.resource<Pod>('pods').create(pod('ok', { securityContext: { runAsNonRoot: true }, containers: [{ name: 'app', image: 'flotilla/echo:1' }] }));
    await podWhen(client, 'ok', (p) => p.status?.phase === 'Running', 'non-root image runs');
  });
});

describe('readinessGates', () => {
  it('keep the pod not Ready until their conditions are True', async () => {
    const { client } = start();
    await client.resource<Pod>('pods').create(pod('p', { readinessGates: [{ conditionType: 'example.com/lb-ready' }] }));
    await podWhen(client, 'p', (p) => p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'ContainersReady')?.status === 'True', 'containers ready');
    const gated = await podWhen(client, 'p', (x) => x.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'ReadinessGatesNotReady', 'gate missing');
    expect(gated.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe('corresponding condition of pod readiness gate "example.com/lb-ready" does not exist.');
    // A controller sets the gate's condition through the status; the agent keeps it and turns Ready.
    const cur = client.peek<Pod>('pods', 'default', 'p')!;
    client.seed({ ...cur, status: { ...cur.status, conditions: [...(cur.status?.conditions ?? []), { type: 'example.com/lb-ready', status: 'True' }] } });
    await podWhen(client, 'p', (x) => x.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 'Ready');
  });
});

describe('activeDeadlineSeconds', () => {
  it('stops the containers and fails the pod with DeadlineExceeded and an Event', async () => {
    const { client, runtime } = start();
    await client.resource<Pod>('pods').create(pod('p', { activeDeadlineSeconds: 1 }));
    await podWhen(client, 'p', (p) => p.status?.phase === 'Running', 'Running');
    const p = await podWhen(client, 'p', (p) => p.status?.phase === 'Failed', 'Failed', 5000);
    expect(p.status).toMatchObject({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(events(client, 'DeadlineExceeded')).not.toHaveLength(0);
    await waitFor(() => runtime.all().every((c) => c.state !== 'running'), { what: 'everything stopped' });
    // It stays failed: nothing restarts.
    await new Promise((r) => setTimeout(r, 400));
    expect(client.peek<Pod>('pods', 'default', 'p')?.status?.phase).toBe('Failed');
    expect(runtime.calls.filter((c) => c.startsWith('startContainer'))).toHaveLength(1);
  });
});
