/**
 * The real `flotilla agent` process (packages/cli/dist) on the real Docker
 * engine, against the real `flotilla apiserver` process over real etcd:
 * what only a process can show. SIGKILL of the agent (no clean-up code
 * runs) leaves every container alone; the next incarnation adopts them
 * (same IDs, same start times, no status flicker), catches up on what
 * happened while it was down, keeps healing, and re-advertises its log
 * port so logs (follow, tailLines, timestamps) reach it through the
 * apiserver. Also: Events merged with a count, a crash back-off that
 * doubles, and a missing image reported without disturbing other pods.
 *
 * The node name is unique per run (`proc-<hex>`): an agent removes every
 * container labelled with its node name whose pod its apiserver does not
 * know, and the engine is shared with other test runs (a CI copy of this
 * very file included), so a fixed name such as node-5 makes two runs
 * delete each other's containers. The test apiserver has node tokens for
 * node-1 … node-5 only, so this agent authenticates as the admin; the node
 * authorizer is exercised by agent-docker.test.ts and the control-loops
 * tests instead.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testPods } from '@flotilla/agent/testing';
import type { Event, Lease, Node, Pod } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type TestApiServer } from '../../../e2e/src/apiserver.js';
import { superviseProcess, type SupervisedProcess } from '../../../e2e/src/child-process.js';
import { flotillaBin } from '../../../e2e/src/env.js';
import { writeKubeconfig } from '../../../e2e/src/kubeconfig.js';
import { waitFor } from '../../../e2e/src/wait-for.js';
import { LABELS } from '../../src/runtime/types.js';

const id = randomBytes(4).toString('hex');
const nodeName = `proc-${id}`;
const ns = `agent-proc-${id}`;
const dockerHost = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
const docker = new Docker(dockerHost.startsWith('unix://') ? { socketPath: dockerHost.slice('unix://'.length) } : { host: dockerHost });

let dir = '';
let api: TestApiServer | undefined;
let admin: RestClient | undefined;
let agent: SupervisedProcess | undefined;
let watcher: PodWatch | undefined;

/** Every status a pod of the namespace ever had, in etcd order, from one watch. */
class PodWatch {
  readonly history = new Map<string, Pod[]>();
  private readonly ac = new AbortController();
  private done: Promise<void> = Promise.resolve();
  failure: unknown;

  async start(): Promise<this> {
    const list = await admin!.resource<Pod>('pods').list(ns);
    for (const p of list.items) this.add(p);
    let rv = list.metadata?.resourceVersion;
    this.done = (async () => {
      while (!this.ac.signal.aborted) {
        try {
          for await (const ev of admin!.resource<Pod>('pods').watch(ns, { resourceVersion: rv, signal: this.ac.signal })) {
            if (ev.type === 'ERROR') throw new Error(`watch error: ${JSON.stringify(ev.object)}`);
            rv = ev.object.metadata.resourceVersion;
            if (ev.type !== 'BOOKMARK') this.add(ev.object);
          }
        } catch (err) {
          if (!this.ac.signal.aborted) this.failure = err;
          return;
        }
      }
    })();
    return this;
  }

  private add(p: Pod): void {
    const name = p.metadata.name!;
    this.history.set(name, [...(this.history.get(name) ?? []), p]);
  }

  /** Versions of `name` from index `from` on. */
  of(name: string, from = 0): Pod[] {
    if (this.failure) throw this.failure;
    return (this.history.get(name) ?? []).slice(from);
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.done;
  }
}

