/**
 * Pod fields the agent enforces, on a real Docker engine with a real
 * apiserver over real etcd (in-process, HTTPS, token auth, the pod log
 * proxy over mutual TLS) and the real `kubectl` for what users see:
 * init containers (order, shared emptyDir, Init:Error /
 * Init:CrashLoopBackOff, `kubectl logs -c`), lifecycle hooks (postStart,
 * preStop before SIGTERM), securityContext (runAsUser, groups, fsGroup,
 * readOnlyRootFilesystem, capabilities, no-new-privileges, runAsNonRoot,
 * sysctls, shareProcessNamespace), activeDeadlineSeconds and startupProbe.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testPods } from '@flotilla/agent/testing';
import type { Event, Pod } from '@flotilla/api';
import { createApiServer, DefaultAuthorizer, registerNodeCertificates, TokenAuthenticator, type ApiServer } from '@flotilla/apiserver';
import { ensureKubeletClientCert, ensureServingCerts } from '@flotilla/apiserver/tls';
import { RestClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPodLogProxy, registerTokenReview } from '../../../apiserver/src/pod-log-proxy.js';
import { writeKubeconfig } from '../../../e2e/src/kubeconfig.js';
import { runKubectl } from '../../../e2e/src/kubectl.js';
import { Agent } from '../../src/agent.js';
import { CachingTokenReviewer, type TokenReviewResponse } from '../../src/node-server.js';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';
import { LABELS } from '../../src/runtime/types.js';
import { ensureSelfSignedCert, requestNodeCert } from '../../src/serving-cert.js';

const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',');
const id = randomBytes(4).toString('hex');
const prefix = `/agent-podspec-${id}`;
const ns = `agent-podspec-${id}`;
const nodeName = `podspec-node-${id}`;
const adminToken = randomBytes(24).toString('base64url');
const nodeToken = randomBytes(24).toString('base64url');
const log = createLogger('agent-podspec', { level: process.env.FLOTILLA_TEST_LOG ?? 'silent' });

let dir: string;
let storage: EtcdStorage;
let server: ApiServer;
let admin: RestClient;
let nodeClient: RestClient;
let runtime: DockerRuntime;
let kubeconfigPath: string;
let agentRun: { ac: AbortController; done: Promise<void> } | undefined;

async function deleteEtcdPrefix(keyPrefix: string): Promise<void> {
  const key = Buffer.from(keyPrefix);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  await fetch(`${endpoints[0]}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-podspec-'));
  const certs = await ensureServingCerts({ certDir: join(dir, 'certs'), hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
  const ca = certs.ca!;
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
  const url = `https://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  admin = new RestClient({ server: url, ca, token: adminToken });
  nodeClient = new RestClient({ server: url, ca, token: nodeToken });
  kubeconfigPath = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, { server: url, caPem: ca, token: adminToken, namespace: ns });
  const stateDir = join(dir, 'state');
  runtime = new DockerRuntime({ stateDir, nodeName, logger: log });
  for (const image of ['flotilla/pause:1', 'flotilla/busybox:1', 'flotilla/echo:1']) {
    if (!(await runtime.imageExists(image))) throw new Error(`image ${image} is missing: run scripts/images.sh`);
  }
  await admin.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const pki = join(dir, 'agent-pki');
  const tls = await ensureSelfSignedCert(pki, nodeName, '127.0.0.1');
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
    config: { nodeName, nodeIP: '127.0.0.1', logger: log, stateDir, relistIntervalMs: 1000, heartbeatIntervalMs: 1000, backoffInitialMs: 1000, backoffMaxMs: 4000 },
    client: nodeClient,
    runtime,
    nodeServer: { port: 0, host: '127.0.0.1', tls, clientCa: ca, reviewer, obtainCert },
  });
  const ac = new AbortController();
  agentRun = { ac, done: agent.run(ac.signal) };
  await agent.whenReady();
  await agent.whenServingCertReady();
});

afterAll(async () => {
  if (agentRun) {
    agentRun.ac.abort();
    await agentRun.done.catch(() => undefined);
  }
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
const events = async (name: string) => (await admin.resource<Event>('events').list(ns)).items.filter((e) => e.involvedObject?.name === name);
const sh = (script: string) => ['sh', '-c', script];

const { pod, podWhen } = testPods({ namespace: ns, nodeName, defaults: { restartPolicy: 'Always', terminationGracePeriodSeconds: 1 }, pods });

/** The STATUS column of `kubectl get pod` (computed from the statuses as kubectl prints it). */
async function kubectlStatus(name: string): Promise<string> {
  const r = await runKubectl(kubeconfigPath, ['get', 'pod', name, '--no-headers'], { cacheDir: join(dir, 'kubectl-cache') });
  if (r.code !== 0) throw new Error(`kubectl get pod ${name}: ${r.stderr}`);
  return r.stdout.trim().split(/\s+/)[2] ?? '';
}

