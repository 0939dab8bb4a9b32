/**
 * DockerRuntime against the real Docker engine (DOCKER_HOST or the default
 * socket), with the images from scripts/images.sh. Each test uses its own pod
 * uids and removes every container it made, even when it fails.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import { DockerRuntime, LABELS, isRuntimeError, type ContainerInfo, type PodSandboxConfig, type RuntimeEvent, type Sandbox } from '@flotilla/agent';

const IMAGES = ['flotilla/pause:1', 'flotilla/busybox:1', 'flotilla/echo:1'];
const run = promisify(execFile);

let stateDir: string;
let rt: DockerRuntime;
const uids: string[] = [];
// Each run owns its containers through the node label, as an agent does.
const nodeName = `rt-node-${randomBytes(4).toString('hex')}`;

/** A pod config with a uid unique to this run, registered for cleanup. */
function pod(name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const uid = `it-${randomBytes(6).toString('hex')}`;
  uids.push(uid);
  return { uid, namespace: 'rt-test', name, terminationGracePeriodSeconds: 5, ...extra };
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function startApp(sb: Sandbox, name: string, image: string, command?: string[], extra: Parameters<DockerRuntime['createContainer']>[2] = { attempt: 0 }): Promise<string> {
  const spec = command ? { name, image, command } : { name, image };
  const id = await rt.createContainer(sb, spec, extra);
  await rt.startContainer(id);
  return id;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of stream) s += chunk.toString();
  return s;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'flotilla-rt-'));
  rt = new DockerRuntime({ host: process.env.DOCKER_HOST, stateDir, nodeName, pullTimeoutMs: 10_000, logger: createLogger('agent-runtime-test', { level: 'silent' }) });
  const missing: string[] = [];
  for (const image of IMAGES) if (!(await rt.imageExists(image))) missing.push(image);
  if (missing.length) throw new Error(`missing images ${missing.join(', ')}: run scripts/images.sh first`);
});

afterEach(async () => {
  for (const uid of uids.splice(0)) await rt.removeSandbox(uid).catch(() => undefined);
});

