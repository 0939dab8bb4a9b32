import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, countEtcdPrefix, etcdEndpoints, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';
import { resourceRows, type Row } from './manifests.js';

// Every resource the API serves goes through create, get, list, update and
// delete on the real `flotilla apiserver` process over the real etcd, with
// a manifest written the way the Kubernetes documentation writes it. The
// key under the server's etcd prefix is checked too: the API's answers are
// backed by etcd, not by something cached in the process.

const run = randomBytes(3).toString('hex');
const ns = `e2e-every-${run}`;

const ROWS: Row[] = resourceRows(ns, run);

describe('create, get, list, update, delete of every resource through the apiserver on etcd', () => {
  let srv: TestApiServer;

  beforeAll(async () => {
    srv = await startApiServer();
    const res = await apiRequest(srv.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await srv?.stop();
  });

  const collection = (row: Row) => `${row.groupPath}${row.namespaced ? `/namespaces/${ns}` : ''}/${row.plural}`;
  /** The etcd key of an object: the server's prefix in place of `/registry`, as in Kubernetes' layout. */
  const etcdKey = (row: Row, name: string) => `${srv.prefix}/${row.plural}/${row.namespaced ? `${ns}/` : ''}${name}`;

  it('covers every resource the apiserver serves', async () => {
    const served = new Set<string>();
    // Every group discovery announces, so a kind added without a CRUD row here fails this test.
    const groups = await apiRequest(srv.endpoint(), 'GET', '/apis');
    expect(groups.status, groups.text).toBe(200);
    const groupPaths = (groups.json().groups as Array<{ preferredVersion: { groupVersion: string } }>).map((g) => `/apis/${g.preferredVersion.groupVersion}`);
    for (const gv of ['/api/v1', ...groupPaths]) {
      const res = await apiRequest(srv.endpoint(), 'GET', gv);
      expect(res.status, res.text).toBe(200);
      for (const r of res.json().resources as Array<{ name: string }>) if (!r.name.includes('/')) served.add(r.name);
    }
    expect([...served].sort()).toEqual(ROWS.map((r) => r.plural).sort());
  });

  it.each(ROWS.map((r) => [r.plural, r] as const))('%s', async (_plural, row) => {
    const manifest = row.manifest();
    const name: string = manifest.metadata.name;
    const base = collection(row);
    const item = `${base}/${name}`;
    const key = etcdKey(row, name);

    // create
    const created = await apiRequest(srv.endpoint(), 'POST', base, manifest);
    expect(created.status, created.text).toBe(201);
    const c = created.json();
    expect(c).toMatchObject({ apiVersion: manifest.apiVersion, kind: manifest.kind, metadata: { name, labels: manifest.metadata.labels } });
    if (row.namespaced) expect(c.metadata.namespace).toBe(ns);
    expect(c.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(c.metadata.creationTimestamp)).not.toBeNaN();
    expect(Number(c.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(await countEtcdPrefix(etcdEndpoints(), key), `etcd key ${key}`).toBe(1);

    // get
    const got = await apiRequest(srv.endpoint(), 'GET', item);
    expect(got.status, got.text).toBe(200);
    const g = got.json();
    expect(g.metadata.uid).toBe(c.metadata.uid);
    expect(g.metadata.resourceVersion).toBe(c.metadata.resourceVersion);

    // list: in its namespace (or the cluster), and across all namespaces for namespaced kinds
    const selector = `labelSelector=${encodeURIComponent(`e2e.flotilla.dev/run=${run}`)}`;
    const lists = [`${base}?${selector}`, ...(row.namespaced ? [`${row.groupPath}/${row.plural}?${selector}`] : [])];
    for (const path of lists) {
      const listed = await apiRequest(srv.endpoint(), 'GET', path);
      expect(listed.status, listed.text).toBe(200);
      const l = listed.json();
      expect(l.kind).toBe(`${manifest.kind}List`);
      expect(Number(l.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(c.metadata.resourceVersion));
      expect(l.items.map((o: any) => o.metadata.uid), path).toEqual([c.metadata.uid]);
    }

    // update: PUT of what was read, compare-and-swap on its resourceVersion
    const changed = { ...g, metadata: { ...g.metadata, labels: { ...g.metadata.labels, updated: 'yes' } } };
    const updated = await apiRequest(srv.endpoint(), 'PUT', item, changed);
    expect(updated.status, updated.text).toBe(200);
    const u = updated.json();
    expect(u.metadata.labels.updated).toBe('yes');
    expect(Number(u.metadata.resourceVersion)).toBeGreaterThan(Number(c.metadata.resourceVersion));
    expect(u.metadata.uid).toBe(c.metadata.uid);
    const reread = await apiRequest(srv.endpoint(), 'GET', item);
    expect(reread.json().metadata.labels.updated).toBe('yes');
    expect(reread.json().metadata.resourceVersion).toBe(u.metadata.resourceVersion);
    // The same PUT again is stale now.
    const stale = await apiRequest(srv.endpoint(), 'PUT', item, changed);
    expect(stale.status, stale.text).toBe(409);
    expect(stale.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409 });

    // delete
    const deleted = await apiRequest(srv.endpoint(), 'DELETE', item, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    expect(deleted.status, deleted.text).toBe(200);
    if (row.plural === 'namespaces') {
      // A namespace is finalized by the namespace controller: Terminating until its `kubernetes` finalizer goes.
      const d = deleted.json();
      expect(d.status.phase).toBe('Terminating');
      expect(d.metadata.finalizers).toContain('kubernetes');
      expect((await apiRequest(srv.endpoint(), 'GET', item)).status).toBe(200);
      const fin = await apiRequest(srv.endpoint(), 'PATCH', item, { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
      expect(fin.status, fin.text).toBe(200);
    }
    await waitFor(async () => (await apiRequest(srv.endpoint(), 'GET', item)).status === 404, { timeout: 10_000, message: `${item} to be gone` });
    const gone = await apiRequest(srv.endpoint(), 'GET', item);
    expect(gone.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404, details: { name, kind: row.plural } });
    expect(await countEtcdPrefix(etcdEndpoints(), key), `etcd key ${key}`).toBe(0);
    const after = await apiRequest(srv.endpoint(), 'GET', `${base}?${selector}`);
    expect(after.json().items).toEqual([]);
  });

  it.each(ROWS.map((r) => [r.plural, r] as const))('%s: of eight concurrent updates from one resourceVersion exactly one wins, the others get 409', async (_plural, row) => {
    const manifest = row.manifest();
    manifest.metadata.name = `race-${manifest.metadata.name}`;
    const item = `${collection(row)}/${manifest.metadata.name}`;
    const created = await apiRequest(srv.endpoint(), 'POST', collection(row), manifest);
    expect(created.status, created.text).toBe(201);
    const c = created.json();
    const writers = Array.from({ length: 8 }, (_, i) => i);
    const results = await Promise.all(
      writers.map((i) => apiRequest(srv.endpoint(), 'PUT', item, { ...c, metadata: { ...c.metadata, labels: { ...c.metadata.labels, writer: String(i) } } })),
    );
    const codes = results.map((r) => r.status);
    expect(codes.filter((s) => s === 200), codes.join(',')).toHaveLength(1);
    expect(codes.filter((s) => s === 409), codes.join(',')).toHaveLength(7);
    for (const r of results.filter((x) => x.status === 409)) expect(r.json()).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    const winner = writers[codes.indexOf(200)]!;
    const final = (await apiRequest(srv.endpoint(), 'GET', item)).json();
    expect(final.metadata.labels.writer).toBe(String(winner));
    expect(final.metadata.resourceVersion).toBe(results[winner]!.json().metadata.resourceVersion);
    // Clean up (a namespace needs its finalizer removed as well).
    await apiRequest(srv.endpoint(), 'DELETE', item, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    if (row.plural === 'namespaces') await apiRequest(srv.endpoint(), 'PATCH', item, { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
  });

  it('graceful deletion of an object with a finalizer waits until the finalizer is removed', async () => {
    const base = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const manifest = ROWS.find((r) => r.plural === 'deployments')!.manifest();
    manifest.metadata.name = 'held';
    manifest.metadata.finalizers = ['example.com/hold'];
    const created = await apiRequest(srv.endpoint(), 'POST', base, manifest);
    expect(created.status, created.text).toBe(201);
    const del = await apiRequest(srv.endpoint(), 'DELETE', `${base}/held`);
    expect(del.status, del.text).toBe(200);
    expect(del.json().metadata.deletionTimestamp).toBeTruthy();
    // Still there, marked, however often it is read or deleted again.
    for (let i = 0; i < 3; i++) {
      const got = await apiRequest(srv.endpoint(), 'GET', `${base}/held`);
      expect(got.status, got.text).toBe(200);
      expect(got.json().metadata.finalizers).toEqual(['example.com/hold']);
      expect(got.json().metadata.deletionTimestamp).toBe(del.json().metadata.deletionTimestamp);
      expect((await apiRequest(srv.endpoint(), 'DELETE', `${base}/held`)).status).toBe(200);
    }
    // Removing the last finalizer (what its controller does when done) lets it go.
    const fin = await apiRequest(srv.endpoint(), 'PATCH', `${base}/held`, { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
    expect(fin.status, fin.text).toBe(200);
    await waitFor(async () => (await apiRequest(srv.endpoint(), 'GET', `${base}/held`)).status === 404, { timeout: 10_000, message: 'held to be gone once its finalizer is removed' });
    expect(await countEtcdPrefix(etcdEndpoints(), `${srv.prefix}/deployments/${ns}/held`)).toBe(0);
  });
});
