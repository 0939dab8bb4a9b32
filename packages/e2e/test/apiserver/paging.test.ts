import { RestClient } from '@flotilla/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';

// A client that pages a big list (limit/continue) while others write must
// get one consistent snapshot: every object that existed at the first
// page's resourceVersion exactly once, nothing created later, no object
// twice because it changed between pages. This is what kubectl and every
// informer's initial list rely on; here over HTTPS through the real
// `flotilla apiserver` process on the real etcd.

const NAMESPACES = ['e2e-page-a', 'e2e-page-b', 'e2e-page-c', 'e2e-page-d'];
const TOTAL = 2000;
const LIMIT = 150;
const name = (i: number) => `p-${String(i).padStart(4, '0')}`;
const nsOf = (i: number) => NAMESPACES[i % NAMESPACES.length]!;
const pod = (i: number | string, namespace: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: typeof i === 'number' ? name(i) : i, namespace, labels: { app: 'paging' } },
  spec: { containers: [{ name: 'main', image: 'flotilla/busybox:1.35', command: ['sleep', '3600'] }] },
});

/** Runs `fn` over `items` with at most `n` at once. */
async function mapLimit<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

describe('paging a list through the apiserver while it is written', () => {
  let srv: TestApiServer;

  beforeAll(async () => {
    srv = await startApiServer();
    for (const ns of NAMESPACES) {
      const res = await apiRequest(srv.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      expect(res.status, res.text).toBe(201);
    }
    // The bulk load goes through the client's keep-alive pool: 2,000 TLS handshakes would only slow the set-up.
    const client = RestClient.fromKubeconfig(srv.kubeconfigPath);
    const t0 = performance.now();
    try {
      await mapLimit(Array.from({ length: TOTAL }, (_, i) => i), 16, async (i) => {
        await client.resource('pods').create(pod(i, nsOf(i)));
      });
    } finally {
      await client.close();
    }
    console.log(`[paging] created ${TOTAL} pods over HTTPS in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  afterAll(async () => {
    await srv?.stop();
  });

  it(`returns each of ${TOTAL.toLocaleString('en')} pods exactly once while pods are created, changed and deleted`, async () => {
    const admin = srv.endpoint();
    const seen = new Map<string, string>();
    let pages = 0;
    const visit = (list: any, snapshot: string) => {
      pages++;
      expect(list.kind).toBe('PodList');
      expect(list.metadata.resourceVersion, `page ${pages} is served at the first page's revision`).toBe(snapshot);
      expect(list.items.length).toBeLessThanOrEqual(LIMIT);
      for (const item of list.items) {
        const key = `${item.metadata.namespace}/${item.metadata.name}`;
        expect(seen.has(key), `${key} seen twice (pages ${seen.get(key)} and ${pages})`).toBe(false);
        seen.set(key, item.metadata.resourceVersion);
      }
    };

    const first = await apiRequest(admin, 'GET', `/api/v1/pods?limit=${LIMIT}`);
    expect(first.status, first.text).toBe(200);
    const snapshot: string = first.json().metadata.resourceVersion;
    expect(first.json().metadata.remainingItemCount).toBe(TOTAL - LIMIT);
    visit(first.json(), snapshot);

    // Writers, started once the snapshot is fixed, run for as long as the paging does.
    let stop = false;
    const done = { created: 0, updated: 0, deleted: 0 };
    const deleted = new Set<string>();
    let nextLate = 0;
    let nextVictim = TOTAL - 1;
    const writer = async (w: number) => {
      let step = 0;
      while (!stop) {
        step++;
        const late = `late-${nextLate++}`;
        const c = await apiRequest(admin, 'POST', `/api/v1/namespaces/${NAMESPACES[0]}/pods`, pod(late, NAMESPACES[0]!));
        if (c.status !== 201) throw new Error(`create ${late}: HTTP ${c.status} ${c.text}`);
        done.created++;

        // A read-modify-write of a pod in the snapshot; a 409 means another writer got there first: re-read.
        const i = (w * 389 + step * 7) % (TOTAL / 2);
        for (;;) {
          const cur = (await apiRequest(admin, 'GET', `/api/v1/namespaces/${nsOf(i)}/pods/${name(i)}`)).json();
          cur.metadata.labels = { ...cur.metadata.labels, touched: `${w}-${step}` };
          const u = await apiRequest(admin, 'PUT', `/api/v1/namespaces/${nsOf(i)}/pods/${name(i)}`, cur);
          if (u.status === 200) break;
          if (u.status !== 409) throw new Error(`update ${name(i)}: HTTP ${u.status} ${u.text}`);
        }
        done.updated++;

        const v = nextVictim--;
        const d = await apiRequest(admin, 'DELETE', `/api/v1/namespaces/${nsOf(v)}/pods/${name(v)}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
        if (d.status !== 200) throw new Error(`delete ${name(v)}: HTTP ${d.status} ${d.text}`);
        deleted.add(`${nsOf(v)}/${name(v)}`);
        done.deleted++;
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    writers.catch(() => undefined);

    try {
      let cont: string | undefined = first.json().metadata.continue;
      while (cont) {
        // Each next page is asked for only after more writes landed, so every page boundary has writes behind it.
        const before = done.created + done.updated + done.deleted;
        await waitFor(() => done.created + done.updated + done.deleted >= before + 3, { timeout: 15_000, message: 'three more writes between pages' });
        const page = await apiRequest(admin, 'GET', `/api/v1/pods?limit=${LIMIT}&continue=${encodeURIComponent(cont)}`);
        expect(page.status, page.text).toBe(200);
        visit(page.json(), snapshot);
        cont = page.json().metadata.continue || undefined;
      }
    } finally {
      stop = true;
      await writers;
    }

    expect(pages).toBe(Math.ceil(TOTAL / LIMIT));
    expect(seen.size).toBe(TOTAL);
    const expected = Array.from({ length: TOTAL }, (_, i) => `${nsOf(i)}/${name(i)}`).sort();
    expect([...seen.keys()].sort()).toEqual(expected);
    for (const [key, rv] of seen) expect(BigInt(rv) <= BigInt(snapshot), `${key} at ${rv} is newer than the snapshot ${snapshot}`).toBe(true);
    console.log(`[paging] ${pages} pages of ${LIMIT}; meanwhile ${done.created} created, ${done.updated} updated, ${done.deleted} deleted`);
    expect(done.deleted).toBeGreaterThanOrEqual(pages - 1);

    // The writes did happen: a fresh list sees them all.
    const now = await apiRequest(admin, 'GET', '/api/v1/pods');
    const names = new Set<string>(now.json().items.map((p: any) => `${p.metadata.namespace}/${p.metadata.name}`));
    expect(names.size).toBe(TOTAL - done.deleted + done.created);
    for (const key of deleted) expect(names.has(key), key).toBe(false);
    expect(BigInt(now.json().metadata.resourceVersion) > BigInt(snapshot)).toBe(true);
  });
});