afterAll(async () => {
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('DockerRuntime', () => {
  it('runs an app container inside the sandbox network namespace, reachable at the pod IP', async () => {
    const p = pod('web');
    const sb = await rt.ensureSandbox(p);
    expect(sb.created).toBe(true);
    expect(sb.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // Idempotent: a second call finds the running sandbox.
    const again = await rt.ensureSandbox(p);
    expect(again).toMatchObject({ id: sb.id, ip: sb.ip, created: false });

    const id = await startApp(sb, 'echo', 'flotilla/echo:1', undefined, {
      attempt: 0,
      env: [
        { name: 'POD_NAME', value: 'web' },
        { name: 'NODE_NAME', value: 'node-a' },
        { name: 'MESSAGE', value: 'hello from the test' },
      ],
    });
    const body = await waitFor('echo answer on the pod IP', async () => {
      const res = await fetch(`http://${sb.ip}:8080/some/path`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? ((await res.json()) as Record<string, string>) : undefined;
    });
    expect(body).toMatchObject({ pod: 'web', node: 'node-a', path: '/some/path', message: 'hello from the test' });

    // The app shares the sandbox's hostname (UTS) and network.
    const host = await rt.exec(id, ['hostname'], 5000);
    expect(host.output.trim()).toBe('web');

    const info = await rt.inspect(id);
    expect(info).toMatchObject({ type: 'container', podUid: p.uid, podNamespace: 'rt-test', podName: 'web', containerName: 'echo', attempt: 0, state: 'running', image: 'flotilla/echo:1', terminationGracePeriodSeconds: 5 });
    expect(info.imageId).toMatch(/^sha256:/);
    expect(info.labels[LABELS.type]).toBe('container');
    const sandboxInfo = await rt.inspect(sb.id);
    expect(sandboxInfo).toMatchObject({ type: 'sandbox', containerName: 'POD', ip: sb.ip, state: 'running' });
  });

  it('reports a killed container through the event stream while the sandbox stays up', async () => {
    const p = pod('killme');
    const sb = await rt.ensureSandbox(p);
    const ac = new AbortController();
    const seen: RuntimeEvent[] = [];
    const since = new Date(Date.now() - 1000);
    const pump = (async () => {
      for await (const e of rt.events(ac.signal, since)) seen.push(e);
    })();
    try {
      const id = await startApp(sb, 'sleeper', 'flotilla/busybox:1', ['sleep', '3600']);
      await waitFor('start event', () => seen.find((e) => e.id === id && e.type === 'start'));
      const t0 = Date.now();
      await rt.docker.getContainer(id).kill();
      const die = await waitFor('die event', () => seen.find((e) => e.id === id && e.type === 'die'), 5000, 10);
      const latency = Date.now() - t0;
      expect(die).toMatchObject({ podUid: p.uid, podName: 'killme', containerName: 'sleeper', containerType: 'container', exitCode: 137 });
      expect(latency).toBeLessThan(2000);
      console.log(`[runtime] die event ${latency} ms after docker kill`);
      expect((await rt.inspect(sb.id)).state).toBe('running');
      expect(await rt.inspect(id)).toMatchObject({ state: 'exited', exitCode: 137, oomKilled: false });
    } finally {
      ac.abort();
      await pump;
    }
  });

  it('lists a container changed behind its back (no event consumer) with its new state, and one gone not at all', async () => {
    const p = pod('behind');
    const sb = await rt.ensureSandbox(p);
    const id = await startApp(sb, 'sleeper', 'flotilla/busybox:1', ['sleep', '3600']);
    // Listed (and its inspect answer remembered) while running.
    expect((await rt.listContainers({ podUid: p.uid })).find((c) => c.id === id)).toMatchObject({ state: 'running' });
    await run('docker', ['kill', id], { env: process.env });
    const dead = await waitFor('the kill seen by a listing', async () => (await rt.listContainers({ podUid: p.uid })).find((c) => c.id === id && c.state === 'exited'));
    expect(dead.exitCode).toBe(137);
    expect(dead.finishedAt).toBeDefined();
    await run('docker', ['rm', '-f', id], { env: process.env });
    expect((await rt.listContainers({ podUid: p.uid })).map((c) => c.id)).toEqual([sb.id]);
    await expect(rt.inspect(id)).rejects.toSatisfy((e) => isRuntimeError(e, 'NotFound'));
  });

  it('enforces the memory limit and reports an OOM kill', async () => {
    const sb = await rt.ensureSandbox(pod('hog'));
    const id = await startApp(sb, 'hog', 'flotilla/busybox:1', ['sh', '-c', 'x=a; while true; do x=$x$x; done'], {
      attempt: 0,
      resources: { memoryLimitBytes: 16 * 1024 * 1024, cpuLimitMillis: 500 },
    });
    const raw = await rt.docker.getContainer(id).inspect();
    expect(raw.HostConfig.Memory).toBe(16 * 1024 * 1024);
    expect(raw.HostConfig.NanoCpus).toBe(500_000_000);
    // The engine may report the kill a moment after the exit (see DockerRuntime.oomEventSince).
    let last: ContainerInfo | undefined;
    const info = await waitFor('the OOM kill reported', async () => {
      last = await rt.inspect(id);
      return last.state === 'exited' && last.oomKilled ? last : undefined;
    }, 30_000, 100).catch(() => last);
    expect(info).toMatchObject({ state: 'exited', oomKilled: true, exitCode: 137 });
    // The fallback for a report that lost that race finds this engine's oom event, and a plain SIGKILL has none.
    const oomEventSince = (c: string) => rt.docker.getContainer(c).inspect().then((r) => rt['oomEventSince'](r));
    expect(await oomEventSince(id)).toBe(true);
    const killed = await startApp(sb, 'killed', 'flotilla/busybox:1', ['sleep', '3600'], { attempt: 0, resources: { memoryLimitBytes: 16 * 1024 * 1024 } });
    await run('docker', ['kill', killed], { env: process.env });
    expect(await waitFor('the SIGKILL seen', async () => { const i = await rt.inspect(killed); return i.state === 'exited' ? i : undefined; })).toMatchObject({ exitCode: 137, oomKilled: false });
    expect(await oomEventSince(killed)).toBe(false);
  });

  it('stops a container that handles SIGTERM at once and kills one that ignores it after the grace', async () => {
    const sb = await rt.ensureSandbox(pod('stopper'));
    const polite = await startApp(sb, 'polite', 'flotilla/busybox:1', ['sh', '-c', 'trap "exit 0" TERM; echo trapped; while true; do sleep 0.1; done']);
    const stubborn = await startApp(sb, 'stubborn', 'flotilla/busybox:1', ['sh', '-c', 'trap "" TERM; echo trapped; while true; do sleep 0.1; done']);
    // Each shell says when its trap is installed.
    await waitFor('both traps installed', async () => (await rt.tailOutput(polite, 5)).includes('trapped') && (await rt.tailOutput(stubborn, 5)).includes('trapped'));

    let t0 = Date.now();
    await rt.stopContainer(polite, 10);
    const politeMs = Date.now() - t0;
    expect(politeMs).toBeLessThan(3000);
    expect(await rt.inspect(polite)).toMatchObject({ state: 'exited', exitCode: 0 });

    t0 = Date.now();
    await rt.stopContainer(stubborn, 2);
    const stubbornMs = Date.now() - t0;
    expect(stubbornMs).toBeGreaterThanOrEqual(1900);
    expect(stubbornMs).toBeLessThan(6000);
    expect(await rt.inspect(stubborn)).toMatchObject({ state: 'exited', exitCode: 137 });
    console.log(`[runtime] stop: SIGTERM-handling container ${politeMs} ms, SIGTERM-ignoring one ${stubbornMs} ms with grace 2 s`);

    // Stop and remove are idempotent.
    await rt.stopContainer(stubborn, 1);
    await rt.removeContainer(stubborn);
    await rt.removeContainer(stubborn);
    await rt.stopContainer(stubborn, 1);
  });

  it('reads the logs of an exited instance after the next one started', async () => {
    const sb = await rt.ensureSandbox(pod('logger'));
    const script = 'echo oops >&2; sleep 0.2; for i in 1 2 3 4 5; do echo line$i; done; exit 3';
    const first = await startApp(sb, 'app', 'flotilla/busybox:1', ['sh', '-c', script], { attempt: 0 });
    await waitFor('first instance exits', async () => (await rt.inspect(first)).state === 'exited');
    const second = await startApp(sb, 'app', 'flotilla/busybox:1', ['sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done'], { attempt: 1 });

    expect(await rt.inspect(first)).toMatchObject({ exitCode: 3, attempt: 0 });
    expect(await rt.tailOutput(first, 2)).toBe('line4\nline5\n');
    const all = await readAll(await rt.logs(first));
    expect(all).toContain('oops\n');
    expect(all).toContain('line1\n');
    const stamped = await readAll(await rt.logs(first, { tailLines: 1, timestamps: true }));
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line5\n$/);

    // Follow the running instance until a few lines arrived, then stop following.
    const ac = new AbortController();
    const stream = await rt.logs(second, { follow: true, signal: ac.signal });
    let seen = '';
    await waitFor('followed lines', async () => {
      const chunk = stream.read();
      if (chunk) seen += chunk.toString();
      return seen.includes('tick3');
    }, 10_000, 50);
    ac.abort();
    stream.destroy();

    const listed = await rt.listContainers({ podUid: sb.podUid, type: 'container' });
    expect(listed.map((c) => `${c.containerName}/${c.attempt}/${c.state}`).sort()).toEqual(['app/0/exited', 'app/1/running']);
  });

  it('runs exec probes with their exit code, output and timeout', async () => {
    const sb = await rt.ensureSandbox(pod('probe'));
    const id = await startApp(sb, 'app', 'flotilla/busybox:1', ['sleep', '3600']);
    const r = await rt.exec(id, ['sh', '-c', 'echo ready; echo warn >&2; exit 3'], 5000);
    expect(r).toMatchObject({ exitCode: 3, timedOut: false });
    // stdout and stderr are separate pipes in the engine, so their relative order is not guaranteed.
    expect(r.output.split('\n').sort()).toEqual(['', 'ready', 'warn']);
    expect(await rt.exec(id, ['true'], 5000)).toMatchObject({ exitCode: 0, timedOut: false });
    const t0 = Date.now();
    const slow = await rt.exec(id, ['sleep', '5'], 300);
    expect(slow).toMatchObject({ exitCode: null, timedOut: true });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('an exec session whose process exits while stdin still flows ends; the engine closing the connection under a write is no crash', async () => {
    const sb = await rt.ensureSandbox(pod('exec-stdin'));
    const id = await startApp(sb, 'app', 'flotilla/busybox:1', ['sleep', '3600']);
    // A terminal session as `kubectl exec -it` opens it, whose shell exits at once while the client keeps typing.
    // Seen in CI: the agent wrote stdin into the connection the engine had just ended, and died of the EPIPE.
    for (let round = 0; round < 5; round++) {
      const session = await rt.execStream(id, ['sh', '-c', 'exit 7'], { stdin: true, stdout: true, stderr: true, tty: true });
      session.stdout?.resume();
      let ended = false;
      const typing = (async () => {
        while (!ended) {
          session.stdin?.write('echo typed\n');
          await new Promise((r) => setImmediate(r));
        }
      })();
      expect(await session.done).toBe(7);
      // Keep typing a moment past the end, as a client whose close is still on its way.
      await new Promise((r) => setTimeout(r, 50));
      ended = true;
      await typing;
    }
  });

  it('publishes hostPorts and reports a clash as HostPortConflict', async () => {
    const port = await freePort();
    const a = await rt.ensureSandbox(pod('first', { ports: [{ containerPort: 8080, hostPort: port }] }));
    await startApp(a, 'echo', 'flotilla/echo:1', undefined, { attempt: 0, env: [{ name: 'POD_NAME', value: 'first' }] });
    const body = await waitFor('echo on the host port', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/x`, { signal: AbortSignal.timeout(2000) });
      return res.ok ? ((await res.json()) as Record<string, string>) : undefined;
    });
    expect(body.pod).toBe('first');

    const second = pod('second', { ports: [{ containerPort: 8080, hostPort: port }] });
    const err = await rt.ensureSandbox(second).then(() => undefined, (e: unknown) => e);
    expect(isRuntimeError(err, 'HostPortConflict')).toBe(true);
    expect(String((err as Error).message)).toContain(String(port));
    // The failed sandbox is not left behind.
    expect(await rt.listContainers({ podUid: second.uid })).toEqual([]);
  });

  it('fails fast with ErrImagePull for a missing image and honours pull policies', async () => {
    const t0 = Date.now();
    const err = await rt.ensureImage('flotilla/does-not-exist:1', 'IfNotPresent').then(() => undefined, (e: unknown) => e);
    expect(isRuntimeError(err, 'ErrImagePull')).toBe(true);
    expect((err as Error).message).toContain('flotilla/does-not-exist:1');
    expect(Date.now() - t0).toBeLessThan(12_000);
    const never = await rt.ensureImage('flotilla/does-not-exist:1', 'Never').then(() => undefined, (e: unknown) => e);
    expect(isRuntimeError(never, 'ErrImageNeverPull')).toBe(true);
    await rt.ensureImage('flotilla/busybox:1', 'IfNotPresent');
    await rt.ensureImage('flotilla/busybox:1', 'Never');
  });

  it('shares emptyDir volumes between containers and removes them with the pod', async () => {
    const p = pod('vol');
    const sb = await rt.ensureSandbox(p);
    const mounts = [{ name: 'scratch', containerPath: '/data', emptyDir: {} }];
    const writer = await startApp(sb, 'writer', 'flotilla/busybox:1', ['sh', '-c', 'echo shared > /data/f; sleep 3600'], { attempt: 0, mounts });
    const reader = await startApp(sb, 'reader', 'flotilla/busybox:1', ['sleep', '3600'], { attempt: 0, mounts: [{ ...mounts[0]!, readOnly: true }] });
    await waitFor('file written', async () => (await rt.exec(reader, ['cat', '/data/f'], 5000)).output === 'shared\n');
    expect((await rt.exec(reader, ['sh', '-c', 'echo x > /data/g'], 5000)).exitCode).not.toBe(0);
    expect(writer).toBeTruthy();
    const dir = rt.podVolumesDir(p.uid);
    expect(existsSync(join(dir, 'empty-dir', 'scratch', 'f'))).toBe(true);
    await rt.removeSandbox(p.uid);
    expect(existsSync(dir)).toBe(false);
    expect(await rt.listContainers({ podUid: p.uid })).toEqual([]);
  });

  it('rebuilds its whole view from labels in a brand-new runtime', async () => {
    const p = pod('restart');
    const sb = await rt.ensureSandbox(p);
    const app = await startApp(sb, 'app', 'flotilla/busybox:1', ['sleep', '3600'], { attempt: 2, labels: { 'io.flotilla.container.hash': 'abc' } });

    const fresh = new DockerRuntime({ host: process.env.DOCKER_HOST, stateDir, nodeName });
    const list = await fresh.listContainers({ podUid: p.uid });
    expect(list).toHaveLength(2);
    // Another node's runtime on the same engine sees none of them.
    const other = new DockerRuntime({ host: process.env.DOCKER_HOST, stateDir, nodeName: `${nodeName}-other` });
    expect(await other.listContainers({ podUid: p.uid })).toEqual([]);
    const sandbox = list.find((c) => c.type === 'sandbox');
    const container = list.find((c) => c.type === 'container');
    expect(sandbox).toMatchObject({ id: sb.id, ip: sb.ip, state: 'running', podName: 'restart', podNamespace: 'rt-test', containerName: 'POD', image: 'flotilla/pause:1' });
    expect(container).toMatchObject({ id: app, state: 'running', containerName: 'app', attempt: 2, image: 'flotilla/busybox:1', terminationGracePeriodSeconds: 5 });
    expect(container?.labels['io.flotilla.container.hash']).toBe('abc');
    expect(container?.sandboxId).toBe(sb.id);
    expect(container?.startedAt).toBeTruthy();
    // ensureSandbox in the new runtime adopts the running sandbox.
    expect(await fresh.ensureSandbox(p)).toMatchObject({ id: sb.id, created: false });

    // A dead sandbox is replaced by a new attempt.
    await rt.docker.getContainer(sb.id).kill();
    await waitFor('sandbox exited', async () => (await fresh.inspect(sb.id)).state === 'exited');
    const next = await fresh.ensureSandbox(p);
    expect(next).toMatchObject({ created: true, attempt: 1 });
    expect(next.id).not.toBe(sb.id);
    const info = await fresh.hostInfo();
    expect(info.cpus).toBeGreaterThan(0);
    expect(info.memoryBytes).toBeGreaterThan(0);
    expect(info.dockerVersion).toMatch(/\d+\.\d+/);
  });

  it('measures a raw docker run against a sandbox plus container start', async () => {
    const rounds = 3;
    const raw: number[] = [];
    const names: string[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const name = `flotilla-bench-${randomBytes(4).toString('hex')}`;
        names.push(name);
        const t0 = performance.now();
        await run('docker', ['run', '-d', '--name', name, '--label', 'flotilla.test=1', 'flotilla/busybox:1', 'sleep', '3600']);
        raw.push(performance.now() - t0);
      }
    } finally {
      for (const n of names) await rt.docker.getContainer(n).remove({ force: true }).catch(() => undefined);
    }
    const pods: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      const sb = await rt.ensureSandbox(pod(`bench-${i}`));
      await startApp(sb, 'app', 'flotilla/busybox:1', ['sleep', '3600']);
      pods.push(performance.now() - t0);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`[runtime] docker CLI run -d: median ${median(raw).toFixed(0)} ms (${raw.map((x) => x.toFixed(0)).join(', ')}); sandbox+container create+start: median ${median(pods).toFixed(0)} ms (${pods.map((x) => x.toFixed(0)).join(', ')})`);
    expect(pods.length).toBe(rounds);
  });
});
