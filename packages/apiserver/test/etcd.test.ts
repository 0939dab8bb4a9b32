/**
 * The apiserver over a real etcd: CRUD, compare-and-swap conflicts, watch
 * streams and concurrent start-up, the same checks the unit tests make over
 * MemoryStorage.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';
import { LIST_STREAM_BYTES } from '../src/rest-handlers.js';
import { startTestApiServer, testDeployment, testPod, type TestApiServer } from '../src/testing/index.js';

const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean);
const prefix = `/flotilla-test-apiserver-${randomBytes(6).toString('hex')}`;
const PODS = '/api/v1/namespaces/default/pods';

/** Deletes every key under the prefix through etcd's JSON gateway (no etcd client outside the store). */
async function deletePrefix(p: string): Promise<void> {
  const key = Buffer.from(`${p}/`);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  await fetch(`${endpoints[0]}/v3/kv/deleterange`, {
    method: 'POST',
    body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }),
  });
}

const stores: EtcdStorage[] = [];
function store(): EtcdStorage {
  const s = new EtcdStorage({ endpoints, prefix, logger: createLogger('store', { level: 'silent' }) });
  stores.push(s);
  return s;
}

let s: TestApiServer;
let base: string;

beforeAll(async () => {
  // Three apiservers starting at once over one etcd all ensure the system namespaces.
  const servers = await Promise.all([0, 1, 2].map(() => startTestApiServer({ storage: store() as never })));
  s = servers[0]!;
  await Promise.all(servers.slice(1).map((x) => x.close()));
  base = await s.app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await s?.close();
  await Promise.allSettled(stores.map((x) => x.close()));
  await deletePrefix(prefix);
});