/** Waits until `kubectl get pod` shows `status`. */
const kubectlShows = (name: string, status: string, timeoutMs = 30_000) =>
  waitFor(async () => ((await kubectlStatus(name)) === status ? true : undefined), { what: `${name}: kubectl shows ${status}`, timeoutMs, intervalMs: 300 });

/** The running app container of a pod. */
async function containerOf(podName: string, container = 'app'): Promise<string> {
  const c = (await runtime.listContainers()).find((x) => x.podNamespace === ns && x.podName === podName && x.containerName === container && x.state === 'running');
  if (!c) throw new Error(`no running container ${container} of ${podName}`);
  return c.id;
}

/** Output of a container's main process so far. */
const output = async (podName: string, container = 'app') => runtime.tailOutput(await containerOf(podName, container), 100);

describe('init containers on Docker', () => {
  it('run in order, each to completion, on a shared emptyDir before the app; kubectl shows Init:N/M then Running; kubectl logs -c', async () => {
    const work = [{ name: 'work', mountPath: '/work' }];
    await pods().create(
      pod('init-order', {
        volumes: [{ name: 'work', emptyDir: {} }],
        initContainers: [
          { name: 'first', image: 'flotilla/busybox:1', command: sh('sleep 2; echo first >> /work/order; echo first-done'), volumeMounts: work },
          { name: 'second', image: 'flotilla/busybox:1', command: sh('echo second >> /work/order'), volumeMounts: work },
        ],
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('echo app >> /work/order; cat /work/order; sleep 3600'), volumeMounts: work }],
      }),
    );
    const initializing = await podWhen('init-order', (p) => p.status?.initContainerStatuses?.[0]?.state?.running !== undefined, 'first init container running');
    expect(initializing.status?.phase).toBe('Pending');
    expect(initializing.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('False');
    expect(await kubectlStatus('init-order')).toBe('Init:0/2');
    const p = await podWhen('init-order', (x) => x.status?.phase === 'Running' && x.status.containerStatuses?.[0]?.state?.running !== undefined, 'Running');
    expect(p.status?.initContainerStatuses?.map((s) => [s.name, s.state?.terminated?.reason, s.state?.terminated?.exitCode])).toEqual([['first', 'Completed', 0], ['second', 'Completed', 0]]);
    expect(p.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
    await waitFor(async () => ((await output('init-order')).includes('app') ? true : undefined), { what: 'app output', timeoutMs: 10_000 });
    expect((await output('init-order')).trim().split('\n')).toEqual(['first', 'second', 'app']);
    await kubectlShows('init-order', 'Running');
    const logs = await runKubectl(kubeconfigPath, ['logs', 'init-order', '-c', 'first'], { cacheDir: join(dir, 'kubectl-cache') });
    expect(logs.stdout.trim()).toBe('first-done');
  });

  it('a failing init container blocks the app: Init:Error, then Init:CrashLoopBackOff with the back-off; app never created', async () => {
    await pods().create(
      pod('init-fail', {
        initContainers: [{ name: 'setup', image: 'flotilla/busybox:1', command: sh('echo cannot reach db; exit 3'), terminationMessagePolicy: 'FallbackToLogsOnError' }],
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600') }],
      }),
    );
    await kubectlShows('init-fail', 'Init:CrashLoopBackOff');
    const p = await getPod('init-fail');
    expect(p.status?.phase).toBe('Pending');
    const s = p.status?.initContainerStatuses?.[0];
    expect(s?.lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error', message: 'cannot reach db' });
    expect(s?.restartCount).toBeGreaterThanOrEqual(1);
    expect(p.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect((await runtime.listContainers()).some((c) => c.podName === 'init-fail' && c.containerName === 'app')).toBe(false);
    expect((await events('init-fail')).some((e) => e.reason === 'BackOff')).toBe(true);
  });

  it('with restartPolicy Never a failing init container fails the pod: Init:Error, phase Failed', async () => {
    await pods().create(
      pod('init-never', {
        restartPolicy: 'Never',
        initContainers: [{ name: 'setup', image: 'flotilla/busybox:1', command: sh('exit 1') }],
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600') }],
      }),
    );
    await podWhen('init-never', (p) => p.status?.phase === 'Failed', 'Failed');
    await kubectlShows('init-never', 'Init:Error');
    expect((await runtime.listContainers()).some((c) => c.podName === 'init-never' && c.containerName === 'app')).toBe(false);
  });
});

describe('lifecycle hooks on Docker', () => {
  it('postStart runs after the start; on delete preStop runs before the container gets SIGTERM', async () => {
    const hostDir = join(dir, 'hooks');
    await mkdir(hostDir, { recursive: true });
    const record = (what: string) => sh(`echo ${what} >> /data/order`);
    await pods().create(
      pod('hooks', {
        terminationGracePeriodSeconds: 10,
        volumes: [{ name: 'data', hostPath: { path: hostDir, type: 'Directory' } }],
        containers: [
          {
            name: 'app',
            image: 'flotilla/busybox:1',
            // The app records SIGTERM; sleep in short steps so the trap runs promptly.
            command: sh("trap 'echo term >> /data/order; exit 0' TERM; echo main >> /data/order; while true; do sleep 0.2; done"),
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
            lifecycle: { postStart: { exec: { command: record('poststart') } }, preStop: { exec: { command: sh('echo prestop >> /data/order; sleep 1') } } },
          },
        ],
      }),
    );
    await podWhen('hooks', (p) => p.status?.phase === 'Running', 'Running');
    await pods().delete(ns, 'hooks');
    await waitFor(async () => ((await readFile(join(hostDir, 'order'), 'utf8')).includes('term') ? true : undefined), { what: 'SIGTERM recorded', timeoutMs: 20_000 });
    const order = (await readFile(join(hostDir, 'order'), 'utf8')).trim().split('\n');
    // postStart races the main process's first line (as in Kubernetes); preStop strictly precedes SIGTERM.
    expect(order.slice(2)).toEqual(['prestop', 'term']);
    expect(order.slice(0, 2).sort()).toEqual(['main', 'poststart']);
  });

  it('a failing postStart hook: FailedPostStartHook Event, the container is killed and restarted', async () => {
    await pods().create(
      pod('bad-poststart', {
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600'), lifecycle: { postStart: { exec: { command: sh('echo no config; exit 7') } } } }],
      }),
    );
    await waitFor(async () => ((await events('bad-poststart')).some((e) => e.reason === 'FailedPostStartHook') ? true : undefined), { what: 'FailedPostStartHook', timeoutMs: 20_000 });
    const ev = (await events('bad-poststart')).find((e) => e.reason === 'FailedPostStartHook')!;
    expect(ev.message).toContain("command 'sh -c echo no config; exit 7' exited with 7: no config");
    await podWhen('bad-poststart', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted');
  });
});

describe('termination messages on Docker', () => {
  it('File reads only terminationMessagePath; FallbackToLogsOnError takes the output when the file is empty and the container failed', async () => {
    await pods().create(
      pod('messages', {
        restartPolicy: 'Never',
        containers: [
          { name: 'file', image: 'flotilla/busybox:1', command: sh('echo noise; echo "bye from the file" > /dev/termination-log; exit 1') },
          { name: 'custom', image: 'flotilla/busybox:1', command: sh('echo done > /tmp/msg'), terminationMessagePath: '/tmp/msg', securityContext: { runAsUser: 1000 } },
          { name: 'nofile', image: 'flotilla/busybox:1', command: sh('echo only in the logs; exit 2') },
          { name: 'fallback', image: 'flotilla/busybox:1', command: sh('echo only in the logs; exit 2'), terminationMessagePolicy: 'FallbackToLogsOnError' },
        ],
      }),
    );
    const p = await podWhen('messages', (x) => x.status?.phase === 'Failed', 'Failed');
    const msg = (name: string) => p.status?.containerStatuses?.find((s) => s.name === name)?.state?.terminated?.message;
    expect(msg('file')).toBe('bye from the file');
    expect(msg('custom')).toBe('done');
    expect(msg('nofile')).toBeUndefined();
    expect(msg('fallback')).toBe('only in the logs');
  });
});

describe('securityContext on Docker', () => {
  it('runAsUser/runAsGroup/supplementalGroups/fsGroup are the ids inside; the emptyDir belongs to fsGroup', async () => {
    await pods().create(
      pod('ids', {
        securityContext: { runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000], fsGroup: 2000 },
        volumes: [{ name: 'data', emptyDir: {} }],
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('echo uid=$(id -u) gid=$(id -g) groups=$(id -G); stat -c group=%g /data; touch /data/f && echo wrote; sleep 3600'), volumeMounts: [{ name: 'data', mountPath: '/data' }], securityContext: { runAsUser: 1234 } }],
      }),
    );
    await podWhen('ids', (p) => p.status?.phase === 'Running', 'Running');
    await waitFor(async () => ((await output('ids')).includes('wrote') ? true : undefined), { what: 'output', timeoutMs: 10_000 });
    const out = await output('ids');
    expect(out).toMatch(/^uid=1234 gid=3000 groups=/m);
    expect(/groups=(.*)$/m.exec(out)![1]!.split(' ').sort()).toEqual(['2000', '3000', '4000']);
    expect(out).toMatch(/^group=2000$/m);
  });

  it('readOnlyRootFilesystem refuses a write; capabilities drop ALL and allowPrivilegeEscalation=false reach the process', async () => {
    await pods().create(
      pod('locked', {
        volumes: [{ name: 'tmp', emptyDir: {} }],
        containers: [
          {
            name: 'app',
            image: 'flotilla/busybox:1',
            command: sh('touch /x 2>&1 || echo REFUSED; touch /tmp/ok && echo TMP-OK; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; sleep 3600'),
            volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      }),
    );
    await podWhen('locked', (p) => p.status?.phase === 'Running', 'Running');
    await waitFor(async () => ((await output('locked')).includes('NoNewPrivs') ? true : undefined), { what: 'output', timeoutMs: 10_000 });
    const out = await output('locked');
    expect(out).toContain('Read-only file system');
    expect(out).toContain('REFUSED');
    expect(out).toContain('TMP-OK');
    expect(out).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(out).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  it('runAsNonRoot with an image that runs as root: CreateContainerConfigError with the reason, nothing started', async () => {
    await pods().create(pod('nonroot', { securityContext: { runAsNonRoot: true }, containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600') }] }));
    const p = await podWhen('nonroot', (x) => x.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError', 'CreateContainerConfigError');
    expect(p.status?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(/^container has runAsNonRoot and image will run as root \(pod: "nonroot_.*", container: app\)$/);
    await kubectlShows('nonroot', 'CreateContainerConfigError');
    expect((await runtime.listContainers()).some((c) => c.podName === 'nonroot' && c.type === 'container')).toBe(false);
    // A runAsUser that is not 0 satisfies it.
    await pods().create(pod('nonroot-ok', { securityContext: { runAsNonRoot: true, runAsUser: 1000 }, containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600') }] }));
    await podWhen('nonroot-ok', (x) => x.status?.phase === 'Running', 'Running');
  });

  it('namespaced sysctls are set on the pod; shareProcessNamespace shows the sandbox as PID 1; hostAliases and subdomain in /etc/hosts', async () => {
    await pods().create(
      pod('kernel', {
        shareProcessNamespace: true,
        hostname: 'web',
        subdomain: 'backends',
        hostAliases: [{ ip: '10.1.2.3', hostnames: ['db.local', 'db'] }],
        securityContext: { sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '0' }, { name: 'net.ipv4.ip_local_port_range', value: '20000 21000' }] },
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('echo syncookies=$(cat /proc/sys/net/ipv4/tcp_syncookies); echo range=$(cat /proc/sys/net/ipv4/ip_local_port_range); echo pid1=$(cat /proc/1/cmdline | tr "\\0" " "); echo hostname=$(hostname); cat /etc/hosts; echo end-of-output; sleep 3600') }],
      }),
    );
    await podWhen('kernel', (p) => p.status?.phase === 'Running', 'Running');
    // Wait for the last line: /etc/hosts comes from a `cat` after the shell's builtin echoes, and a log read can fall between them.
    await waitFor(async () => ((await output('kernel')).includes('end-of-output') ? true : undefined), { what: 'output', timeoutMs: 10_000 });
    const out = await output('kernel');
    expect(out).toMatch(/^syncookies=0$/m);
    expect(out).toMatch(/^range=20000 21000$/m);
    expect(out).not.toMatch(/^pid1=sh /m);
    expect(out).toMatch(/^hostname=web$/m);
    expect(out).toMatch(new RegExp(`\\sweb\\.backends\\.${ns}\\.svc\\.cluster\\.local(\\s|$)`, 'm'));
    expect(out).toMatch(/^10\.1\.2\.3\s+db\.local$/m);
  });
});

describe('hostNetwork on Docker', () => {
  it('a hostNetwork pod listens in the host namespace and its pod IP is the node IP', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    await pods().create(
      pod('hostnet', {
        hostNetwork: true,
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh(`mkdir -p /www && echo from-host-net > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`), ports: [{ containerPort: port }] }],
      }),
    );
    const p = await podWhen('hostnet', (x) => x.status?.phase === 'Running', 'Running');
    expect(p.status?.podIP).toBe('127.0.0.1');
    const body = await waitFor(async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        return await res.text();
      } catch {
        return undefined;
      }
    }, { what: 'the pod answering on the host', timeoutMs: 15_000, intervalMs: 200 });
    expect(body.trim()).toBe('from-host-net');
  });
});

describe('activeDeadlineSeconds and startupProbe on Docker', () => {
  it('activeDeadlineSeconds: the containers are stopped, the pod Failed with DeadlineExceeded and an Event', async () => {
    await pods().create(pod('deadline', { activeDeadlineSeconds: 3, containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600') }] }));
    await podWhen('deadline', (p) => p.status?.phase === 'Running', 'Running');
    const p = await podWhen('deadline', (x) => x.status?.phase === 'Failed', 'Failed', 20_000);
    expect(p.status).toMatchObject({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect((await events('deadline')).some((e) => e.reason === 'DeadlineExceeded' && e.type === 'Warning')).toBe(true);
    await waitFor(async () => ((await runtime.listContainers()).filter((c) => c.podName === 'deadline').every((c) => c.state !== 'running') ? true : undefined), { what: 'stopped', timeoutMs: 15_000 });
    // As in Kubernetes, kubectl then prints the killed container's reason (Error), not the pod's.
    const after = await getPod('deadline');
    expect(after.status?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
    expect(after.status?.reason).toBe('DeadlineExceeded');
  });

  it('startupProbe holds readiness (and liveness) until it succeeds', async () => {
    await pods().create(
      pod('slow-start', {
        containers: [
          {
            name: 'app',
            image: 'flotilla/busybox:1',
            command: sh('sleep 4; touch /tmp/started; sleep 3600'),
            // Generous timeouts: on a loaded machine an exec can take over the 1 s default, which is not what this tests.
            startupProbe: { exec: { command: ['cat', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 30, timeoutSeconds: 10 },
            readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1, timeoutSeconds: 10 },
            // Would kill the container at once if it ran before the startup probe passed.
            livenessProbe: { exec: { command: ['cat', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 10 },
          },
        ],
      }),
    );
    const early = await podWhen('slow-start', (p) => p.status?.containerStatuses?.[0]?.state?.running !== undefined, 'running');
    expect(early.status?.containerStatuses?.[0]).toMatchObject({ started: false, ready: false });
    const p = await podWhen('slow-start', (x) => x.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 'Ready', 30_000);
    expect(p.status?.containerStatuses?.[0]).toMatchObject({ started: true, ready: true, restartCount: 0 });
  });

  it('a startupProbe that reaches its failureThreshold restarts the container', async () => {
    await pods().create(
      pod('never-starts', {
        containers: [{ name: 'app', image: 'flotilla/busybox:1', command: sh('sleep 3600'), startupProbe: { exec: { command: ['cat', '/nope'] }, periodSeconds: 1, failureThreshold: 2 } }],
      }),
    );
    await podWhen('never-starts', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted', 30_000);
    expect((await events('never-starts')).some((e) => e.reason === 'Killing' && /failed startup probe/.test(e.message ?? ''))).toBe(true);
  });
});
