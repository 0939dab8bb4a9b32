import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, openWatch, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';

// The apiserver is stateless: two of them on one etcd prefix are one
// cluster. What one accepts, the other serves, watches and guards with the
// same resourceVersion.

const ns = 'e2e-shared';
const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'main', image: 'flotilla/busybox:1' }] },
});

describe('two apiservers on the same etcd prefix', () => {
  let a: TestApiServer;
  let b: TestApiServer;
  const base = `/api/v1/namespaces/${ns}/pods`;

  beforeAll(async () => {
    a = await startApiServer();
    b = await startApiServer({ prefix: a.prefix });
    const res = await apiRequest(a.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('serves on B what was created on A', async () => {
    const created = await apiRequest(a.endpoint(), 'POST', base, pod('made-on-a'));
    expect(created.status, created.text).toBe(201);
    const got = await apiRequest(b.endpoint(), 'GET', `${base}/made-on-a`);
    expect(got.status, got.text).toBe(200);
    expect(got.json().metadata.uid).toBe(created.json().metadata.uid);
    expect(got.json().metadata.resourceVersion).toBe(created.json().metadata.resourceVersion);
    const listed = await apiRequest(b.endpoint(), 'GET', base);
    expect(listed.json().items.map((p: any) => p.metadata.name)).toContain('made-on-a');
  });

  it('streams to a watch on B the writes made on A', async () => {
    const list = await apiRequest(b.endpoint(), 'GET', base);
    const watch = await openWatch(b.endpoint(), `${base}?watch=1&resourceVersion=${list.json().metadata.resourceVersion}`);
    try {
      expect(watch.status).toBe(200);
      const created = await apiRequest(a.endpoint(), 'POST', base, pod('watched-from-b'));
      expect(created.status, created.text).toBe(201);
      const del = await apiRequest(a.endpoint(), 'DELETE', `${base}/watched-from-b`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
      expect(del.status, del.text).toBe(200);
      await waitFor(() => watch.events.length >= 2, { timeout: 10_000, message: 'ADDED and DELETED of watched-from-b on B' });
      expect(watch.events.map((e) => [e.type, e.object.metadata.name])).toEqual([
        ['ADDED', 'watched-from-b'],
        ['DELETED', 'watched-from-b'],
      ]);
      expect(watch.events[0]!.object.metadata.resourceVersion).toBe(created.json().metadata.resourceVersion);
    } finally {
      watch.close();
    }
  });

  it('rejects on A an update based on a version B has replaced (409 Conflict)', async () => {
    const created = await apiRequest(a.endpoint(), 'POST', base, pod('contended'));
    expect(created.status, created.text).toBe(201);
    const stale = created.json();
    const onB = await apiRequest(b.endpoint(), 'PUT', `${base}/contended`, { ...stale, metadata: { ...stale.metadata, labels: { by: 'b' } } });
    expect(onB.status, onB.text).toBe(200);
    const onA = await apiRequest(a.endpoint(), 'PUT', `${base}/contended`, { ...stale, metadata: { ...stale.metadata, labels: { by: 'a' } } });
    expect(onA.status, onA.text).toBe(409);
    expect(onA.json()).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    const final = await apiRequest(a.endpoint(), 'GET', `${base}/contended`);
    expect(final.json().metadata.labels).toEqual({ by: 'b' });
  });
});
