/**
 * Pods using ConfigMaps and Secrets on a real Docker engine, with a real
 * apiserver over real etcd (in-process, HTTPS, token auth, the node
 * authorizer with its pod graph): env from key refs and envFrom, mounted
 * files updated in the running container by the ..data swap, a missing
 * source keeping the container waiting until it appears, another node's
 * credential refused, no secret value in any log line or Event.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { testPods } from '@flotilla/agent/testing';
import { isReason, type ConfigMap, type Event, type Pod, type Secret } from '@flotilla/api';
import { createApiServer, DefaultAuthorizer, TokenAuthenticator, type ApiServer } from '@flotilla/apiserver';
import { ensureServingCerts } from '@flotilla/apiserver/tls';
import { RestClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { EncryptingTransformer, EtcdStorage, newEncryptionConfiguration } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeGraph } from '../../../apiserver/src/auth/node-graph.js';
import { Agent } from '../../src/agent.js';
import { CachingTokenReviewer, type TokenReviewResponse } from '../../src/node-server.js';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';
import { LABELS } from '../../src/runtime/types.js';
import { ensureSelfSignedCert } from '../../src/serving-cert.js';

const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',');
const id = randomBytes(4).toString('hex');
const prefix = `/agent-cfg-${id}`;
const ns = `agent-cfg-${id}`;
const nodeName = `cfg-node-${id}`;
const otherNode = `cfg-other-${id}`;
const adminToken = randomBytes(24).toString('base64url');
const nodeToken = randomBytes(24).toString('base64url');
const otherToken = randomBytes(24).toString('base64url');
const SECRET_VALUE = `pa55-${id}-w0rd`;

// Every log line of the apiserver, the store and the agent, to look for secret values.
const logLines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logLines.push(chunk.toString('utf8'));
    cb();
  },
});
const log = createLogger('agent-cfg', { level: 'debug', destination: sink });

let dir: string;
let storage: EtcdStorage;
let server: ApiServer;
let admin: RestClient;
let nodeClient: RestClient;
let otherClient: RestClient;
let runtime: DockerRuntime;
const graphStop = new AbortController();
let graphRun: Promise<void> | undefined;
let agentRun: { ac: AbortController; done: Promise<void> } | undefined;

async function deleteEtcdPrefix(keyPrefix: string): Promise<void> {
  const key = Buffer.from(keyPrefix);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  await fetch(`${endpoints[0]}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-cfg-'));
  const certs = await ensureServingCerts({ certDir: join(dir, 'certs'), hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
  const ca = certs.ca!;
  storage = new EtcdStorage({ endpoints, prefix, logger: log, transformer: new EncryptingTransformer(newEncryptionConfiguration('test')) });
  const authenticator = new TokenAuthenticator([
    { token: adminToken, user: { name: 'admin', uid: 'admin', groups: ['system:masters'] } },
    { token: nodeToken, user: { name: `system:node:${nodeName}`, uid: nodeName, groups: ['system:nodes'] } },
    { token: otherToken, user: { name: `system:node:${otherNode}`, uid: otherNode, groups: ['system:nodes'] } },
  ]);
  const nodeGraph = new NodeGraph(storage, log);
  graphRun = nodeGraph.run(graphStop.signal);
  server = createApiServer({ storage, authenticator, authorizer: new DefaultAuthorizer({ nodeGraph }), logger: log, https: { key: certs.key, cert: certs.cert } });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const url = `https://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  admin = new RestClient({ server: url, ca, token: adminToken });
  nodeClient = new RestClient({ server: url, ca, token: nodeToken });
  otherClient = new RestClient({ server: url, ca, token: otherToken });
  const stateDir = join(dir, 'state');
  runtime = new DockerRuntime({ stateDir, nodeName, logger: log });
  for (const image of ['flotilla/pause:1', 'flotilla/busybox:1']) {
    if (!(await runtime.imageExists(image))) throw new Error(`image ${image} is missing: run scripts/images.sh`);
  }
  await admin.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const tls = await ensureSelfSignedCert(join(dir, 'agent-pki'), nodeName, '127.0.0.1');
  const reviewer = new CachingTokenReviewer((body) => nodeClient.request<TokenReviewResponse>({ method: 'POST', path: '/apis/authentication.k8s.io/v1/tokenreviews', body }));
  const agent = new Agent({
    config: { nodeName, nodeIP: '127.0.0.1', logger: log, stateDir, relistIntervalMs: 1000, heartbeatIntervalMs: 1000, backoffInitialMs: 1000, backoffMaxMs: 4000 },
    client: nodeClient,
    runtime,
    nodeServer: { port: 0, host: '127.0.0.1', tls, clientCa: ca, reviewer },
  });
  const ac = new AbortController();
  agentRun = { ac, done: agent.run(ac.signal) };
  await agent.whenReady();
});

afterAll(async () => {
  if (agentRun) {
    agentRun.ac.abort();
    await agentRun.done.catch(() => undefined);
  }
  if (runtime) {
    // An engine that never answered (beforeAll failed on it) must not stop the cleanup below.
    const leftovers = await runtime.docker.listContainers({ all: true, filters: { label: [`${LABELS.podNamespace}=${ns}`] } }).catch(() => []);
    await Promise.all(leftovers.map((c) => runtime.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  graphStop.abort();
  await graphRun;
  await admin?.close();
  await nodeClient?.close();
  await otherClient?.close();
  await server?.close();
  await storage?.close();
  await deleteEtcdPrefix(`${prefix}/`).catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const pods = () => admin.resource<Pod>('pods');
const cms = () => admin.resource<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap' });
const secrets = () => admin.resource<Secret>({ apiVersion: 'v1', kind: 'Secret' });
const events = async (name: string) => (await admin.resource<Event>('events').list(ns)).items.filter((e) => e.involvedObject?.name === name);
const running = (p: Pod) => p.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.state?.running) === true;

/** Runs a command in the pod's app container (docker exec), returning stdout. */
async function execIn(podName: string, cmd: string[]): Promise<string> {
  const c = (await runtime.listContainers()).find((x) => x.podNamespace === ns && x.podName === podName && x.type === 'container' && x.state === 'running');
  if (!c) throw new Error(`no running container of ${podName}`);
  const exec = await runtime.docker.getContainer(c.id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  // Strip the engine's 8-byte multiplexing headers.
  const raw = Buffer.concat(chunks);
  const out: Buffer[] = [];
  for (let i = 0; i + 8 <= raw.length; ) {
    const len = raw.readUInt32BE(i + 4);
    if (raw[i] === 1) out.push(raw.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return Buffer.concat(out).toString('utf8');
}

const { pod } = testPods({ namespace: ns, nodeName, defaults: { terminationGracePeriodSeconds: 0 }, pods });

function appPod(name: string): Pod {
  return pod(name, {
    containers: [{
      name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'env > /tmp/env; sleep 3600'],
      env: [
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } },
        { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'password' } } },
        { name: 'MISSING_OK', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'nope', optional: true } } },
      ],
      // Without a prefix, key 1st.key is not a valid env var name (it starts with a digit): skipped.
      envFrom: [{ configMapRef: { name: 'app-config' }, prefix: 'CFG_' }, { configMapRef: { name: 'app-config' } }],
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }, { name: 'creds', mountPath: '/etc/creds' }],
    }],
    volumes: [
      { name: 'config', configMap: { name: 'app-config' } },
      { name: 'creds', secret: { secretName: 'app-secret', defaultMode: 0o400, items: [{ key: 'password', path: 'db/password' }] } },
    ],
  });
}

