/**
 * Pods on a real Docker host get the cluster's DNS: a worker host made by
 * createHosts (a network namespace with its own dockerd), a real agent with
 * `--cluster-dns 10.96.0.10`, and `flotilla dns` on the hosts' bridge
 * address (the root namespace, as scripts/up.sh runs it).
 *
 * - a ClusterFirst pod's /etc/resolv.conf and its service variables;
 * - enableServiceLinks: false, dnsPolicy Default;
 * - names resolved from inside a pod by the C library (search path, ndots)
 *   against the DNS server's address directly: a dnsPolicy None pod naming
 *   it. Through 10.96.0.10 needs `flotilla proxy` (not on this branch), and
 *   no packet may go to the service range before its sink exists, so the
 *   ClusterFirst pods here never resolve anything.
 */
import { randomBytes } from 'node:crypto';
import type { Namespace, Pod, Service } from '@flotilla/api';
import { flotillaBin, startCluster, waitFor, type TestCluster } from '@flotilla/e2e';
import { statusPortReady, superviseProcess, type SupervisedProcess } from '../../e2e/src/child-process.js';
import { createHosts, type HostCluster } from '../../e2e/src/hosts.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../src/testing/index.js';

const ns = `pdns-${randomBytes(3).toString('hex')}`;
let hosts: HostCluster | undefined;
let cluster: TestCluster | undefined;
let upstream: FakeUpstream | undefined;
let dns: SupervisedProcess | undefined;
let clusterIP = '';

const pods = () => cluster!.client.resource<Pod>({ apiVersion: 'v1', kind: 'Pod' });
const host = () => hosts!.hosts[0]!;

