/**
 * `flotilla dns` as a real process against a real apiserver over real etcd:
 * the records of Services and EndpointSlices made through the API, answered
 * over UDP and TCP on loopback; a name outside the zone forwarded to a fake
 * upstream on 127.0.0.1 (never to a real outside server); the kube-dns
 * Service and this server's endpoint; a changed Service seen at once; the
 * server leaving the endpoints when it stops.
 */
import { randomBytes } from 'node:crypto';
import type { EndpointSlice, Endpoints, Namespace, Service } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import { flotillaBin, freePort, startApiServer, waitFor, type TestApiServer } from '@flotilla/e2e';
import { healthyStatusPort, superviseProcess, type SupervisedProcess } from '../../e2e/src/child-process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryDns, startFakeUpstream, type FakeUpstream } from '../src/testing/index.js';

const ns = `dns-${randomBytes(3).toString('hex')}`;
let api: TestApiServer | undefined;
let client: RestClient;
let upstream: FakeUpstream | undefined;
let dns: SupervisedProcess | undefined;
let dnsPort = 0;
let metricsPort = 0;

const ask = (name: string, type = 'A', tcp = false) => queryDns('127.0.0.1', dnsPort, name, type, { tcp });
const ips = async (name: string) => (await ask(name)).answers.filter((a) => a.type === 'A').map((a) => a.data as string).sort();

beforeAll(async () => {
  api = await startApiServer();
  client = RestClient.fromKubeconfig(api.kubeconfigPath);
  upstream = await startFakeUpstream({ 'outside.test': '192.0.2.7' });
  dnsPort = await freePort();
  dns = superviseProcess({
    name: 'dns',
    readyMessage: 'flotilla dns to serve',
    readyTimeout: 30_000,
    stopGraceMs: 10_000,
    incarnation: async () => {
      const args = [
        flotillaBin(), 'dns',
        '--kubeconfig', api!.kubeconfigPath,
        '--bind-address', '127.0.0.1',
        '--port', String(dnsPort),
        '--upstream', `127.0.0.1:${upstream!.port}`,
        '--forward-timeout', '1s',
        '--metrics-port', '0',
        '--identity', `test-${ns}`,
      ];
      return { args, command: `flotilla dns --port ${dnsPort}`, ready: async (_, output) => {
          metricsPort = (await healthyStatusPort(output())) ?? 0;
          return metricsPort > 0;
        },
      };
    },
  });
  await dns.launch();
  await client.resource<Namespace>({ apiVersion: 'v1', kind: 'Namespace' }).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const services = client.resource<Service>({ apiVersion: 'v1', kind: 'Service' });
  await services.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: ns },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }] },
  });
  await services.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: ns }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] } });
  await client.resource<EndpointSlice>({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }).create({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'db-1', namespace: ns, labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.244.1.5'], hostname: 'db-0', conditions: { ready: true } },
      { addresses: ['10.244.2.6'], hostname: 'db-1', conditions: { ready: true } },
      { addresses: ['10.244.3.7'], hostname: 'db-2', conditions: { ready: false } },
    ],
    ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  });
}, 120_000);

afterAll(async () => {
  await dns?.stop();
  await upstream?.close();
  await client?.close();
  await api?.stop();
}, 60_000);

