import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApiServer, testPod, type TestApiServer } from './testing/index.js';

const PODS = '/api/v1/namespaces/default/pods';

/** A watch over a real socket: collects decoded events as they arrive. */
function openWatch(base: string, path: string, reqHeaders: Record<string, string> = {}) {
  const events: any[] = [];
  let status = 0;
  let headers: Record<string, unknown> = {};
  let ended = false;
  const req = request(base + path, { headers: reqHeaders }, (res) => {
    status = res.statusCode!;
    headers = res.headers;
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    res.on('end', () => (ended = true));
    res.on('error', () => (ended = true));
  });
  req.on('error', () => (ended = true));
  req.end();
  return {
    events,
    get status() {
      return status;
    },
    get headers() {
      return headers;
    },
    get ended() {
      return ended;
    },
    close: () => req.destroy(),
  };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let s: TestApiServer;
let base: string;
beforeEach(async () => {
  s = await startTestApiServer({ watchTimings: { bookmarkIntervalMs: 100 } });
  base = await s.app.listen({ port: 0, host: '127.0.0.1' });
});
afterEach(async () => {
  await s.close();
});

describe('watch', () => {
  it('without resourceVersion: ADDED for current objects, then changes; chunked JSON lines', async () => {
    await s.request('POST', PODS, testPod('a'));
    const w = openWatch(base, `${PODS}?watch=true`);
    await until(() => w.events.length === 1, 'initial ADDED');
    expect(w.status).toBe(200);
    expect(w.headers['content-type']).toBe('application/json');
    expect(w.headers['transfer-encoding']).toBe('chunked');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'a' } } });
    await s.request('POST', PODS, testPod('b'));
    await s.request('PATCH', `${PODS}/b`, { metadata: { labels: { x: 'y' } } }, { 'content-type': 'application/merge-patch+json' });
    await s.request('DELETE', `${PODS}/a`);
    await until(() => w.events.length === 4, 'three changes');
    expect(w.events.slice(1).map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED b', 'MODIFIED b', 'DELETED a']);
    expect(s.app.apiMetrics.openWatches('pods')).toBe(1);
    w.close();
    await until(() => s.app.apiMetrics.openWatches('pods') === 0, 'watch gauge back to 0');
  });

  it('counts the events it sends by group, version and kind, once per watcher', async () => {
    const count = async (kind: string, version = 'v1', group = '') => {
      const text = (await s.request('GET', '/metrics')).body as string;
      const line = text.split('\n').find((l) => l.startsWith(`apiserver_watch_events_total{group="${group}",kind="${kind}",version="${version}"} `));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    const pods0 = await count('Pod');
    const deployments0 = await count('Deployment', 'v1', 'apps');
    const one = openWatch(base, `${PODS}?watch=1`);
    const two = openWatch(base, `/api/v1/pods?watch=1&allowWatchBookmarks=true`);
    await until(() => one.status === 200 && two.status === 200, 'watches open');
    await s.request('POST', PODS, testPod('a'));
    await s.request('PATCH', `${PODS}/a`, { metadata: { labels: { x: 'y' } } }, { 'content-type': 'application/merge-patch+json' });
    await until(() => one.events.length === 2 && two.events.filter((e) => e.type !== 'BOOKMARK').length === 2, 'both changes at both watchers');
    // Two changes, two watchers; bookmarks are not counted.
    expect((await count('Pod')) - pods0).toBe(4);
    expect((await count('Deployment', 'v1', 'apps')) - deployments0).toBe(0);
    one.close();
    two.close();
  });

  it('omitManagedFields=true: the watch and the list leave metadata.managedFields out, and only for whoever asks', async () => {
    await s.request('POST', PODS, testPod('a'));
    const lean = openWatch(base, `${PODS}?watch=1&omitManagedFields=true`);
    const full = openWatch(base, `${PODS}?watch=1`);
    await until(() => lean.events.length === 1 && full.events.length === 1, 'the initial ADDED');
    await s.request('POST', PODS, testPod('b'));
    await s.request('PATCH', `${PODS}/b`, { metadata: { labels: { x: 'y' } } }, { 'content-type': 'application/merge-patch+json' });
    await until(() => lean.events.length === 3 && full.events.length === 3, 'both changes');
    for (let i = 0; i < 3; i++) {
      expect(full.events[i].object.metadata.managedFields.length).toBeGreaterThan(0);
      const { managedFields: _, ...rest } = full.events[i].object.metadata;
      expect(lean.events[i]).toEqual({ ...full.events[i], object: { ...full.events[i].object, metadata: rest } });
    }
    const listed = (await s.request('GET', `${PODS}?omitManagedFields=true`)).body;
    expect(listed.items.map((p: any) => p.metadata.name)).toEqual(['a', 'b']);
    expect(listed.items.every((p: any) => p.metadata.managedFields === undefined && p.metadata.uid)).toBe(true);
    expect((await s.request('GET', PODS)).body.items.every((p: any) => p.metadata.managedFields.length > 0)).toBe(true);
    expect((await s.request('GET', `${PODS}?omitManagedFields=maybe`)).status).toBe(400);
    lean.close();
    full.close();
  });

  it('many changes at once still arrive in order, each a whole JSON line', async () => {
    const w = openWatch(base, `${PODS}?watch=1&allowWatchBookmarks=true`);
    await until(() => w.status === 200, 'watch open');
    const names = Array.from({ length: 40 }, (_, i) => `p${i}`);
    // Concurrent creates: several land in one etcd response and one turn of the apiserver's loop.
    await Promise.all(names.map((n) => s.request('POST', PODS, testPod(n))));
    await until(() => w.events.filter((e) => e.type === 'ADDED').length === names.length, 'every ADDED');
    const added = w.events.filter((e) => e.type === 'ADDED');
    expect(new Set(added.map((e) => e.object.metadata.name))).toEqual(new Set(names));
    const rvs = added.map((e) => Number(e.object.metadata.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
    w.close();
  });

  it('from a resourceVersion replays what happened after it, with selectors', async () => {
    const a = (await s.request('POST', PODS, testPod('a'))).body;
    await s.request('POST', PODS, { ...testPod('b'), metadata: { name: 'b', labels: { app: 'db' } } });
    await s.request('POST', PODS, testPod('c'));
    const w = openWatch(base, `/api/v1/watch/namespaces/default/pods?resourceVersion=${a.metadata.resourceVersion}&labelSelector=app%3Dweb`);
    await until(() => w.events.length === 1, 'replayed event');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'c' } } });
    // A label change out of the selector is a DELETED for this watch.
    await s.request('PATCH', `${PODS}/c`, { metadata: { labels: { app: 'db' } } }, { 'content-type': 'application/merge-patch+json' });
    await until(() => w.events.length === 2, 'DELETED');
    expect(w.events[1]).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'c' } } });
    w.close();
  });

  it('spec.nodeName!= (bound pods, as a node fleet watches them): a pod enters the watch as ADDED when it is bound', async () => {
    await s.request('POST', PODS, testPod('early'));
    const w = openWatch(base, `/api/v1/pods?watch=1&fieldSelector=${encodeURIComponent('spec.nodeName!=')}`);
    await until(() => w.status === 200, 'watch open');
    await s.request('POST', PODS, testPod('late'));
    const bound = await s.request('POST', `${PODS}/early/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'early' }, target: { apiVersion: 'v1', kind: 'Node', name: 'n1' } });
    expect(bound.status).toBe(201);
    await until(() => w.events.length === 1, 'the binding');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'early' }, spec: { nodeName: 'n1' } } });
    // 'late' was never bound: nothing about it reached this watch.
    await s.request('PATCH', `${PODS}/late`, { metadata: { labels: { x: 'y' } } }, { 'content-type': 'application/merge-patch+json' });
    await s.request('PATCH', `${PODS}/early`, { metadata: { labels: { x: 'y' } } }, { 'content-type': 'application/merge-patch+json' });
    await until(() => w.events.length === 2, 'the label on the bound pod');
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED early', 'MODIFIED early']);
    w.close();
  });

  it('watches one object by name and by fieldSelector across namespaces', async () => {
    await s.request('POST', PODS, testPod('a'));
    await s.request('POST', PODS, testPod('b'));
    const w = openWatch(base, `${PODS}/b?watch=1`);
    const all = openWatch(base, `/api/v1/pods?watch=1&fieldSelector=metadata.name%3Da`);
    await until(() => w.events.length === 1 && all.events.length === 1, 'initial events');
    expect(w.events[0].object.metadata.name).toBe('b');
    expect(all.events[0].object.metadata.name).toBe('a');
    w.close();
    all.close();
  });

  it('sends BOOKMARKs with the last resourceVersion when allowed', async () => {
    const w = openWatch(base, `${PODS}?watch=1&allowWatchBookmarks=true`);
    await s.request('POST', PODS, testPod('a'));
    await until(() => w.events.some((e) => e.type === 'BOOKMARK') && w.events.some((e) => e.type === 'ADDED'), 'a bookmark');
    await until(() => w.events.filter((e) => e.type === 'BOOKMARK').length >= 2, 'a second bookmark');
    const added = w.events.find((e) => e.type === 'ADDED');
    const last = w.events.filter((e) => e.type === 'BOOKMARK').at(-1);
    expect(last.object).toEqual({ kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: added.object.metadata.resourceVersion } });
    w.close();
  });

  it('sendInitialEvents ends the initial list with an annotated bookmark', async () => {
    await s.request('POST', PODS, testPod('a'));
    const w = openWatch(base, `${PODS}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`);
    await until(() => w.events.length >= 2, 'initial events');
    expect(w.events[0].type).toBe('ADDED');
    expect(w.events[1]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
    w.close();
  });

  it('a compacted resourceVersion gives one ERROR event with a 410 Status, then the end', async () => {
    const a = (await s.request('POST', PODS, testPod('a'))).body;
    await s.request('POST', PODS, testPod('b'));
    s.storage.compact();
    const w = openWatch(base, `${PODS}?watch=1&resourceVersion=${a.metadata.resourceVersion}`);
    await until(() => w.ended, 'stream end');
    expect(w.events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Gone' }) }]);
  });

  it('ends at timeoutSeconds and on server close', async () => {
    const t = openWatch(base, `${PODS}?watch=1&timeoutSeconds=1`);
    await until(() => t.ended, 'timeout end', 4000);
    const w = openWatch(base, `${PODS}?watch=1`);
    await until(() => w.status === 200, 'watch open');
    await s.close();
    await until(() => w.ended, 'end on close');
  });

  it('sends Table rows to kubectl get -w', async () => {
    await s.request('POST', PODS, testPod('a'));
    const w = openWatch(base, `${PODS}?watch=1`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    await until(() => w.events.length === 1, 'initial event');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'Table', rows: [{ cells: ['a', '0/1', 'Pending', '0', expect.any(String), '<none>', '<none>', '<none>', '<none>'] }] } });
    w.close();
  });

  it('rejects bad watch parameters with a 400 Status before streaming', async () => {
    const r = await s.request('GET', `${PODS}?watch=1&resourceVersion=abc`);
    expect(r.status).toBe(400);
    expect(r.body.kind).toBe('Status');
    expect((await s.request('GET', `${PODS}?watch=1&labelSelector=%3D%3D`)).status).toBe(400);
  });
});
