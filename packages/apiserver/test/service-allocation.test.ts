/**
 * Service cluster IPs and node ports with two apiservers on one etcd prefix:
 * concurrent creates through both never share a value, and the allocations
 * survive a restart (a new apiserver over the same prefix).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';
import { startTestApiServer, type TestApiServer } from '../src/testing/index.js';

const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean);
const prefix = `/flotilla-test-svcalloc-${randomBytes(6).toString('hex')}`;
const SVCS = '/api/v1/namespaces/default/services';

/** Deletes every key under the prefix through etcd's JSON gateway (no etcd client outside the store). */
async function deletePrefix(p: string): Promise<void> {
  const key = Buffer.from(`${p}/`);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  await fetch(`${endpoints[0]}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }) });
}

const stores: EtcdStorage[] = [];
const servers: TestApiServer[] = [];
async function apiserver(): Promise<TestApiServer> {
  const storage = new EtcdStorage({ endpoints, prefix, logger: createLogger('store', { level: 'silent' }) });
  stores.push(storage);
  const s = await startTestApiServer({ storage: storage as never });
  servers.push(s);
  return s;
}

let a: TestApiServer;
let b: TestApiServer;
beforeAll(async () => {
  [a, b] = await Promise.all([apiserver(), apiserver()]);
});
afterAll(async () => {
  await Promise.allSettled(servers.map((s) => s.close()));
  await Promise.allSettled(stores.map((s) => s.close()));
  await deletePrefix(prefix);
});

const svc = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { type: 'NodePort', selector: { app: name }, ports: [{ port: 80 }], ...extra },
});

describe('service allocation over etcd', () => {
  it('50 concurrent creates through two apiservers get 50 distinct IPs and node ports', async () => {
    const started = Date.now();
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).request('POST', SVCS, svc(`s${i}`))));
    const ms = Date.now() - started;
    expect(rs.filter((r) => r.status !== 201).map((r) => r.body)).toEqual([]);
    const ips = rs.map((r) => r.body.spec.clusterIP as string);
    const ports = rs.map((r) => r.body.spec.ports[0].nodePort as number);
    expect(new Set(ips).size).toBe(50);
    expect(new Set(ports).size).toBe(50);
    // The stored set is exactly what the Services hold.
    const stored = (await a.app.serviceAllocator.ips.allocated()).map((v) => a.app.serviceAllocator.ips.range.format(v)).sort();
    expect(stored).toEqual([...ips].sort());
    console.log(`50 concurrent Service creates over two apiservers: ${ms} ms`);
  });

  it('a restarted apiserver sees the allocations; a taken IP and port stay taken, deletes free them', async () => {
    const taken = (await a.request('GET', `${SVCS}/s0`)).body;
    const c = await apiserver();
    const clash = await c.request('POST', SVCS, svc('dup', { clusterIP: taken.spec.clusterIP }));
    expect(clash.status).toBe(422);
    expect(clash.body.message).toContain('provided IP is already allocated');
    const portClash = await c.request('POST', SVCS, svc('dup', { ports: [{ port: 80, nodePort: taken.spec.ports[0].nodePort }] }));
    expect(portClash.status).toBe(422);
    expect(portClash.body.message).toContain(`spec.ports[0].nodePort: Invalid value: ${taken.spec.ports[0].nodePort}: provided port is already allocated`);
    expect((await b.request('DELETE', `${SVCS}/s0`)).status).toBe(200);
    const reuse = await c.request('POST', SVCS, svc('dup', { clusterIP: taken.spec.clusterIP, ports: [{ port: 80, nodePort: taken.spec.ports[0].nodePort }] }));
    expect(reuse.status).toBe(201);
    // A repair over the real store changes nothing when everything is consistent.
    const r = await c.app.serviceAllocator.repair();
    expect([r.ips.added, r.ips.leaked, r.ports.added, r.ports.leaked]).toEqual([[], [], [], []]);
  });
});
