import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, openWatch, startApiServer, waitFor, type TestApiServer, type WatchStream } from '../../src/index.js';

// A watch resumed from the last resourceVersion a client saw, on an
// apiserver that was SIGKILLed and started again, must deliver every write
// made in between, once each and in order: informers rely on exactly this.

const ns = 'e2e-watch-resume';
const pod = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { containers: [{ name: 'main', image: 'flotilla/busybox:1', command: ['sleep', '3600'] }] },
});

/** Waits for at least `n` events; on timeout the error lists what did arrive. */
const eventsAtLeast = (watch: WatchStream, n: number, what: string) =>
  waitFor(
    () => {
      if (watch.events.length >= n) return true;
      throw new Error(`have ${JSON.stringify(watch.events.map((e) => [e.type, e.object?.metadata?.name, e.object?.metadata?.resourceVersion]))}`);
    },
    { timeout: 15_000, message: what },
  );

describe('watch resumed across an apiserver restart', () => {
  let a: TestApiServer;
  let b: TestApiServer;

  beforeAll(async () => {
    a = await startApiServer();
    // A second apiserver on the same prefix takes the writes while `a` is down.
    b = await startApiServer({ prefix: a.prefix });
    const res = await apiRequest(a.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('delivers the writes made while it was down, in order, after SIGKILL and restart', async ({ onTestFailed }) => {
    onTestFailed(() => {
      console.error(`--- apiserver A:\n${a.logs().slice(-8192)}\n--- apiserver B:\n${b.logs().slice(-4096)}`);
    });
    const base = `/api/v1/namespaces/${ns}/pods`;
    for (const name of ['p1', 'p3']) {
      const res = await apiRequest(a.endpoint(), 'POST', base, pod(name));
      expect(res.status, res.text).toBe(201);
    }
    const list = await apiRequest(a.endpoint(), 'GET', base);
    expect(list.status, list.text).toBe(200);
    const listRv: string = list.json().metadata.resourceVersion;

    const watch = await openWatch(a.endpoint(), `${base}?watch=1&resourceVersion=${listRv}`);
    expect(watch.status).toBe(200);
    const created = await apiRequest(a.endpoint(), 'POST', base, pod('p0'));
    expect(created.status, created.text).toBe(201);
    await eventsAtLeast(watch, 1, 'the ADDED event of p0');
    expect(watch.events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'p0']]);
    const lastSeen: string = watch.events[0]!.object.metadata.resourceVersion;
    expect(lastSeen).toBe(created.json().metadata.resourceVersion);

    await a.kill('SIGKILL');
    await watch.ended;
    watch.close();

    // Writes while `a` is down, through `b`.
    const p2 = await apiRequest(b.endpoint(), 'POST', base, pod('p2'));
    expect(p2.status, p2.text).toBe(201);
    const p1 = await apiRequest(b.endpoint(), 'GET', `${base}/p1`);
    const p1Updated = { ...p1.json(), metadata: { ...p1.json().metadata, labels: { tier: 'changed' } } };
    const put = await apiRequest(b.endpoint(), 'PUT', `${base}/p1`, p1Updated);
    expect(put.status, put.text).toBe(200);
    const del = await apiRequest(b.endpoint(), 'DELETE', `${base}/p3`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    expect(del.status, del.text).toBe(200);

    await a.restart();
    const resumed = await openWatch(a.endpoint(), `${base}?watch=1&resourceVersion=${lastSeen}`);
    try {
      expect(resumed.status).toBe(200);
      await eventsAtLeast(resumed, 3, 'the three events made while the apiserver was down');
      // Nothing more is pending: one further write must arrive right after them.
      const p4 = await apiRequest(a.endpoint(), 'POST', base, pod('p4'));
      expect(p4.status, p4.text).toBe(201);
      await eventsAtLeast(resumed, 4, 'the ADDED event of p4');

      expect(resumed.events.map((e) => [e.type, e.object.metadata.name])).toEqual([
        ['ADDED', 'p2'],
        ['MODIFIED', 'p1'],
        ['DELETED', 'p3'],
        ['ADDED', 'p4'],
      ]);
      expect(resumed.events[1]!.object.metadata.labels).toEqual({ tier: 'changed' });
      const rvs = resumed.events.map((e) => BigInt(e.object.metadata.resourceVersion));
      expect(rvs[0]! > BigInt(lastSeen)).toBe(true);
      for (let i = 1; i < rvs.length; i++) expect(rvs[i]! > rvs[i - 1]!, `resourceVersions increase: ${rvs.join(', ')}`).toBe(true);
    } finally {
      resumed.close();
    }
  });
});