describe('pods using ConfigMaps and Secrets on Docker', () => {
  it('a missing ConfigMap keeps the pod waiting with an Event; it starts once the ConfigMap and Secret appear', async () => {
    await pods().create(appPod('app'));
    const waiting = await waitFor(
      async () => {
        const p = await pods().get(ns, 'app');
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === 'ContainerCreating' || w?.reason === 'CreateContainerConfigError' ? p : undefined;
      },
      { what: 'app waiting for its ConfigMap', timeoutMs: 20_000 },
    );
    expect(waiting.status?.phase).toBe('Pending');
    await waitFor(async () => (await events('app')).some((e) => e.reason === 'FailedMount' && e.message?.includes('configmap "app-config" not found')), { what: 'a FailedMount Event naming the ConfigMap', timeoutMs: 20_000 });
    await cms().create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: ns }, data: { mode: 'prod', 'app.conf': 'color=blue\n', '1st.key': 'skipped' } });
    await secrets().create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret', namespace: ns }, stringData: { password: SECRET_VALUE } });
    await waitFor(async () => running(await pods().get(ns, 'app')), { what: 'app Running once its sources exist', timeoutMs: 30_000 });
  });

  it('env from key refs and envFrom (invalid key skipped with an Event), files with modes, read-only', async () => {
    // From the engine: busybox's sh does not pass on names with dots (CFG_app.conf), which are valid env names.
    const c = (await runtime.listContainers()).find((x) => x.podNamespace === ns && x.podName === 'app' && x.type === 'container' && x.state === 'running')!;
    const env = `${((await runtime.docker.getContainer(c.id).inspect()).Config.Env ?? []).join('\n')}\n`;
    expect(env).toContain('MODE=prod\n');
    expect(env).toContain(`DB_PASSWORD=${SECRET_VALUE}\n`);
    expect(env).toContain('CFG_mode=prod\n');
    expect(env).toContain('CFG_app.conf=color=blue\n');
    expect(env).not.toContain('MISSING_OK');
    expect(env).toContain('CFG_1st.key=skipped\n');
    expect(env).not.toMatch(/^1st\.key=/m);
    await waitFor(async () => (await events('app')).some((e) => e.reason === 'InvalidEnvironmentVariableNames' && e.message === `Keys [1st.key] from the EnvFrom configMap ${ns}/app-config were skipped since they are considered invalid environment variable names.`), { what: 'InvalidEnvironmentVariableNames Event', timeoutMs: 10_000 });
    expect(await execIn('app', ['cat', '/etc/app/app.conf'])).toBe('color=blue\n');
    expect(await execIn('app', ['cat', '/etc/creds/db/password'])).toBe(SECRET_VALUE);
    expect((await execIn('app', ['stat', '-L', '-c', '%a', '/etc/creds/db/password'])).trim()).toBe('400');
    expect((await execIn('app', ['stat', '-L', '-c', '%a', '/etc/app/mode'])).trim()).toBe('644');
    expect(await execIn('app', ['sh', '-c', 'echo x > /etc/app/new 2>&1 || echo refused'])).toContain('refused');
  });

  it('a changed ConfigMap appears in the running container atomically, without a restart', async () => {
    const before = await pods().get(ns, 'app');
    const cm = await cms().get(ns, 'app-config');
    await cms().update({ ...cm, data: { ...cm.data, 'app.conf': 'color=green\n', extra: 'new' } });
    const t0 = Date.now();
    await waitFor(async () => (await execIn('app', ['cat', '/etc/app/app.conf'])) === 'color=green\n', { what: 'the updated file inside the container', timeoutMs: 15_000, intervalMs: 100 });
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds).toBeLessThan(15);
    expect(await execIn('app', ['cat', '/etc/app/extra'])).toBe('new');
    expect((await execIn('app', ['readlink', '/etc/app/..data'])).trim()).toMatch(/^\.\.\d{4}-/);
    const after = await pods().get(ns, 'app');
    expect(after.status?.containerStatuses?.[0]?.restartCount).toBe(before.status?.containerStatuses?.[0]?.restartCount);
    console.log(`configmap change visible in the container after ${seconds.toFixed(2)} s (relist 1 s)`);
  });

  it('a reader in the container never sees a half-written version while the ConfigMap changes', async () => {
    const size = 256 * 1024;
    const value = (ch: string) => ch.repeat(size);
    await cms().create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: ns }, data: { v: value('a'), other: 'x' } });
    await pods().create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: ns },
      spec: {
        nodeName, terminationGracePeriodSeconds: 0,
        // Reads the file through its top-level name, as an application would, as fast as it can.
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: ['sh', '-c', 'while true; do md5sum /etc/big/v >> /tmp/sums; done'], volumeMounts: [{ name: 'big', mountPath: '/etc/big' }] }],
        volumes: [{ name: 'big', configMap: { name: 'big' } }],
      },
    });
    await waitFor(async () => running(await pods().get(ns, 'reader')), { what: 'reader Running', timeoutMs: 30_000 });
    for (const ch of ['b', 'c', 'd']) {
      const cur = await cms().get(ns, 'big');
      await cms().update({ ...cur, data: { v: value(ch), other: ch } });
      await waitFor(async () => (await execIn('reader', ['head', '-c', '1', '/etc/big/v'])) === ch, { what: `version ${ch} visible`, timeoutMs: 15_000, intervalMs: 100 });
    }
    const sums = new Set((await execIn('reader', ['cat', '/tmp/sums'])).split('\n').map((l) => l.split(' ')[0]).filter(Boolean));
    const { createHash } = await import('node:crypto');
    const whole = new Set(['a', 'b', 'c', 'd'].map((ch) => createHash('md5').update(value(ch)).digest('hex')));
    // Every read saw one whole version: never a torn (half old, half new, or empty) file.
    for (const s of sums) expect(whole.has(s), `a read saw a torn or mixed version (${s})`).toBe(true);
    expect(sums.size).toBeGreaterThanOrEqual(2);
  });

  it('a missing key of a non-optional secretKeyRef: CreateContainerConfigError with an Event naming the key', async () => {
    const p = appPod('badkey');
    p.spec!.containers[0]!.env = [{ name: 'X', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'no-such-key' } } }];
    p.spec!.containers[0]!.envFrom = [];
    await pods().create(p);
    await waitFor(async () => (await pods().get(ns, 'badkey')).status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError', { what: 'CreateContainerConfigError', timeoutMs: 20_000 });
    await waitFor(async () => (await events('badkey')).some((e) => e.reason === 'Failed' && e.message?.includes(`couldn't find key no-such-key in Secret ${ns}/app-secret`)), { what: 'the Event naming the key', timeoutMs: 10_000 });
    const s = await secrets().get(ns, 'app-secret');
    await secrets().update({ ...s, stringData: { 'no-such-key': 'now-here' } });
    await waitFor(async () => running(await pods().get(ns, 'badkey')), { what: 'badkey starts once the key exists', timeoutMs: 20_000 });
  });

  it('node authorizer: the node reads what its pods reference; another node, unrelated objects and lists are refused', async () => {
    expect((await nodeClient.resource<Secret>({ apiVersion: 'v1', kind: 'Secret' }).get(ns, 'app-secret')).metadata.name).toBe('app-secret');
    await secrets().create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated', namespace: ns }, stringData: { k: 'v' } });
    const refused = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        return isReason(err, 'Forbidden');
      }
      return false;
    };
    expect(await refused(() => otherClient.resource<Secret>({ apiVersion: 'v1', kind: 'Secret' }).get(ns, 'app-secret'))).toBe(true);
    expect(await refused(() => otherClient.resource<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap' }).get(ns, 'app-config'))).toBe(true);
    expect(await refused(() => nodeClient.resource<Secret>({ apiVersion: 'v1', kind: 'Secret' }).get(ns, 'unrelated'))).toBe(true);
    expect(await refused(() => nodeClient.resource<Secret>({ apiVersion: 'v1', kind: 'Secret' }).list(ns))).toBe(true);
  });

  it('no secret value in any log line or Event', async () => {
    const all = logLines.join('');
    expect(all.length).toBeGreaterThan(0);
    for (const v of [SECRET_VALUE, Buffer.from(SECRET_VALUE).toString('base64'), 'now-here']) expect(all).not.toContain(v);
    const evs = JSON.stringify((await admin.resource<Event>('events').list(ns)).items);
    expect(evs).not.toContain(SECRET_VALUE);
  });
});