function watchLines(path: string) {
  const events: any[] = [];
  let ended = false;
  const req = request(base + path, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('end', () => (ended = true));
    res.on('data', (c: string) => {
      buf += c;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return {
    events,
    get ended() {
      return ended;
    },
    close: () => req.destroy(),
  };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('apiserver over etcd', () => {
  it('has the system namespaces exactly once after concurrent starts', async () => {
    const names = (await s.request('GET', '/api/v1/namespaces')).body.items.map((n: any) => n.metadata.name).sort();
    expect(names).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
  });

  it('CRUD with resourceVersion = etcd revision, and 409 on a stale update', async () => {
    const c = await s.request('POST', PODS, testPod('web'));
    expect(c.status).toBe(201);
    const rv = Number(c.body.metadata.resourceVersion);
    expect(rv).toBeGreaterThan(0);
    const g = (await s.request('GET', `${PODS}/web`)).body;
    g.metadata.labels = { app: 'web', v: '2' };
    const u = await s.request('PUT', `${PODS}/web`, g);
    expect(u.status).toBe(200);
    expect(Number(u.body.metadata.resourceVersion)).toBeGreaterThan(rv);
    const stale = await s.request('PUT', `${PODS}/web`, g);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    const p = await s.request('PATCH', `${PODS}/web`, { metadata: { labels: { v: '3' } } }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(p.body.metadata.labels).toEqual({ app: 'web', v: '3' });
    const l = await s.request('GET', `${PODS}?labelSelector=v%3D3`);
    expect(l.body.items.map((x: any) => x.metadata.name)).toEqual(['web']);
    expect((await s.request('DELETE', `${PODS}/web`)).status).toBe(200);
    expect((await s.request('GET', `${PODS}/web`)).status).toBe(404);
  });

  it('/metrics counts the etcd calls requests cost and where consistent GETs were served from', async () => {
    const sample = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? NaN);
    const before = (await s.request('GET', '/metrics')).body as string;
    expect((await s.request('POST', PODS, testPod('counted'))).status).toBe(201);
    expect((await s.request('GET', `${PODS}/counted`)).status).toBe(200);
    const after = (await s.request('GET', '/metrics')).body as string;
    // At least the create's transaction; a GET costs a revision call, and a range when the cache lags.
    expect(sample(after, 'flotilla_etcd_calls_total') - sample(before, 'flotilla_etcd_calls_total')).toBeGreaterThanOrEqual(2);
    const reads = (t: string) => sample(t, 'flotilla_storage_consistent_reads_total{from="cache"}') + sample(t, 'flotilla_storage_consistent_reads_total{from="etcd"}');
    expect(reads(after) - reads(before)).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^flotilla_etcd_sessions_total [1-9]/m);
    expect((await s.request('DELETE', `${PODS}/counted`)).status).toBe(200);
  });

  it('a list past LIST_STREAM_BYTES is sent in parts as it is made: the same items as page by page', async () => {
    const ns = 'it-big-list';
    expect((await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
    const path = `/api/v1/namespaces/${ns}/pods`;
    // 100 KB of annotation each (Kubernetes allows 256 KB): 60 pods make ~6 MB of JSON.
    const pad = 'x'.repeat(100 << 10);
    const count = Math.ceil((LIST_STREAM_BYTES * 1.5) / pad.length);
    for (let i = 0; i < count; i += 10) {
      const made = await Promise.all(
        Array.from({ length: Math.min(10, count - i) }, (_, j) => {
          const pod = testPod(`big-${String(i + j).padStart(3, '0')}`);
          pod.metadata.annotations = { pad };
          return s.request('POST', path, pod);
        }),
      );
      expect(made.map((m) => m.status)).toEqual(made.map(() => 201));
    }
    const res = await fetch(base + path);
    expect(res.status).toBe(200);
    // Parts, not one body of known length.
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const all = (await res.json()) as { kind: string; metadata: { resourceVersion: string }; items: Array<{ metadata: { name: string; annotations: Record<string, string> } }> };
    expect(all.kind).toBe('PodList');
    expect(Number(all.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(all.items.map((p) => p.metadata.name)).toEqual(Array.from({ length: count }, (_, i) => `big-${String(i).padStart(3, '0')}`));
    expect(all.items.every((p) => p.metadata.annotations.pad === pad)).toBe(true);
    // Pages of 10 (each well under the threshold, one string each) give the very same items.
    const paged: unknown[] = [];
    let cont = '';
    do {
      const page = (await s.request('GET', `${path}?limit=10${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)).body as { items: unknown[]; metadata: { continue?: string } };
      paged.push(...page.items);
      cont = page.metadata.continue ?? '';
    } while (cont);
    expect(paged).toEqual(all.items);
    expect((await s.request('DELETE', `/api/v1/namespaces/${ns}`)).status).toBe(200);
  }, 60_000);

  it('subresources: status, scale, binding and graceful pod deletion', async () => {
    await s.request('POST', '/apis/apps/v1/namespaces/default/deployments', testDeployment('d', 1));
    const sc = await s.request('PATCH', '/apis/apps/v1/namespaces/default/deployments/d/scale', { spec: { replicas: 4 } }, { 'content-type': 'application/merge-patch+json' });
    expect(sc.body).toMatchObject({ kind: 'Scale', spec: { replicas: 4 }, status: { selector: 'app=d' } });
    await s.request('POST', PODS, testPod('b'));
    expect((await s.request('POST', `${PODS}/b/binding`, { target: { name: 'n1' } })).status).toBe(201);
    expect((await s.request('POST', `${PODS}/b/binding`, { target: { name: 'n2' } })).status).toBe(409);
    const st = await s.request('PATCH', `${PODS}/b/status`, { status: { phase: 'Running' } }, { 'content-type': 'application/merge-patch+json' });
    expect(st.body.status.phase).toBe('Running');
    const d = await s.request('DELETE', `${PODS}/b`);
    expect(d.body.metadata.deletionTimestamp).toBeTruthy();
    expect((await s.request('GET', `${PODS}/b`)).status).toBe(200);
    await s.request('DELETE', `${PODS}/b`, { gracePeriodSeconds: 0 });
    expect((await s.request('GET', `${PODS}/b`)).status).toBe(404);
  });

  it('watch: initial ADDED, then changes; resume from a resourceVersion', async () => {
    const first = (await s.request('POST', PODS, testPod('w1'))).body;
    const w = watchLines(`${PODS}?watch=1&labelSelector=app%3Dweb`);
    await until(() => w.events.some((e) => e.object.metadata.name === 'w1'), 'initial ADDED');
    await s.request('POST', PODS, testPod('w2'));
    await s.request('DELETE', `${PODS}/w1`);
    await until(() => w.events.some((e) => e.type === 'DELETED'), 'DELETED');
    const seen = w.events.map((e) => `${e.type} ${e.object.metadata.name}`);
    expect(seen.slice(-2)).toEqual(['ADDED w2', 'DELETED w1']);
    w.close();
    const r = watchLines(`${PODS}?watch=1&resourceVersion=${first.metadata.resourceVersion}`);
    await until(() => r.events.length >= 2, 'replayed events');
    expect(r.events.slice(0, 2).map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w2', 'DELETED w1']);
    r.close();
  });

  it("a watch of a quiet namespace ends on its timeout with a BOOKMARK past the writes made elsewhere; resuming from it sees what comes next", async () => {
    const quiet = 'kube-public';
    const QUIET = `/api/v1/namespaces/${quiet}/pods`;
    const before = (await s.request('POST', PODS, testPod('bm-before'))).body;
    const w = watchLines(`${QUIET}?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=${before.metadata.resourceVersion}`);
    const elsewhere = (await s.request('POST', PODS, testPod('bm-elsewhere'))).body;
    await until(() => w.ended, 'the watch to time out');
    // Nothing happened in the namespace: the only line is the bookmark, and it is not stuck at the starting point.
    expect(w.events.map((e) => e.type)).toEqual(['BOOKMARK']);
    const rv = w.events[0].object.metadata.resourceVersion;
    expect(Number(rv)).toBeGreaterThanOrEqual(Number(elsewhere.metadata.resourceVersion));
    const resumed = watchLines(`${QUIET}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`);
    await s.request('POST', QUIET, { ...testPod('bm-next'), metadata: { name: 'bm-next', namespace: quiet } });
    await until(() => resumed.events.some((e) => e.type === 'ADDED'), 'the next pod');
    expect(resumed.events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED bm-next']);
    resumed.close();
  });

  it("watches by spec.nodeName (the store's index) see exactly their node's pods: bound, updated, deleted", async () => {
    const nodes = ['ix-n1', 'ix-n2', 'ix-n3'];
    const ws = Object.fromEntries(nodes.map((n) => [n, watchLines(`${PODS}?watch=1&fieldSelector=spec.nodeName%3D${n}`)]));
    const unbound = watchLines(`${PODS}?watch=1&fieldSelector=spec.nodeName%3D`);
    // The initial (empty) lists are in once a pod created now shows up on the unbound watch.
    await s.request('POST', PODS, testPod('ix-a'));
    await until(() => unbound.events.some((e) => e.object.metadata.name === 'ix-a'), 'unbound ADDED');
    await s.request('POST', PODS, testPod('ix-b'));
    expect((await s.request('POST', `${PODS}/ix-a/binding`, { target: { name: 'ix-n1' } })).status).toBe(201);
    expect((await s.request('POST', `${PODS}/ix-b/binding`, { target: { name: 'ix-n2' } })).status).toBe(201);
    const st = await s.request('PATCH', `${PODS}/ix-a/status`, { status: { phase: 'Running' } }, { 'content-type': 'application/merge-patch+json' });
    expect(st.status).toBe(200);
    await s.request('DELETE', `${PODS}/ix-b`, { gracePeriodSeconds: 0 });
    await until(() => ws['ix-n2']!.events.some((e) => e.type === 'DELETED'), 'ix-n2 DELETED');
    await until(() => ws['ix-n1']!.events.some((e) => e.type === 'MODIFIED'), 'ix-n1 MODIFIED');
    const seen = (n: string) => ws[n]!.events.map((e) => `${e.type} ${e.object.metadata.name}`);
    expect(seen('ix-n1')).toEqual(['ADDED ix-a', 'MODIFIED ix-a']);
    expect(seen('ix-n2')).toEqual(['ADDED ix-b', 'DELETED ix-b']);
    expect(seen('ix-n3')).toEqual([]);
    // Binding takes a pod out of the unbound selection: DELETED there, as Kubernetes sends it.
    const mine = () => unbound.events.filter((e) => e.object.metadata.name.startsWith('ix-')).map((e) => `${e.type} ${e.object.metadata.name}`);
    await until(() => mine().length >= 4, 'unbound DELETED x2');
    expect(mine()).toEqual(['ADDED ix-a', 'ADDED ix-b', 'DELETED ix-a', 'DELETED ix-b']);
    for (const w of [...Object.values(ws), unbound]) w.close();
    await s.request('DELETE', `${PODS}/ix-a`, { gracePeriodSeconds: 0 });
  });

  it('a namespace must exist and not be terminating', async () => {
    expect((await s.request('POST', '/api/v1/namespaces/nope/pods', testPod('x'))).status).toBe(404);
    await s.request('POST', '/api/v1/namespaces', { metadata: { name: 'it-doomed' } });
    await s.request('DELETE', '/api/v1/namespaces/it-doomed');
    expect((await s.request('POST', '/api/v1/namespaces/it-doomed/pods', testPod('x'))).status).toBe(403);
  });

  it('writes through two apiservers on one pod lose nothing, whatever their caches hold', async () => {
    const other = await startTestApiServer({ storage: store() as never });
    try {
      const path = `${PODS}/it-two-writers`;
      expect((await s.request('POST', PODS, testPod('it-two-writers'))).status).toBe(201);
      // Each server PATCHes labels of its own and the other's writes land in between: every label must survive.
      const patch = (srv: TestApiServer, i: number) =>
        srv.request('PATCH', path, { metadata: { labels: { [`l${i}`]: 'x' } } }, { 'content-type': 'application/merge-patch+json' });
      for (let i = 0; i < 30; i += 2) {
        const answers = await Promise.all([patch(s, i), patch(other, i + 1)]);
        expect(answers.map((a) => a.status)).toEqual([200, 200]);
      }
      const got = (await s.request('GET', path)).body as { metadata: { labels: Record<string, string>; resourceVersion: string } };
      expect(Object.keys(got.metadata.labels).filter((k) => /^l\d+$/.test(k))).toHaveLength(30);
      // A PUT carrying a resourceVersion that another server has moved past is 409 on either.
      expect((await other.request('PUT', path, { ...got, metadata: { ...got.metadata, labels: { moved: 'yes' } } })).status).toBe(200);
      expect((await s.request('PUT', path, { ...got, metadata: { ...got.metadata, labels: { stale: 'yes' } } })).status).toBe(409);
      // Status through the other server, then a status write through this one on the stale copy: 409, not a lost update.
      const fresh = (await s.request('GET', path)).body as { metadata: { resourceVersion: string } };
      expect((await other.request('PUT', `${path}/status`, { ...fresh, status: { phase: 'Running' } })).status).toBe(200);
      expect((await s.request('PUT', `${path}/status`, { ...fresh, status: { phase: 'Failed' } })).status).toBe(409);
      expect(((await s.request('GET', path)).body as { status: { phase: string } }).status.phase).toBe('Running');
    } finally {
      await other.close();
    }
  });
});