beforeAll(async () => {
  for (const image of ['flotilla/pause:1', 'flotilla/busybox:1', 'flotilla/echo:1']) {
    await docker
      .getImage(image)
      .inspect()
      .catch(() => {
        throw new Error(`image ${image} is missing: run scripts/images.sh`);
      });
  }
  dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-proc-'));
  api = await startApiServer({ extraNodes: [nodeName] });
  admin = new RestClient({ server: api.url, ca: api.caPem, token: api.adminToken });
  await admin.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const kubeconfig = join(dir, 'agent.kubeconfig');
  // The agent acts as its node (the apiserver signs its serving certificate only for that identity).
  await writeKubeconfig(kubeconfig, { server: api.url, caPem: api.caPem, token: api.nodeToken(nodeName), user: `system:node:${nodeName}`, cluster: 'flotilla-e2e' });
  const argv = [
    flotillaBin(), 'agent',
    '--node-name', nodeName,
    '--kubeconfig', kubeconfig,
    '--docker-host', dockerHost,
    // The machine's shared engine: the engine's default bridge, no pod network of this node's own.
    '--pod-network', 'docker-bridge',
    '--state-dir', join(dir, 'state'),
    '--node-ip', '127.0.0.1',
    '--log-port', '0',
    '--liveness-port', '0',
    '--log-bind-address', '127.0.0.1',
    '--heartbeat-interval', '1s',
    '--node-status-interval', '2s',
    '--relist-interval', '2s',
    '--backoff-initial', '1s',
    '--backoff-max', '8s',
    '--log-level', process.env.FLOTILLA_TEST_LOG ?? 'info',
  ];
  agent = superviseProcess({
    name: nodeName,
    readyMessage: `${nodeName} (flotilla agent) to be ready`,
    readyTimeout: 60_000,
    stopGraceMs: 5_000,
    incarnation: async () => ({
      args: argv,
      command: `flotilla ${argv.slice(1).join(' ')}`,
      // Ready once this incarnation renewed the Lease and the Node says Ready.
      ready: async (startedAt) => {
        const lease = await admin!.resource<Lease>('leases').get('kube-node-lease', nodeName);
        if (!(Date.parse(lease.spec?.renewTime ?? '') >= startedAt - 1_000)) return false;
        const n = await admin!.resource<Node>('nodes').get(undefined, nodeName);
        return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
    }),
  });
  await agent.launch();
  watcher = await new PodWatch().start();
}, 90_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(`--- agent log after "${task.name}" failed\n${agent?.logs().slice(-16_384)}`);
});

