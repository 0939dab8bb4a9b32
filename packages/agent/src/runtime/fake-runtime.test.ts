import { describe, expect, it } from 'vitest';
import { FakeRuntime } from './fake-runtime.js';
import { isRuntimeError, type RuntimeEvent } from './types.js';

const pod = (name: string, uid = `uid-${name}`) => ({ uid, namespace: 'default', name, terminationGracePeriodSeconds: 30 });

describe('FakeRuntime', () => {
  it('with record false (hollow nodes) keeps no call log, yet answers for the configs it was handed', async () => {
    const rt = new FakeRuntime({ record: false });
    const sb = await rt.ensureSandbox(pod('web'));
    const id = await rt.createContainer(sb, { name: 'app', image: 'flotilla/busybox:1' }, { attempt: 0, env: [{ name: 'A', value: '1' }] });
    await rt.startContainer(id);
    await rt.stopContainer(id, 5);
    await rt.removeSandbox('uid-web');
    expect(rt.calls).toEqual([]);
    expect(rt.sandboxConfig('uid-web')).toMatchObject({ name: 'web' });
    // The default records every mutating call.
    const recording = new FakeRuntime();
    await recording.startContainer(await recording.createContainer(await recording.ensureSandbox(pod('db')), { name: 'app', image: 'flotilla/busybox:1' }, { attempt: 0 }));
    expect(recording.calls).toEqual(['ensureSandbox default/db 0', 'createContainer default/db app 0', 'startContainer default/db app 0']);
  });

  it('runs a pod and reports container deaths as events', async () => {
    const rt = new FakeRuntime();
    const ac = new AbortController();
    const events: RuntimeEvent[] = [];
    const since = new Date(Date.now() - 1);
    const sb = await rt.ensureSandbox(pod('web'));
    expect(sb).toMatchObject({ created: true, attempt: 0, podName: 'web', terminationGracePeriodSeconds: 30 });
    expect(sb.ip).toMatch(/^10\.88\.0\.\d+$/);
    expect(await rt.ensureSandbox(pod('web'))).toMatchObject({ id: sb.id, created: false });
    const id = await rt.createContainer(sb, { name: 'app', image: 'flotilla/busybox:1' }, { attempt: 0 });
    await rt.startContainer(id);
    const pump = (async () => {
      for await (const e of rt.events(ac.signal, since)) {
        events.push(e);
        if (e.type === 'die') ac.abort();
      }
    })();
    rt.kill(id);
    await pump;
    expect(events.map((e) => `${e.type} ${e.containerName}`)).toEqual(['start POD', 'start app', 'die app']);
    expect(events[2]?.exitCode).toBe(137);
    expect(await rt.inspect(id)).toMatchObject({ state: 'exited', exitCode: 137 });
    expect(rt.calls).toContain('createContainer default/web app 0');
  });

  it('applies behaviours, OOM kills and logs', async () => {
    const rt = new FakeRuntime({ behavior: (_i, spec) => (spec.name === 'job' ? { exitAfterMs: 5, exitCode: 0, output: 'a\nb\nc\n' } : undefined) });
    const sb = await rt.ensureSandbox(pod('p'));
    const job = await rt.createContainer(sb, { name: 'job', image: 'flotilla/busybox:1' }, { attempt: 0 });
    await rt.startContainer(job);
    const deadline = Date.now() + 2000;
    while ((await rt.inspect(job)).state !== 'exited' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await rt.inspect(job)).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(await rt.tailOutput(job, 2)).toBe('b\nc\n');

    const hog = await rt.createContainer(sb, { name: 'hog', image: 'flotilla/busybox:1' }, { attempt: 0 });
    await rt.startContainer(hog);
    rt.exit(hog, 137, { oomKilled: true });
    expect(await rt.inspect(hog)).toMatchObject({ oomKilled: true, exitCode: 137 });
  });

  it('reports hostPort clashes, missing images and attempt clashes', async () => {
    const rt = new FakeRuntime();
    await rt.ensureSandbox({ ...pod('a'), ports: [{ containerPort: 80, hostPort: 8080 }] });
    await expect(rt.ensureSandbox({ ...pod('b'), ports: [{ containerPort: 80, hostPort: 8080 }] })).rejects.toSatisfy((e) => isRuntimeError(e, 'HostPortConflict'));
    await expect(rt.ensureImage('nope:1', 'IfNotPresent')).rejects.toSatisfy((e) => isRuntimeError(e, 'ErrImagePull'));
    await expect(rt.ensureImage('nope:1', 'Never')).rejects.toSatisfy((e) => isRuntimeError(e, 'ErrImageNeverPull'));
    const sb = await rt.ensureSandbox(pod('a'));
    await rt.createContainer(sb, { name: 'x', image: 'flotilla/busybox:1' }, { attempt: 0 });
    await expect(rt.createContainer(sb, { name: 'x', image: 'flotilla/busybox:1' }, { attempt: 0 })).rejects.toSatisfy((e) => isRuntimeError(e, 'AlreadyExists'));
    await expect(rt.createContainer(sb, { name: 'y', image: 'missing:1' }, { attempt: 0 })).rejects.toSatisfy((e) => isRuntimeError(e, 'ErrImagePull'));
  });

  it('kills a pod\'s containers with its sandbox and replaces the sandbox with a new attempt', async () => {
    const rt = new FakeRuntime();
    const sb = await rt.ensureSandbox(pod('p'));
    const id = await rt.createContainer(sb, { name: 'app', image: 'flotilla/busybox:1' }, { attempt: 0 });
    await rt.startContainer(id);
    rt.kill(sb.id);
    expect((await rt.inspect(id)).state).toBe('exited');
    const next = await rt.ensureSandbox(pod('p'));
    expect(next).toMatchObject({ created: true, attempt: 1 });
    await rt.removeSandbox('uid-p');
    expect(await rt.listContainers({ podUid: 'uid-p' })).toEqual([]);
  });
});
