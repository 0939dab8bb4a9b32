/**
 * The agent against a real Docker engine and a real apiserver over real
 * etcd (in-process, HTTPS, token auth, the node authorizer): issue 3's
 * "must show" list. One agent per file, pods in a namespace of their own,
 * every container of that namespace removed afterwards, even on failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testPods } from '@flotilla/agent/testing';
import { ApiError, type Event, type Lease, type Node, type Pod } from '@flotilla/api';
import { createApiServer, DefaultAuthorizer, registerNodeCertificates, TokenAuthenticator, type ApiServer } from '@flotilla/apiserver';
import { ensureKubeletClientCert, ensureServingCerts } from '@flotilla/apiserver/tls';
import { RestClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPodLogProxy, registerTokenReview } from '../../../apiserver/src/pod-log-proxy.js';
import { Agent } from '../../src/agent.js';
import { CachingTokenReviewer, type TokenReviewResponse } from '../../src/node-server.js';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';
import { LABELS } from '../../src/runtime/types.js';
import { ensureSelfSignedCert, loadNodeCert, requestNodeCert } from '../../src/serving-cert.js';

const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',');
const id = randomBytes(4).toString('hex');
const prefix = `/agent-it-${id}`;
const ns = `agent-it-${id}`;
const nodeName = `it-node-${id}`;
const adminToken = randomBytes(24).toString('base64url');
const nodeToken = randomBytes(24).toString('base64url');
const log = createLogger('agent-it', { level: process.env.FLOTILLA_TEST_LOG ?? 'silent' });

let dir: string;
let storage: EtcdStorage;
let server: ApiServer;
let url: string;
let ca: string;
let admin: RestClient;
let nodeClient: RestClient;
let runtime: DockerRuntime;
let agentRun: { ac: AbortController; done: Promise<void>; agent: Agent } | undefined;

async function deleteEtcdPrefix(keyPrefix: string): Promise<void> {
  const key = Buffer.from(keyPrefix);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  await fetch(`${endpoints[0]}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }) });
}

async function startAgent(): Promise<void> {
  const pki = join(dir, 'agent-pki');
  const stored = await loadNodeCert(pki, ca, nodeName, '127.0.0.1');
  const tls = stored ?? (await ensureSelfSignedCert(pki, nodeName, '127.0.0.1'));
  const obtainCert = () =>
    requestNodeCert(pki, ca, nodeName, '127.0.0.1', async (csr) => {
      const res = await nodeClient.request<{ status: { certificate: string } }>({
        method: 'POST',
        path: '/apis/certificates.flotilla.io/v1/nodeservingcertificates',
        body: { apiVersion: 'certificates.flotilla.io/v1', kind: 'NodeServingCertificateRequest', spec: { request: Buffer.from(csr).toString('base64') } },
      });
      return Buffer.from(res.status.certificate, 'base64').toString('utf8');
    });
  const reviewer = new CachingTokenReviewer((body) => nodeClient.request<TokenReviewResponse>({ method: 'POST', path: '/apis/authentication.k8s.io/v1/tokenreviews', body }));
  const agent = new Agent({
    config: { nodeName, nodeIP: '127.0.0.1', stateDir: join(dir, 'agent'), logger: log, relistIntervalMs: 2000, heartbeatIntervalMs: 1000, backoffInitialMs: 1000, backoffMaxMs: 8000 },
    client: nodeClient,
    runtime,
    nodeServer: { port: 0, host: '127.0.0.1', tls, clientCa: ca, reviewer, ...(stored ? {} : { obtainCert }) },
  });
  const ac = new AbortController();
  agentRun = { ac, agent, done: agent.run(ac.signal) };
  await agent.whenReady();
  await agent.whenServingCertReady();
}

async function stopAgent(): Promise<void> {
  if (!agentRun) return;
  agentRun.ac.abort();
  await agentRun.done;
  agentRun = undefined;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-it-'));
  const certs = await ensureServingCerts({ certDir: join(dir, 'certs'), hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
  ca = certs.ca!;
  const nodeTls = await ensureKubeletClientCert(join(dir, 'certs'));
  storage = new EtcdStorage({ endpoints, prefix, logger: createLogger('store', { level: 'silent' }) });
  const authenticator = new TokenAuthenticator([
    { token: adminToken, user: { name: 'admin', uid: 'admin', groups: ['system:masters'] } },
    { token: nodeToken, user: { name: `system:node:${nodeName}`, uid: nodeName, groups: ['system:nodes'] } },
  ]);
  server = createApiServer({
    storage,
    authenticator,
    authorizer: new DefaultAuthorizer(),
    logger: createLogger('apiserver', { level: 'silent' }),
    https: { key: certs.key, cert: certs.cert },
    podLogHandler: createPodLogProxy({ storage, nodeTls }),
    nodeTls,
  });
  registerTokenReview(server, authenticator);
  registerNodeCertificates(server, storage, join(dir, 'certs'));
  await server.listen({ host: '127.0.0.1', port: 0 });
  url = `https://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  admin = new RestClient({ server: url, ca, token: adminToken });
  nodeClient = new RestClient({ server: url, ca, token: nodeToken });
  runtime = new DockerRuntime({ stateDir: join(dir, 'state'), nodeName, logger: log });
  for (const image of ['flotilla/pause:1', 'flotilla/busybox:1', 'flotilla/echo:1']) {
    if (!(await runtime.imageExists(image))) throw new Error(`image ${image} is missing: run scripts/images.sh`);
  }
  await admin.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await startAgent();
});

afterAll(async () => {
  await stopAgent().catch(() => undefined);
  if (runtime) {
    const leftovers = await runtime.docker.listContainers({ all: true, filters: { label: [`${LABELS.podNamespace}=${ns}`] } });
    await Promise.all(leftovers.map((c) => runtime.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  await admin?.close();
  await nodeClient?.close();
  await server?.close();
  await storage?.close();
  await deleteEtcdPrefix(`${prefix}/`).catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const pods = () => admin.resource<Pod>('pods');
const getPod = (name: string) => pods().get(ns, name);

const { pod, podWhen } = testPods({ namespace: ns, nodeName, defaults: { terminationGracePeriodSeconds: 2 }, pods });

const running = (p: Pod) => p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
const appIds = async (name: string) => (await runtime.listContainers()).filter((c) => c.podNamespace === ns && c.podName === name).map((c) => c.id).sort();
const events = async (name: string) => (await admin.resource<Event>('events').list(ns)).items.filter((e) => e.involvedObject?.name === name);

/** GET through the apiserver's log proxy; answers status and text. */
function getLog(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = httpsRequest(u, { ca, headers: { authorization: `Bearer ${adminToken}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const echo = { name: 'app', image: 'flotilla/echo:1', env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] };

describe('agent on Docker', () => {
  it('registers the Node with the log port and renews the Lease', async () => {
    const node = await admin.resource<Node>('nodes').get(undefined, nodeName);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(agentRun!.agent.nodeServerPort);
    expect(Number(node.status?.capacity?.cpu)).toBeGreaterThan(0);
    const l1 = await waitFor(() => admin.resource<Lease>('leases').get('kube-node-lease', nodeName), { what: 'lease', timeoutMs: 5000 });
    await waitFor(async () => (await admin.resource<Lease>('leases').get('kube-node-lease', nodeName)).spec?.renewTime !== l1.spec?.renewTime, { what: 'lease renewed', timeoutMs: 5000 });
  });

  it('runs a pod with its IP; docker kill → restartCount 1, Ready again, same sandbox', async () => {
    await pods().create(pod('web', { containers: [echo] }));
    const p = await podWhen('web', running, 'Running and Ready');
    expect(p.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(p.status?.containerStatuses?.[0]?.containerID).toMatch(/^docker:\/\//);
    const before = await runtime.listContainers({ podUid: p.metadata.uid! });
    const sandbox = before.find((c) => c.type === 'sandbox')!;
    const app = before.find((c) => c.type === 'container')!;
    await runtime.docker.getContainer(app.id).kill();
    const after = await podWhen('web', (x) => running(x) && x.status?.containerStatuses?.[0]?.restartCount === 1, 'restarted once');
    expect(after.status?.podIP).toBe(p.status?.podIP);
    expect(after.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(137);
    const now = await runtime.listContainers({ podUid: p.metadata.uid! });
    expect(now.find((c) => c.type === 'sandbox')?.id).toBe(sandbox.id);
    expect(now.find((c) => c.type === 'sandbox')?.state).toBe('running');
  });

  it('a container exiting 1 in a loop: CrashLoopBackOff, exit code, last output, growing delay', async () => {
    // The delay is timed from the engine's own start/die events: polling the pod status would add the
    // latency of status writes, which on a loaded machine can make a longer gap look shorter.
    const engineEvents = new AbortController();
    const starts: number[] = [];
    const deaths: number[] = [];
    const watching = (async () => {
      for await (const e of runtime.events(engineEvents.signal)) {
        if (e.podName !== 'crash' || e.podNamespace !== ns || e.containerType !== 'container') continue;
        if (e.type === 'start') starts.push(e.time);
        if (e.type === 'die') deaths.push(e.time);
      }
    })().catch(() => undefined);
    await pods().create(pod('crash', { containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'echo "started $(date +%s%N)"; echo "fatal: no config at /etc/app.conf"; exit 1'], terminationMessagePolicy: 'FallbackToLogsOnError' }] }));
    const p = await waitFor(
      async () => {
        const x = await getPod('crash');
        const rc = x.status?.containerStatuses?.[0]?.restartCount ?? 0;
        return rc >= 3 && x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? x : undefined;
      },
      { what: 'three restarts and CrashLoopBackOff', timeoutMs: 40_000, intervalMs: 50 },
    );
    const cs = p.status!.containerStatuses![0]!;
    expect(cs.state?.waiting?.message).toMatch(/^back-off \d+s restarting failed container=app pod=crash_/);
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(cs.lastState?.terminated?.message).toContain('fatal: no config at /etc/app.conf');
    // Restart 1 is immediate, 2 waits 1 s, 3 waits 2 s: each start after a death waits longer than the one before.
    await waitFor(() => (starts.length >= 4 && deaths.length >= 3 ? true : undefined), { what: 'four starts and three deaths from the engine', timeoutMs: 20_000 });
    engineEvents.abort();
    await watching;
    const delays = [1, 2, 3].map((i) => starts[i]! - deaths[i - 1]!);
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
    expect(delays[2]!).toBeGreaterThan(delays[1]!);
    await waitFor(async () => ((await events('crash')).some((e) => e.reason === 'BackOff') ? true : undefined), { what: 'BackOff event', timeoutMs: 15_000 });
  });

  it('GET pods/{name}/log returns the output; previous the dead instance; errors are Status', async () => {
    const cur = await getLog(`/api/v1/namespaces/${ns}/pods/crash/log`);
    expect(cur.status).toBe(200);
    expect(cur.text).toContain('fatal: no config');
    const prev = await getLog(`/api/v1/namespaces/${ns}/pods/crash/log?previous=true`);
    expect(prev.status).toBe(200);
    expect(prev.text).toContain('started ');
    expect(prev.text).not.toBe(cur.text);
    const tail = await getLog(`/api/v1/namespaces/${ns}/pods/crash/log?tailLines=1`);
    expect(tail.text.trim()).toBe('fatal: no config at /etc/app.conf');
    expect((await getLog(`/api/v1/namespaces/${ns}/pods/nope/log`)).status).toBe(404);
    const bad = await getLog(`/api/v1/namespaces/${ns}/pods/crash/log?container=zzz`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    await pods().create({ ...pod('unscheduled', { containers: [echo] }), spec: { containers: [echo] } });
    expect((await getLog(`/api/v1/namespaces/${ns}/pods/unscheduled/log`)).status).toBe(400);
    // The agent itself refuses callers without the apiserver's client certificate or a valid token.
    const direct = await new Promise<number>((resolve, reject) => {
      const r = httpsRequest({ host: '127.0.0.1', port: agentRun!.agent.nodeServerPort, path: `/containerLogs/${ns}/crash/app`, rejectUnauthorized: false, headers: { authorization: 'Bearer wrong' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', reject);
      r.end();
    });
    expect(direct).toBe(401);
  });

  it('a failing liveness probe restarts the container; a failing readiness probe only makes it not Ready', async () => {
    await pods().create(
      pod('live', { containers: [{ ...echo, livenessProbe: { httpGet: { path: '/', port: 8081 }, periodSeconds: 1, failureThreshold: 2, timeoutSeconds: 1 } }] }),
    );
    await podWhen('live', (x) => (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted by liveness', 40_000);
    // Events are written in the background: wait for both rather than expect them already there.
    await waitFor(
      async () => {
        const ev = await events('live');
        const unhealthy = ev.some((e) => e.reason === 'Unhealthy' && e.message?.startsWith('Liveness probe failed'));
        const killing = ev.some((e) => e.reason === 'Killing' && e.message?.includes('failed liveness probe'));
        return unhealthy && killing ? true : undefined;
      },
      { what: 'Unhealthy and Killing events for the liveness failure', timeoutMs: 15_000 },
    );

    await pods().create(pod('unready', { containers: [{ ...echo, readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 } }] }));
    await waitFor(async () => ((await events('unready')).find((e) => e.reason === 'Unhealthy')?.count ?? 0) >= 3, { what: 'three readiness failures', timeoutMs: 30_000, intervalMs: 200 });
    const p = await getPod('unready');
    expect(p.status?.phase).toBe('Running');
    expect(p.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(p.status?.containerStatuses?.[0]).toMatchObject({ ready: false, restartCount: 0 });
    // The probe passing makes it Ready, still without a restart.
    const [app] = (await runtime.listContainers({ podUid: p.metadata.uid!, type: 'container' }));
    await runtime.exec(app!.id, ['touch', '/tmp/ready'], 5000);
    const ready = await podWhen('unready', running, 'Ready after the probe passes');
    expect(ready.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it('a container over its memory limit is reported OOMKilled', async () => {
    await pods().create(
      pod('oom', {
        restartPolicy: 'Never',
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'x=aaaaaaaa; while true; do x="$x$x"; done'], resources: { limits: { memory: '16Mi' } } }],
      }),
    );
    const p = await podWhen('oom', (x) => x.status?.phase === 'Failed', 'Failed', 60_000);
    expect(p.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  it('delete: SIGTERM reaches the app, and the grace period is honoured for one that ignores it', async () => {
    const hostDir = join(dir, 'term');
    await pods().create(
      pod('polite', {
        terminationGracePeriodSeconds: 10,
        volumes: [{ name: 'data', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } }],
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'trap "echo TERM > /data/term; exit 0" TERM; while true; do sleep 0.2; done'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      }),
    );
    await pods().create(pod('stubborn', { terminationGracePeriodSeconds: 3, containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.2; done'] }] }));
    await podWhen('polite', running, 'running');
    await podWhen('stubborn', running, 'running');
    const t0 = Date.now();
    await pods().delete(ns, 'polite');
    await pods().delete(ns, 'stubborn');
    const gone = async (name: string) => {
      await waitFor(async () => getPod(name).then(() => false, (e) => e instanceof ApiError && e.code === 404), { what: `${name} deleted`, timeoutMs: 30_000, intervalMs: 50 });
      return Date.now() - t0;
    };
    const [politeMs, stubbornMs] = await Promise.all([gone('polite'), gone('stubborn')]);
    expect(existsSync(join(hostDir, 'term'))).toBe(true);
    expect(politeMs).toBeLessThan(3000);
    expect(stubbornMs).toBeGreaterThanOrEqual(3000);
    expect(stubbornMs).toBeLessThan(10_000);
    expect(await appIds('polite')).toEqual([]);
    expect(await appIds('stubborn')).toEqual([]);
  });

  it('bad input: missing image, unknown volume type (422), host port clash — each reported, nothing else disturbed', async () => {
    await pods().create(pod('noimage', { containers: [{ name: 'app', image: 'flotilla/does-not-exist:1' }] }));
    const w = (await podWhen('noimage', (x) => ['ErrImagePull', 'ImagePullBackOff'].includes(x.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? ''), 'image error', 90_000)).status!.containerStatuses![0]!.state!.waiting!;
    expect(w.message).toContain('flotilla/does-not-exist:1');

    const err = await pods()
      .create({ ...pod('badvol', { containers: [{ name: 'app', image: 'flotilla/busybox:1' }] }), spec: { nodeName, containers: [{ name: 'app', image: 'flotilla/busybox:1' }], volumes: [{ name: 'v', nfs: { server: 'x', path: '/' } }] } })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(422);
    expect((err as ApiError).status.details?.causes?.[0]?.field).toMatch(/^spec\.volumes\[0\]/);

    const port = 20000 + Math.floor(Math.random() * 20000);
    const withPort = { ...echo, ports: [{ containerPort: 8080, hostPort: port, protocol: 'TCP' as const }] };
    await pods().create(pod('port-a', { containers: [withPort] }));
    await podWhen('port-a', running, 'running');
    const idsA = await appIds('port-a');
    await pods().create(pod('port-b', { containers: [withPort] }));
    const b = await podWhen('port-b', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'HostPortConflict', 'HostPortConflict');
    expect(b.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain(String(port));
    expect(b.status?.conditions?.find((c) => c.type === 'PodReadyToStartContainers')).toMatchObject({ status: 'False', reason: 'HostPortConflict' });
    // Events are written in the background: wait for it rather than expect it already there.
    await waitFor(async () => ((await events('port-b')).some((e) => e.reason === 'HostPortConflict') ? true : undefined), { what: 'HostPortConflict event', timeoutMs: 15_000 });
    expect(running(await getPod('port-a'))).toBe(true);
    expect(await appIds('port-a')).toEqual(idsA);
  });

  it('an agent killed and restarted adopts running containers (same IDs) and keeps healing them', async () => {
    await pods().create(pod('adopt', { containers: [echo] }));
    await podWhen('adopt', running, 'running');
    const ids = await appIds('adopt');
    await stopAgent();
    await startAgent();
    // Absence can only be observed over a window: two relist periods (2 s each) of the new agent.
    await new Promise((r) => setTimeout(r, 4500));
    expect(await appIds('adopt')).toEqual(ids);
    const p = await podWhen('adopt', running, 'still running');
    expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    const app = (await runtime.listContainers({ podUid: p.metadata.uid!, type: 'container' }))[0]!;
    await runtime.docker.getContainer(app.id).kill();
    await podWhen('adopt', (x) => running(x) && x.status?.containerStatuses?.[0]?.restartCount === 1, 'restarted by the new agent');
  });
});