describe('flotilla dns against a real apiserver', () => {
  it('answers a Service with its ClusterIP, over UDP and TCP', async () => {
    const svc = await client.resource<Service>({ apiVersion: 'v1', kind: 'Service' }).get(ns, 'web');
    const ip = svc.spec!.clusterIP!;
    await waitFor(async () => (await ips(`web.${ns}.svc.cluster.local`))[0] === ip, { message: 'web resolves', timeout: 10_000 });
    const tcp = await ask(`web.${ns}.svc.cluster.local`, 'A', true);
    expect(tcp.answers.map((a) => a.data)).toEqual([ip]);
    expect(tcp.flag_aa).toBe(true);
  });

  it('answers SRV for a named port, with the target address as additional', async () => {
    const r = await ask(`_http._tcp.web.${ns}.svc.cluster.local`, 'SRV');
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers.map((a) => a.data)).toEqual([{ priority: 0, weight: 100, port: 80, target: `web.${ns}.svc.cluster.local` }]);
    expect(r.additionals.filter((a) => a.type === 'A')).toHaveLength(1);
  });

  it('answers a headless Service with its ready endpoints, and each endpoint by hostname', async () => {
    expect(await ips(`db.${ns}.svc.cluster.local`)).toEqual(['10.244.1.5', '10.244.2.6']);
    expect(await ips(`db-1.db.${ns}.svc.cluster.local`)).toEqual(['10.244.2.6']);
    expect((await ask(`db-2.db.${ns}.svc.cluster.local`)).rcode).toBe('NXDOMAIN');
    const srv = await ask(`_pg._tcp.db.${ns}.svc.cluster.local`, 'SRV');
    expect(srv.answers.map((a) => (a.data as { target: string }).target).sort()).toEqual([`db-0.db.${ns}.svc.cluster.local`, `db-1.db.${ns}.svc.cluster.local`]);
  });

  it('answers pod names, NXDOMAIN for missing names and no data for AAAA', async () => {
    expect(await ips(`10-244-1-5.${ns}.pod.cluster.local`)).toEqual(['10.244.1.5']);
    const nx = await ask(`nope.${ns}.svc.cluster.local`);
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.authorities.map((a) => a.type)).toEqual(['SOA']);
    const aaaa = await ask(`web.${ns}.svc.cluster.local`, 'AAAA');
    expect(aaaa.rcode).toBe('NOERROR');
    expect(aaaa.answers).toEqual([]);
  });

  it('forwards a name outside the zone to the upstream', async () => {
    expect(await ips('outside.test')).toEqual(['192.0.2.7']);
    expect(upstream!.asked).toContain('outside.test A');
    expect((await ask('missing.test', 'A', true)).rcode).toBe('NXDOMAIN');
  });

  it('keeps the kube-dns Service at 10.96.0.10 with this server as its endpoint', async () => {
    const svc = await waitFor(() => client.resource<Service>({ apiVersion: 'v1', kind: 'Service' }).get('kube-system', 'kube-dns').catch(() => undefined), { message: 'kube-dns service' });
    expect(svc.spec?.clusterIP).toBe('10.96.0.10');
    expect(svc.spec?.ports?.map((p) => [p.name, p.port, p.protocol])).toEqual([
      ['dns', 53, 'UDP'],
      ['dns-tcp', 53, 'TCP'],
    ]);
    const slices = await waitFor(async () => {
      const l = await client.resource<EndpointSlice>({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }).list('kube-system', { labelSelector: 'kubernetes.io/service-name=kube-dns' });
      return l.items.length > 0 ? l.items : undefined;
    }, { message: 'kube-dns slice' });
    expect(slices.flatMap((s) => s.endpoints.flatMap((e) => e.addresses))).toContain('127.0.0.1');
    expect(slices[0]!.ports).toContainEqual({ name: 'dns', protocol: 'UDP', port: dnsPort });
    const ep = await client.resource<Endpoints>({ apiVersion: 'v1', kind: 'Endpoints' }).get('kube-system', 'kube-dns');
    expect(ep.subsets?.[0]?.addresses?.map((a) => a.ip)).toContain('127.0.0.1');
    // kube-dns resolves through itself too.
    expect(await ips('kube-dns.kube-system.svc.cluster.local')).toEqual(['10.96.0.10']);
  });

  it('sees a Service deleted at once, and counts queries by type and rcode in /metrics', async () => {
    await client.resource<Service>({ apiVersion: 'v1', kind: 'Service' }).delete(ns, 'web');
    await waitFor(async () => (await ask(`web.${ns}.svc.cluster.local`)).rcode === 'NXDOMAIN', { message: 'web gone', timeout: 10_000 });
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(/dns_requests_total\{proto="udp",source="zone",type="A"\} \d+/);
    expect(text).toMatch(/dns_responses_total\{rcode="NXDOMAIN",source="zone"\} \d+/);
    expect(text).toMatch(/dns_forward_duration_seconds_count \d+/);
    expect(text).toMatch(/dns_cached_objects\{resource="services"\} \d+/);
  });

  it('leaves the kube-dns endpoints when stopped', async () => {
    await dns!.stop();
    await waitFor(async () => {
      const l = await client.resource<EndpointSlice>({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }).list('kube-system', { labelSelector: 'kubernetes.io/service-name=kube-dns' });
      return l.items.length === 0;
    }, { message: 'kube-dns slice removed', timeout: 10_000 });
    const ep = await client.resource<Endpoints>({ apiVersion: 'v1', kind: 'Endpoints' }).get('kube-system', 'kube-dns');
    expect(ep.subsets ?? []).toEqual([]);
  });
});