/** Creates a pod on node-1 and waits until it runs; returns its app container's engine id. */
async function runPod(name: string, spec: Partial<Pod['spec']> & { image?: string; command?: string[] } = {}): Promise<string> {
  const { image = 'flotilla/busybox:1', command = ['sleep', '3600'], containers, ...rest } = spec;
  await pods().create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { nodeName: 'node-1', terminationGracePeriodSeconds: 1, containers: containers ?? [{ name: 'app', image, imagePullPolicy: 'Never', command }], ...rest },
  });
  await waitFor(async () => (await pods().get(ns, name)).status?.phase === 'Running', { message: `pod ${name} Running`, timeout: 60_000 });
  const ids = await host().docker(['ps', '-q', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--filter', `label=io.flotilla.pod.name=${name}`, '--filter', 'label=io.flotilla.container.name=app']);
  expect(ids).not.toBe('');
  return ids.split('\n')[0]!;
}

const exec = (id: string, argv: string[]) => host().docker(['exec', id, ...argv]);
const envOf = async (id: string) => Object.fromEntries((await exec(id, ['env'])).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

beforeAll(async () => {
  hosts = await createHosts(1, { prefix: 'dns' });
  const h = host();
  // The agent runs inside the host's namespace and reaches the apiserver on the hosts' bridge; with no
  // controller-manager here its pod range is fixed (--pod-cidr: the first /24 of the cluster's range),
  // and the cluster's host-routes process routes it from the root namespace (where flotilla dns answers).
  cluster = await startCluster({
    apiserver: { bindAddress: hosts.gateway },
    clusterCIDR: hosts.podCIDR,
    nodes: [{ name: 'node-1', docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns, podCIDR: hosts.podCIDR.replace(/\/20$/, '/24') }, extraArgs: ['--cluster-dns', '10.96.0.10', '--cluster-domain', 'cluster.local'] }],
    controllerManagers: 0,
    schedulers: 0,
  });
  upstream = await startFakeUpstream({ 'outside.test': '192.0.2.7' });
  dns = superviseProcess({
    name: 'dns',
    readyMessage: 'flotilla dns to serve',
    readyTimeout: 30_000,
    stopGraceMs: 10_000,
    incarnation: async () => ({
      args: [flotillaBin(), 'dns', '--kubeconfig', cluster!.api.kubeconfigPath, '--bind-address', hosts!.gateway, '--port', '53', '--upstream', `127.0.0.1:${upstream!.port}`, '--forward-timeout', '1s', '--metrics-port', '0', '--identity', `test-${ns}`],
      command: `flotilla dns --bind-address ${hosts!.gateway}`,
      ready: statusPortReady,
    }),
  });
  await dns.launch();
  await cluster.client.resource<Namespace>({ apiVersion: 'v1', kind: 'Namespace' }).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const svc = await cluster.client.resource<Service>({ apiVersion: 'v1', kind: 'Service' }).create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web-front', namespace: ns },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  });
  clusterIP = svc.spec!.clusterIP!;
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- logs after "${task.name}" failed\n${cluster.dumpLogs()}\n--- dns\n${dns?.logs().slice(-4000)}`);
});

afterAll(async () => {
  await dns?.stop();
  await cluster?.stop();
  if (hosts) {
    const ids = await host().docker(['ps', '-aq', '--filter', `label=io.flotilla.pod.namespace=${ns}`]).catch(() => '');
    if (ids) await host().docker(['rm', '-f', ...ids.split('\n')]).catch(() => undefined);
  }
  await hosts?.delete();
  await upstream?.close();
}, 120_000);

describe('pods on a real Docker host get cluster DNS and service variables', () => {
  it('a ClusterFirst pod: resolv.conf names the cluster DNS with the namespace search path and ndots:5; service variables are set', async () => {
    const id = await runPod('first');
    const resolv = await exec(id, ['cat', '/etc/resolv.conf']);
    expect(resolv.split('\n')).toEqual([`search ${ns}.svc.cluster.local svc.cluster.local cluster.local`, 'nameserver 10.96.0.10', 'options ndots:5']);
    const env = await envOf(id);
    expect(env).toMatchObject({
      WEB_FRONT_SERVICE_HOST: clusterIP,
      WEB_FRONT_SERVICE_PORT: '80',
      WEB_FRONT_SERVICE_PORT_HTTP: '80',
      WEB_FRONT_PORT: `tcp://${clusterIP}:80`,
      WEB_FRONT_PORT_80_TCP_ADDR: clusterIP,
      KUBERNETES_SERVICE_PORT: '443',
    });
    expect(env.KUBERNETES_SERVICE_HOST).toMatch(/^10\.96\./);
  });

  it('enableServiceLinks: false keeps only the kubernetes variables; dnsPolicy Default copies the host resolv.conf', async () => {
    const id = await runPod('nolinks', { enableServiceLinks: false, dnsPolicy: 'Default' });
    const env = await envOf(id);
    expect(env.WEB_FRONT_SERVICE_HOST).toBeUndefined();
    expect(env.KUBERNETES_SERVICE_HOST).toMatch(/^10\.96\./);
    const resolv = await exec(id, ['cat', '/etc/resolv.conf']);
    const hostServers = (await import('node:fs')).readFileSync('/etc/resolv.conf', 'utf8').split('\n').filter((l) => l.startsWith('nameserver'));
    expect(resolv.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual(hostServers.map((l) => l.trim().replace(/\s+/g, ' ')));
  });

  it('names resolve from inside a pod through the search path against the DNS server', async () => {
    const id = await runPod('resolver', {
      image: 'flotilla/httpd:1',
      command: ['/usr/local/bin/node', '/srv/server.js'],
      dnsPolicy: 'None',
      dnsConfig: { nameservers: [hosts!.gateway], searches: [`${ns}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'], options: [{ name: 'ndots', value: '5' }, { name: 'timeout', value: '2' }] },
    });
    const script =
      "const d=require('dns');Promise.all(process.argv.slice(1).map(n=>d.promises.lookup(n,{family:4}).then(r=>n+'='+r.address,e=>n+'='+e.code))).then(x=>console.log(x.join(' ')))";
    const out = await exec(id, ['/usr/local/bin/node', '-e', script, 'web-front', `web-front.${ns}`, `web-front.${ns}.svc.cluster.local`, 'kube-dns.kube-system', 'outside.test', 'nope-nothing']);
    expect(out.split(' ')).toEqual([
      `web-front=${clusterIP}`,
      `web-front.${ns}=${clusterIP}`,
      `web-front.${ns}.svc.cluster.local=${clusterIP}`,
      'kube-dns.kube-system=10.96.0.10',
      'outside.test=192.0.2.7',
      'nope-nothing=ENOTFOUND',
    ]);
    expect(upstream!.asked).toContain('outside.test A');
  });

  it('flotilla/httpd names its replica, serves 64 KiB bodies, and /unready makes its readiness probe fail', async () => {
    await runPod('backend', {
      image: 'flotilla/httpd:1',
      command: ['/usr/local/bin/node', '/srv/server.js'],
      containers: [
        {
          name: 'app',
          image: 'flotilla/httpd:1',
          imagePullPolicy: 'Never',
          ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const ready = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    const pod = await waitFor(async () => {
      const p = await pods().get(ns, 'backend');
      return ready(p) === 'True' ? p : undefined;
    }, { message: 'backend Ready', timeout: 30_000 });
    const ip = pod.status!.podIP!;
    // The pod network is routed from the root namespace to the host (scripts/hosts.sh).
    const hello = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(5000) });
    expect(await hello.text()).toBe(`backend ${ip}\n`);
    expect(hello.headers.get('x-hostname')).toBe('backend');
    const big = await fetch(`http://${ip}:8080/bytes/65536`, { signal: AbortSignal.timeout(5000) });
    expect((await big.arrayBuffer()).byteLength).toBe(65536);
    await (await fetch(`http://${ip}:8080/unready`, { signal: AbortSignal.timeout(5000) })).text();
    await waitFor(async () => ready(await pods().get(ns, 'backend')) === 'False', { message: 'backend not Ready after /unready', timeout: 30_000 });
    await (await fetch(`http://${ip}:8080/ready`, { signal: AbortSignal.timeout(5000) })).text();
    await waitFor(async () => ready(await pods().get(ns, 'backend')) === 'True', { message: 'backend Ready again after /ready', timeout: 30_000 });
  });
});
