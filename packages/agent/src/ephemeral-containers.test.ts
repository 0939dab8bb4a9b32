import type { EventRecorder } from '@flotilla/client';
import type { Pod } from '@flotilla/api';
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { EPHEMERAL_LABEL, ephemeralContainerStatuses, syncEphemeralContainers } from './ephemeral-containers.js';
import { FakeRuntime } from './runtime/fake-runtime.js';
import type { CreateContainerOptions } from './runtime/types.js';

const pod = (ephemeral: NonNullable<Pod['spec']>['ephemeralContainers']): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
  spec: { containers: [{ name: 'app', image: 'flotilla/busybox:1' }], ephemeralContainers: ephemeral },
});

async function setup() {
  const runtime = new FakeRuntime();
  const created: CreateContainerOptions[] = [];
  const create = runtime.createContainer.bind(runtime);
  runtime.createContainer = async (sb, spec, o) => {
    created.push(o);
    return create(sb, spec, o);
  };
  const events: string[] = [];
  const recorder = { event: (_o: unknown, type: string, reason: string) => events.push(`${type} ${reason}`) } as unknown as EventRecorder;
  const sb = await runtime.ensureSandbox({ uid: 'u1', namespace: 'ns', name: 'p' });
  const app = await runtime.createContainer(sb, { name: 'app', image: 'flotilla/busybox:1' }, { attempt: 0 });
  await runtime.startContainer(app);
  created.length = 0;
  const deps = { runtime, recorder, log: createLogger('test', { level: 'silent' }), nodeIP: '10.0.0.1' };
  return { runtime, created, events, deps, app };
}

describe('syncEphemeralContainers', () => {
  it('starts an ephemeral container once, in the target\'s PID namespace, and never again after it exits', async () => {
    const { runtime, created, events, deps, app } = await setup();
    const p = pod([{ name: 'dbg', image: 'flotilla/busybox:1', targetContainerName: 'app', stdin: true, tty: true }]);
    const r1 = await syncEphemeralContainers(deps, p, await runtime.listContainers({ podUid: 'u1' }), false);
    expect(r1.changed).toBe(true);
    expect(created).toEqual([expect.objectContaining({ attempt: 0, pidNamespaceOf: app, labels: { [EPHEMERAL_LABEL]: 'true' } })]);
    expect(events).toEqual(['Normal Created', 'Normal Started']);
    const dbg = (await runtime.listContainers({ podUid: 'u1' })).find((c) => c.containerName === 'dbg')!;
    expect(dbg.state).toBe('running');
    runtime.exit(dbg.id, 0);
    const r2 = await syncEphemeralContainers(deps, p, await runtime.listContainers({ podUid: 'u1' }), false);
    expect(r2.changed).toBe(false);
    expect(created).toHaveLength(1);
    const statuses = ephemeralContainerStatuses(p, await runtime.listContainers({ podUid: 'u1' }), r2.waiting, new Map());
    expect(statuses).toEqual([expect.objectContaining({ name: 'dbg', ready: false, restartCount: 0, state: { terminated: expect.objectContaining({ exitCode: 0, reason: 'Completed' }) } })]);
  });

  it('waits (and says why) while the target is not running; stops a running one when the pod has finished', async () => {
    const { runtime, created, deps, app } = await setup();
    runtime.exit(app, 1);
    const p = pod([{ name: 'dbg', image: 'flotilla/busybox:1', targetContainerName: 'app' }]);
    const r = await syncEphemeralContainers(deps, p, await runtime.listContainers({ podUid: 'u1' }), false);
    expect(created).toHaveLength(0);
    expect(r.waiting.get('dbg')).toEqual({ reason: 'ContainerCreating', message: 'target container "app" is not running' });
    expect(r.retryInMs).toBeGreaterThan(0);
    expect(ephemeralContainerStatuses(p, await runtime.listContainers({ podUid: 'u1' }), r.waiting, new Map())?.[0]?.state).toEqual({ waiting: r.waiting.get('dbg') });

    const free = pod([{ name: 'free', image: 'flotilla/busybox:1' }]);
    await syncEphemeralContainers(deps, free, await runtime.listContainers({ podUid: 'u1' }), false);
    expect(created).toEqual([expect.not.objectContaining({ pidNamespaceOf: expect.anything() })]);
    const done = await syncEphemeralContainers(deps, free, await runtime.listContainers({ podUid: 'u1' }), true);
    expect(done.changed).toBe(true);
    expect((await runtime.listContainers({ podUid: 'u1' })).find((c) => c.containerName === 'free')?.state).toBe('exited');
  });

  it('a pod without ephemeral containers has no statuses and costs nothing', async () => {
    const { runtime, deps } = await setup();
    const p = pod(undefined);
    expect(await syncEphemeralContainers(deps, p, [], false)).toEqual({ waiting: new Map(), changed: false });
    expect(ephemeralContainerStatuses(p, await runtime.listContainers(), new Map(), new Map())).toBeUndefined();
  });
});