afterAll(async () => {
  await watcher?.stop().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  // Containers by label: the agent is gone, so nothing recreates them.
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.podNamespace}=${ns}`] } }).catch(() => []);
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await admin?.close().catch(() => undefined);
  await api?.stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

const pods = () => admin!.resource<Pod>('pods');
const getPod = (name: string) => pods().get(ns, name);
const ready = (p: Pod) => p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const events = async (name: string) => (await admin!.resource<Event>('events').list(ns)).items.filter((e) => e.involvedObject?.name === name);

const { pod, podWhen } = testPods({ namespace: ns, nodeName, defaults: { terminationGracePeriodSeconds: 1 }, pods });
const echo = (name: string) => pod(name, { containers: [{ name: 'app', image: 'flotilla/echo:1' }] });

/** The Docker containers of one pod: id, kind (sandbox/container), state and start time, sorted by id. */
async function containersOf(podName: string): Promise<Array<{ id: string; type: string; state: string; startedAt: string }>> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABELS.podNamespace}=${ns}`, `${LABELS.podName}=${podName}`] } });
  const out = await Promise.all(
    list.map(async (c) => {
      const info = await docker.getContainer(c.Id).inspect();
      return { id: c.Id, type: c.Labels[LABELS.type] ?? '', state: info.State.Status, startedAt: info.State.StartedAt };
    }),
  );
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** GET through the apiserver's log proxy (as the admin); resolves with the status and whole body. */
function getLog(query: string, podName: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(`/api/v1/namespaces/${ns}/pods/${podName}/log${query}`, api!.url), { ca: api!.caPem, headers: { authorization: `Bearer ${api!.adminToken}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the flotilla agent process on Docker', () => {
  it('SIGKILLed and restarted: containers untouched (same IDs and start times), no status flicker, catches up on what happened meanwhile, keeps healing', async () => {
    await pods().create(echo('steady'));
    await pods().create(echo('victim'));
    const steady = await podWhen('steady', ready, 'Running and Ready');
    await podWhen('victim', ready, 'Running and Ready');
    const steadyBefore = await containersOf('steady');
    expect(steadyBefore.map((c) => c.type).sort()).toEqual(['container', 'sandbox']);
    expect(steadyBefore.every((c) => c.state === 'running')).toBe(true);
    const steadyStatusBefore = steady.status!.containerStatuses![0]!;
    const nodeBefore = await admin!.resource<Node>('nodes').get(undefined, nodeName);
    const logPortBefore = nodeBefore.status?.daemonEndpoints?.kubeletEndpoint?.Port;

    // The host's agent dies hard: no shutdown code of it runs.
    const oldPid = agent!.pid()!;
    await agent!.kill('SIGKILL');
    expect(agent!.alive()).toBe(false);
    expect(() => process.kill(oldPid, 0)).toThrow();
    const fromSteady = watcher!.of('steady').length;

    // While no agent runs: an app container dies, and a new pod is bound to the node.
    const victimBefore = await containersOf('victim');
    const victimApp = victimBefore.find((c) => c.type === 'container')!;
    await docker.getContainer(victimApp.id).kill();
    await pods().create(echo('late'));
    expect(await containersOf('late')).toEqual([]);
    // Containers do not depend on their agent.
    expect((await containersOf('steady')).every((c) => c.state === 'running')).toBe(true);

    await agent!.launch();
    expect(agent!.pid()).not.toBe(oldPid);

    // The new incarnation catches up: the new pod runs, the dead container is restarted (one restart, exit 137 remembered).
    await podWhen('late', ready, 'started by the restarted agent');
    const victim = await podWhen('victim', (p) => ready(p) && p.status?.containerStatuses?.[0]?.restartCount === 1, 'restarted once by the new agent');
    expect(victim.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    // Its sandbox (the pod's network namespace) survived the agent's death and the app's restart.
    expect((await containersOf('victim')).find((c) => c.type === 'sandbox')).toEqual(victimBefore.find((c) => c.type === 'sandbox'));

    // Adopted, not restarted: the very same containers, started at the very same moment.
    expect(await containersOf('steady')).toEqual(steadyBefore);
    const steadyNow = await getPod('steady');
    expect(ready(steadyNow)).toBe(true);
    expect(steadyNow.status?.containerStatuses?.[0]).toMatchObject({
      containerID: steadyStatusBefore.containerID,
      restartCount: 0,
      ready: true,
      state: { running: { startedAt: steadyStatusBefore.state?.running?.startedAt } },
    });
    // And no version the API held in between said otherwise (no flicker to not-Ready, no other container).
    for (const v of watcher!.of('steady', fromSteady)) {
      expect(ready(v), `steady at resourceVersion ${v.metadata.resourceVersion}`).toBe(true);
      expect(v.status?.containerStatuses?.[0]?.containerID).toBe(steadyStatusBefore.containerID);
      expect(v.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    }

    // The new incarnation advertises its own log port (0: a fresh one) and keeps healing the adopted pod.
    const nodeAfter = await waitFor(async () => {
      const n = await admin!.resource<Node>('nodes').get(undefined, nodeName);
      const port = n.status?.daemonEndpoints?.kubeletEndpoint?.Port;
      return port && port !== logPortBefore ? n : undefined;
    }, { timeout: 10_000, message: 'the Node to advertise the new log port' });
    expect(nodeAfter.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBeGreaterThan(0);
    const steadyApp = steadyBefore.find((c) => c.type === 'container')!;
    await docker.getContainer(steadyApp.id).kill();
    const healed = await podWhen('steady', (p) => ready(p) && p.status?.containerStatuses?.[0]?.restartCount === 1, 'healed by the new agent after docker kill');
    expect(healed.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    const steadyHealed = await containersOf('steady');
    expect(steadyHealed.find((c) => c.type === 'sandbox')).toEqual(steadyBefore.find((c) => c.type === 'sandbox'));
  });

  it('logs through the apiserver reach the restarted agent: tailLines, timestamps, follow streaming new lines', async () => {
    await pods().create(pod('ticker', { containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'] }] }));
    await podWhen('ticker', ready, 'Running');
    await waitFor(async () => (await getLog('', 'ticker')).text.includes('tick 5'), { timeout: 10_000, message: 'six ticks written' });

    const tail = await getLog('?tailLines=2', 'ticker');
    expect(tail.status).toBe(200);
    const tailLines = tail.text.trimEnd().split('\n');
    expect(tailLines).toHaveLength(2);
    const [a, b] = tailLines.map((l) => Number(/^tick (\d+)$/.exec(l)?.[1]));
    expect(b).toBe(a! + 1);

    const stamped = await getLog('?tailLines=3&timestamps=true', 'ticker');
    const stampedLines = stamped.text.trimEnd().split('\n');
    expect(stampedLines).toHaveLength(3);
    for (const line of stampedLines) {
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) tick \d+$/.exec(line);
      expect(m, line).toBeTruthy();
      expect(Math.abs(Date.now() - Date.parse(m![1]!))).toBeLessThan(30_000);
    }

    // follow: the response stays open and lines written after the request arrive on it, in order, none twice.
    const ac = new AbortController();
    const got: string[] = [];
    let ended = false;
    let status = 0;
    const req = httpsRequest(new URL(`/api/v1/namespaces/${ns}/pods/ticker/log?follow=true&tailLines=1`, api!.url), { ca: api!.caPem, signal: ac.signal, headers: { authorization: `Bearer ${api!.adminToken}` } }, (res) => {
      status = res.statusCode ?? 0;
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        const lines = buf.split('\n');
        buf = lines.pop()!;
        got.push(...lines);
      });
      res.on('end', () => (ended = true));
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    req.end();
    try {
      const requestedAt = Date.now();
      await waitFor(() => got.length >= 6, { timeout: 10_000, message: `six followed lines (got ${JSON.stringify(got)})` });
      // Six lines 200 ms apart: they were written after the request, not read from a finished file.
      expect(Date.now() - requestedAt).toBeGreaterThanOrEqual(800);
      expect(status).toBe(200);
      expect(ended).toBe(false);
      const ticks = got.map((l) => Number(/^tick (\d+)$/.exec(l)?.[1]));
      expect(ticks.every((t) => Number.isInteger(t))).toBe(true);
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]).toBe(ticks[0]! + i);
    } finally {
      ac.abort();
    }
  });

  it('a crash loop: back-off doubles (1 s, 2 s, 4 s) and the repeated Events are one Event each with a count', async () => {
    // The engine's own record of every start and death of the app container (nanosecond clock), not
    // when the API happened to show a status: a slow status write must not look like a short back-off.
    const lifecycle = new Map<number, { start?: number; die?: number }>();
    const stream = (await docker.getEvents({
      filters: { type: ['container'], event: ['start', 'die'], label: [`${LABELS.podNamespace}=${ns}`, `${LABELS.podName}=crashy`, `${LABELS.type}=container`] },
    })) as NodeJS.ReadableStream & { destroy(): void };
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines.filter(Boolean)) {
        const e = JSON.parse(line) as { Action: string; timeNano: number; Actor: { Attributes: Record<string, string> } };
        const attempt = Number(e.Actor.Attributes[LABELS.attempt]);
        const rec = lifecycle.get(attempt) ?? {};
        rec[e.Action === 'start' ? 'start' : 'die'] = e.timeNano / 1e6;
        lifecycle.set(attempt, rec);
      }
    });
    try {
      await pods().create(pod('crashy', { containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'echo "cannot open /etc/crashy.conf"; exit 1'], terminationMessagePolicy: 'FallbackToLogsOnError' }] }));
      await podWhen('crashy', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 4, 'four restarts', 40_000);
      await waitFor(() => [0, 1, 2, 3].every((a) => lifecycle.get(a)?.die) && lifecycle.get(4)?.start, { timeout: 5_000, message: 'Docker events of attempts 0-4' });
    } finally {
      stream.destroy();
    }
    // The back-off is the time from one attempt's death to the next one's start.
    const waits = [1, 2, 3, 4].map((a) => Math.round(lifecycle.get(a)!.start! - lifecycle.get(a - 1)!.die!));
    console.info(`crash loop: death -> next start (ms) for restarts 1-4: ${JSON.stringify(waits)} (back-off: immediate, 1 s, 2 s, 4 s)`);
    // The agent counts the back-off from the container's finish time; the engine's `die` event is
    // stamped a few milliseconds after it, so allow that much below each step.
    const slack = 50;
    expect(waits[0]).toBeLessThan(1_000);
    expect(waits[1]).toBeGreaterThanOrEqual(1_000 - slack);
    expect(waits[2]).toBeGreaterThanOrEqual(2_000 - slack);
    expect(waits[3]).toBeGreaterThanOrEqual(4_000 - slack);
    // Capped by --backoff-max 8s, and not much later than due (the agent wakes on a timer, not a relist).
    expect(waits[3]).toBeLessThan(4_000 + 2_500);
    const crashing = await getPod('crashy');
    expect(crashing.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(crashing.status?.containerStatuses?.[0]?.lastState?.terminated?.message).toContain('cannot open /etc/crashy.conf');

    const ev = await waitFor(async () => {
      const list = await events('crashy');
      const backOff = list.filter((e) => e.reason === 'BackOff');
      const started = list.filter((e) => e.reason === 'Started');
      return backOff.length && (backOff[0]!.count ?? 0) >= 2 && started.length && (started[0]!.count ?? 0) >= 4 ? list : undefined;
    }, { timeout: 15_000, message: 'BackOff counted at least twice and Started four times' });
    // One Event object per reason and message, its count the number of occurrences.
    const keys = ev.map((e) => `${e.reason}|${e.message}`);
    expect(new Set(keys).size).toBe(keys.length);
    const started = ev.find((e) => e.reason === 'Started')!;
    expect(started).toMatchObject({ type: 'Normal', message: 'Started container app', source: { host: nodeName } });
    expect(Date.parse(started.lastTimestamp!)).toBeGreaterThan(Date.parse(started.firstTimestamp!));
    expect(ev.find((e) => e.reason === 'BackOff')).toMatchObject({ type: 'Warning' });
    await pods().delete(ns, 'crashy');
  });

  it('an image that does not exist: reason, condition and events on the pod with the engine message; other pods untouched', async () => {
    const others = ['steady', 'victim', 'late'];
    const before = new Map(await Promise.all(others.map(async (n) => [n, { containers: await containersOf(n), pod: await getPod(n) }] as const)));
    await pods().create(pod('noimage', { containers: [{ name: 'app', image: 'flotilla/does-not-exist:1' }] }));
    const p = await podWhen('noimage', (x) => ['ErrImagePull', 'ImagePullBackOff'].includes(x.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? ''), 'ErrImagePull or ImagePullBackOff');
    expect(p.status?.phase).toBe('Pending');
    const waiting = p.status!.containerStatuses![0]!.state!.waiting!;
    console.info(`missing image: ${waiting.reason}: ${waiting.message}`);
    expect(waiting.message).toContain('flotilla/does-not-exist:1');
    expect(p.status?.containerStatuses?.[0]).toMatchObject({ ready: false, restartCount: 0, image: 'flotilla/does-not-exist:1' });
    const cond = (type: string) => p.status?.conditions?.find((c) => c.type === type);
    expect(cond('Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(cond('Ready')?.message).toContain('app');
    expect(cond('ContainersReady')).toMatchObject({ status: 'False' });
    expect(cond('PodScheduled')).toMatchObject({ status: 'True' });

    const ev = await waitFor(async () => {
      const list = await events('noimage');
      const failed = list.find((e) => e.reason === 'Failed' && e.message?.startsWith('Failed to pull image "flotilla/does-not-exist:1"'));
      return failed ? list : undefined;
    }, { timeout: 15_000, message: 'a Failed event naming the image' });
    expect(ev.find((e) => e.reason === 'Failed' && e.message?.startsWith('Failed to pull image'))).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Pod', name: 'noimage', namespace: ns } });
    expect(ev.some((e) => e.reason === 'Failed' && /^Error: (ErrImagePull|ImagePullBackOff)$/.test(e.message ?? ''))).toBe(true);
    // No app container was ever created for it.
    expect((await containersOf('noimage')).filter((c) => c.type === 'container')).toEqual([]);

    // Nothing else on the node noticed.
    for (const n of others) {
      const was = before.get(n)!;
      expect(await containersOf(n), n).toEqual(was.containers);
      const now = await getPod(n);
      expect(ready(now), n).toBe(true);
      expect(now.status?.containerStatuses?.[0]?.restartCount, n).toBe(was.pod.status?.containerStatuses?.[0]?.restartCount);
    }
  });
});
