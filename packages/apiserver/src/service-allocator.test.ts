import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesServiceReconciler } from './kubernetes-service.js';
import { RangeAllocator } from './range-allocator.js';
import { ServiceAllocator } from './service-allocator.js';
import { parsePortRange, parseServiceCidr } from './service-ranges.js';
import { MemoryStorage, startTestApiServer, type TestApiServer } from './testing/index.js';

const SVCS = '/api/v1/namespaces/default/services';
const MERGE = { 'content-type': 'application/merge-patch+json' };

function svc(name: string, spec: Record<string, unknown> = {}) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec } };
}

let servers: TestApiServer[] = [];
async function server(opts: Parameters<typeof startTestApiServer>[0] = {}) {
  const s = await startTestApiServer(opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe('ranges', () => {
  it('parses the flags like kube-apiserver', () => {
    const r = parseServiceCidr('10.96.3.7/16');
    expect([r.text, r.format(r.min), r.format(r.max)]).toEqual(['10.96.0.0/16', '10.96.0.1', '10.96.255.254']);
    expect(() => parseServiceCidr('10.0.0.0/8')).toThrow(/too large/);
    expect(() => parseServiceCidr('fd00::/108')).toThrow(/IPv4 CIDR/);
    expect(parsePortRange('30000-32767')).toMatchObject({ min: 30000, max: 32767 });
    expect(() => parsePortRange('32767-30000')).toThrow(/FROM-TO/);
  });
});

describe('cluster IP allocation', () => {
  it('allocates a free IP from the range on create, never the network or broadcast address', async () => {
    const s = await server();
    const r = await s.request('POST', SVCS, svc('a'));
    expect(r.status).toBe(201);
    const ip: string = r.body.spec.clusterIP;
    expect(ip).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(['10.96.0.0', '10.96.255.255']).not.toContain(ip);
    expect(r.body.spec.clusterIPs).toEqual([ip]);
    expect(r.body.spec).toMatchObject({ ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' });
  });

  it('gives a requested IP when free and 422 when taken or out of range; headless stays None', async () => {
    const s = await server();
    expect((await s.request('POST', SVCS, svc('a', { clusterIP: '10.96.5.5' }))).body.spec.clusterIP).toBe('10.96.5.5');
    const taken = await s.request('POST', SVCS, svc('b', { clusterIP: '10.96.5.5' }));
    expect(taken.status).toBe(422);
    expect(taken.body.message).toBe('Service "b" is invalid: spec.clusterIP: Invalid value: "10.96.5.5": provided IP is already allocated');
    expect(taken.body.details.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'spec.clusterIP', message: 'Invalid value: "10.96.5.5": provided IP is already allocated' }]);
    const out = await s.request('POST', SVCS, svc('c', { clusterIP: '192.168.0.1' }));
    expect(out.status).toBe(422);
    expect(out.body.message).toContain('spec.clusterIP: Invalid value: "192.168.0.1": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16');
    const h = await s.request('POST', SVCS, svc('h', { clusterIP: 'None' }));
    expect(h.status).toBe(201);
    expect(h.body.spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'] });
  });

  it('releases on delete, and a failed create gives its IP back; a full range is a 422 naming the field', async () => {
    const s = await server({ serviceClusterIPRange: '10.0.0.0/30' }); // two addresses: .1 and .2
    expect((await s.request('POST', SVCS, svc('a'))).status).toBe(201);
    expect((await s.request('POST', SVCS, svc('a'))).status).toBe(409);
    expect((await s.request('POST', SVCS, svc('b'))).status).toBe(201);
    const full = await s.request('POST', SVCS, svc('c'));
    expect(full.status).toBe(422);
    expect(full.body.message).toBe('Service "c" is invalid: spec.clusterIP: Invalid value: "": failed to allocate a serviceIP: range is full');
    const bIp = (await s.request('GET', `${SVCS}/b`)).body.spec.clusterIP;
    expect((await s.request('DELETE', `${SVCS}/b`)).status).toBe(200);
    const c = await s.request('POST', SVCS, svc('c'));
    expect(c.status).toBe(201);
    expect(c.body.spec.clusterIP).toBe(bIp);
  });

  it('keeps the IP on a PUT of the original manifest and refuses to change it', async () => {
    const s = await server();
    const ip = (await s.request('POST', SVCS, svc('a'))).body.spec.clusterIP;
    const put = await s.request('PUT', `${SVCS}/a`, svc('a', { selector: { app: 'other' } }));
    expect(put.status).toBe(200);
    expect(put.body.spec.clusterIP).toBe(ip);
    const change = await s.request('PATCH', `${SVCS}/a`, { spec: { clusterIP: '10.96.9.9', clusterIPs: ['10.96.9.9'] } }, MERGE);
    expect(change.status).toBe(422);
  });

  it('never hands one IP to two of many concurrent creates', async () => {
    const s = await server({ serviceClusterIPRange: '10.0.0.0/24' });
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => s.request('POST', SVCS, svc(`s${i}`))));
    expect(rs.map((r) => r.status).every((c) => c === 201)).toBe(true);
    expect(new Set(rs.map((r) => r.body.spec.clusterIP)).size).toBe(100);
  });

  it('two allocators on one store (two apiservers) never hand out the same value', async () => {
    const storage = new MemoryStorage();
    const range = parseServiceCidr('10.0.0.0/25');
    const a = new RangeAllocator(storage, 'serviceips', range);
    const b = new RangeAllocator(storage, 'serviceips', range);
    const got = await Promise.all(Array.from({ length: 126 }, (_, i) => (i % 2 ? a : b).allocateNext()));
    expect(new Set(got).size).toBe(126);
    await expect(a.allocateNext()).rejects.toMatchObject({ failure: 'full' });
  });

  it('is not served over the API', async () => {
    const s = await server();
    await s.request('POST', SVCS, svc('a'));
    expect((await s.request('GET', '/api/v1/ranges')).status).toBe(404);
    expect((await s.request('GET', '/api/v1/ranges/serviceips')).status).toBe(404);
  });
});

describe('node port allocation', () => {
  it('allocates a nodePort per port, 422 for a taken one, and keeps them on update', async () => {
    const s = await server();
    const a = await s.request('POST', SVCS, svc('a', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'x', port: 81, nodePort: 30080 }] }));
    expect(a.status).toBe(201);
    const [p0, p1] = a.body.spec.ports;
    expect(p0.nodePort).toBeGreaterThanOrEqual(30000);
    expect(p0.nodePort).toBeLessThanOrEqual(32767);
    expect(p1.nodePort).toBe(30080);
    const clash = await s.request('POST', SVCS, svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    expect(clash.status).toBe(422);
    expect(clash.body.message).toBe('Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated');
    // A failed create keeps nothing: its IP went back too.
    const put = await s.request('PUT', `${SVCS}/a`, svc('a', { type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'x', port: 81 }] }));
    expect(put.status).toBe(200);
    expect(put.body.spec.ports.map((p: any) => p.nodePort)).toEqual([p0.nodePort, 30080]);
  });

  it('type NodePort -> ClusterIP releases the node ports; ClusterIP -> NodePort allocates them', async () => {
    const s = await server();
    await s.request('POST', SVCS, svc('a', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    const toClusterIP = await s.request('PATCH', `${SVCS}/a`, { spec: { type: 'ClusterIP' } }, MERGE);
    expect(toClusterIP.status).toBe(200);
    expect(toClusterIP.body.spec.ports[0].nodePort).toBeUndefined();
    expect((await s.request('POST', SVCS, svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }))).status).toBe(201);
    const back = await s.request('PATCH', `${SVCS}/a`, { spec: { type: 'NodePort' } }, MERGE);
    expect(back.status).toBe(200);
    expect(back.body.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(back.body.spec.ports[0].nodePort).not.toBe(30080);
    // Delete releases the ports.
    await s.request('DELETE', `${SVCS}/b`);
    expect((await s.request('POST', SVCS, svc('c', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }))).status).toBe(201);
  });

  it('a failed update gives back the ports it took', async () => {
    const s = await server();
    await s.request('POST', SVCS, svc('a'));
    // Stale resourceVersion: 409 after allocation; 30090 must be free afterwards.
    const cur = (await s.request('GET', `${SVCS}/a`)).body;
    await s.request('PATCH', `${SVCS}/a`, { metadata: { labels: { x: '1' } } }, MERGE);
    cur.spec.type = 'NodePort';
    cur.spec.ports[0].nodePort = 30090;
    expect((await s.request('PUT', `${SVCS}/a`, cur)).status).toBe(409);
    expect((await s.request('POST', SVCS, svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30090 }] }))).status).toBe(201);
  });
});

