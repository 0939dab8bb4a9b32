/**
 * UDP flows and LoadBalancer Services, end to end (3 hosts with an agent
 * and a proxy each, a 4th host with neither, the root namespace's proxy):
 *
 * - a UDP echo Service whose only endpoint is replaced while a client keeps
 *   sending from the same source port (as a DNS resolver does): once the
 *   new pod is the endpoint, the client reaches it — the proxies deleted the
 *   conntrack flow that pinned it to the dead pod;
 * - `type: LoadBalancer`: the controller manager publishes the nodes'
 *   addresses in status.loadBalancer.ingress (`kubectl get svc` shows them
 *   as EXTERNAL-IP), and the Service answers on each of them at its own
 *   port, from the root namespace and from a host that runs no proxy;
 *   `externalTrafficPolicy: Local` lists only the node holding the pod;
 *   `spec.externalIPs` answer the same way.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Deployment, Pod, Service } from '@flotilla/api';
import { run, runKubectl, waitFor } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServiceEnv, type ServiceEnv } from './harness.js';

let env: ServiceEnv;
let ns = '';
const api = () => env.cluster.client;
const pods = () => api().resource<Pod>('pods');
const services = () => api().resource<Service>('services');

/** A UDP echo: answers every datagram with the pod's name. */
const UDP_ECHO = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(require('os').hostname(),r.port,r.address));s.bind(5353);process.on('SIGTERM',()=>process.exit(0))`;

function deployment(name: string, replicas: number, container: Record<string, unknown>, nodeName?: string): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          ...(nodeName ? { nodeSelector: { 'kubernetes.io/hostname': nodeName } } : {}),
          containers: [{ name: 'c', image: 'flotilla/httpd:1', resources: { requests: { cpu: '10m', memory: '16Mi' } }, ...container }],
        },
      },
    },
  } as Deployment;
}

const readyPods = async (app: string) =>
  (await pods().list(ns, { labelSelector: `app=${app}` })).items.filter((p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));

/** GET through curl run in `where` (a host's namespace, or the root one): the body, or '' on failure. */
async function curl(where: 'root' | number, url: string): Promise<string> {
  const argv = ['curl', '-s', '--max-time', '3', url];
  const r = where === 'root' ? await run(argv[0]!, argv.slice(1)) : await env.hosts.hosts[where - 1]!.exec(argv);
  return r.code === 0 ? r.stdout : '';
}

beforeAll(async () => {
  env = await startServiceEnv({ hosts: 4, withAgents: 3, prefix: 'ul' });
  ns = `ulb-${randomBytes(3).toString('hex')}`;
  await api().resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
}, 400_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && env) console.error(`--- logs after "${task.name}" failed\n${env.dumpLogs()}`);
});

afterAll(async () => {
  await env?.stop();
}, 180_000);

describe('UDP Services', () => {
  it('an endpoint replaced: a client that keeps its source port reaches the new pod (stale conntrack flow deleted)', async () => {
    await api().resource<Deployment>('deployments').create(deployment('udp', 1, { command: ['/usr/local/bin/node', '-e', UDP_ECHO] }));
    const svc = await services().create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'udp', namespace: ns }, spec: { selector: { app: 'udp' }, ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }] } });
    const [first] = await waitFor(async () => ((await readyPods('udp')).length === 1 ? readyPods('udp') : undefined), { timeout: 120_000, message: 'udp pod ready' });
    const sock = createSocket('udp4');
    const answers: string[] = [];
    sock.on('message', (m) => answers.push(m.toString()));
    await new Promise<void>((resolve) => sock.bind(0, '0.0.0.0', resolve));
    // One datagram every 100 ms from one source port: the flow never idles out.
    const timer = setInterval(() => sock.send('ping', 53, svc.spec!.clusterIP!), 100);
    try {
      await waitFor(() => answers.includes(first!.metadata.name!), { timeout: 30_000, message: `answers from ${first!.metadata.name}` });
      const deletedBefore = await env.proxies.get('root')!.metric('kubeproxy_conntrack_stale_flows_deleted_total{protocol="udp"}');
      await pods().delete(ns, first!.metadata.name!);
      const second = await waitFor(async () => (await readyPods('udp')).find((p) => p.metadata.name !== first!.metadata.name), { timeout: 120_000, message: 'replacement udp pod ready' });
      const from = answers.length;
      await waitFor(() => answers.slice(from).includes(second.metadata.name!), { timeout: 30_000, message: `the same client socket answered by ${second.metadata.name}` });
      expect(await env.proxies.get('root')!.metric('kubeproxy_conntrack_stale_flows_deleted_total{protocol="udp"}')).toBeGreaterThan(deletedBefore);
    } finally {
      clearInterval(timer);
      sock.close();
    }
  }, 300_000);
});

describe('LoadBalancer Services', () => {
  it('ingress = the nodes’ addresses (EXTERNAL-IP), answering at the service port from the root namespace and from a host without a proxy; externalIPs too', async () => {
    await api().resource<Deployment>('deployments').create(deployment('lb', 2, { ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 } }));
    const extIP = env.hosts.hosts[3]!.ip.replace(/\.\d+$/, '.250');
    await services().create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb', namespace: ns }, spec: { type: 'LoadBalancer', selector: { app: 'lb' }, externalIPs: [extIP], ports: [{ name: 'http', port: 8088, targetPort: 'http' }] } });
    await waitFor(async () => (await readyPods('lb')).length === 2, { timeout: 120_000, message: '2 lb pods ready' });
    const nodeIPs = env.hosts.hosts.slice(0, 3).map((h) => h.ip).sort();
    const svc = await waitFor(async () => {
      const s = await services().get(ns, 'lb');
      return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).sort().join() === nodeIPs.join() ? s : undefined;
    }, { timeout: 30_000, message: 'ingress = the 3 node IPs' });
    expect(svc.spec?.ports?.[0]?.nodePort).toBeGreaterThan(0);
    const table = await runKubectl(env.cluster.api.kubeconfigPath, ['get', 'svc', 'lb', '-n', ns]);
    expect(table.stdout).toMatch(/EXTERNAL-IP/);
    for (const ip of nodeIPs) expect(table.stdout).toContain(ip);
    // An external IP is the network's to route to a node (here: host 4's route to host 1); the root namespace's proxy catches it itself.
    const r = await env.hosts.hosts[3]!.exec(['ip', 'route', 'replace', `${extIP}/32`, 'via', env.hosts.hosts[0]!.ip]);
    expect(r.code).toBe(0);
    for (const ip of [...nodeIPs, extIP]) {
      // Host 4 runs no proxy: what answers there is the receiving node's PREROUTING rules.
      for (const where of ['root', 4] as const) await waitFor(async () => /^lb-/.test(await curl(where, `http://${ip}:8088/`)), { timeout: 30_000, message: `${ip}:8088 from ${where}` });
    }
  }, 300_000);

  it('externalTrafficPolicy Local: only the node holding the pod is listed, and it answers', async () => {
    await api().resource<Deployment>('deployments').create(deployment('local', 1, { ports: [{ name: 'http', containerPort: 8080 }] }, 'node-2'));
    await services().create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'local', namespace: ns }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'local' }, ports: [{ name: 'http', port: 8089, targetPort: 'http' }] } });
    const [p] = await waitFor(async () => ((await readyPods('local')).length === 1 ? readyPods('local') : undefined), { timeout: 120_000, message: 'local pod ready' });
    const host = env.hostOf(p!);
    await waitFor(async () => (await services().get(ns, 'local')).status?.loadBalancer?.ingress?.map((i) => i.ip).join() === host.ip, { timeout: 30_000, message: `ingress = ${host.ip} only` });
    await waitFor(async () => /^local-/.test(await curl(4, `http://${host.ip}:8089/`)), { timeout: 30_000, message: `${host.ip}:8089 from host 4` });
  }, 300_000);
});