describe('repair', () => {
  it('frees an allocation without a Service once the grace period has passed, and marks what Services hold', async () => {
    let now = 1_000_000;
    const storage = new MemoryStorage();
    const alloc = new ServiceAllocator(storage, { clusterIPRange: '10.0.0.0/29', recentGraceMs: 60_000, now: () => now });
    // A crash between allocate and create.
    const leaked = await alloc.ips.allocate(alloc.ips.range.parse('10.0.0.3')!);
    await storage.create('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'old', namespace: 'default' }, spec: { type: 'NodePort', clusterIP: '10.0.0.5', ports: [{ port: 80, nodePort: 31000 }] } });
    let r = await alloc.repair();
    expect(r.ips.leaked).toEqual([]);
    expect(r.ips.added.map(alloc.ips.range.format)).toEqual(['10.0.0.5']);
    expect(r.ports.added).toEqual([31000]);
    now += 61_000;
    r = await alloc.repair();
    expect(r.ips.leaked).toEqual([leaked]);
    expect((await alloc.ips.allocated()).map(alloc.ips.range.format)).toEqual(['10.0.0.5']);
    expect(await alloc.ports.allocated()).toEqual([31000]);
  });
});

describe('the kubernetes service', () => {
  it('gets the first IP and Endpoints of every live apiserver; a stopped one leaves', async () => {
    let now = 0;
    const storage = new MemoryStorage();
    const alloc = new ServiceAllocator(storage, {});
    const a = new KubernetesServiceReconciler(storage, alloc, { address: '10.250.0.2', port: 6443, now: () => now, leaseTtlMs: 15_000 });
    const b = new KubernetesServiceReconciler(storage, alloc, { address: '10.250.0.3', port: 6443, now: () => now, leaseTtlMs: 15_000 });
    await Promise.all([a.reconcileOnce(), b.reconcileOnce()]);
    const s = (await storage.get('services', 'default', 'kubernetes')) as any;
    expect(s.spec).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] });
    expect(s.metadata.labels).toEqual({ component: 'apiserver', provider: 'kubernetes' });
    await a.reconcileOnce();
    let ep = (await storage.get('endpoints', 'default', 'kubernetes')) as any;
    expect(ep.subsets).toEqual([{ addresses: [{ ip: '10.250.0.2' }, { ip: '10.250.0.3' }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }]);
    // b dies without a word: after the TTL a's next round drops it.
    now += 16_000;
    await a.reconcileOnce();
    ep = await storage.get('endpoints', 'default', 'kubernetes');
    expect(ep.subsets[0].addresses).toEqual([{ ip: '10.250.0.2' }]);
    // a stops cleanly: it takes itself out.
    const ac = new AbortController();
    ac.abort();
    await a.run(ac.signal);
    ep = await storage.get('endpoints', 'default', 'kubernetes');
    expect(ep.subsets).toEqual([]);
    expect(await alloc.ips.allocated()).toEqual([alloc.ips.range.min]);
  });
});
