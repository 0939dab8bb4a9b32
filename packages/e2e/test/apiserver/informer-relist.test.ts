import { isReason, type KubeObject, type Pod } from '@flotilla/api';
import { Informer, RestClient, type ApiClient, type ResourceClient, type ResourceTarget, type WatchOptions } from '@flotilla/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, openWatch, startApiServer, startPrivateEtcd, waitFor, type PrivateEtcd, type TestApiServer } from '../../src/index.js';

// An informer whose watch was down while etcd compacted past its last
// resourceVersion, and while the apiserver restarted (so no in-memory watch
// window still holds that revision), cannot resume: the apiserver answers
// 410 Gone, and the informer must list again, swap its cache and tell its
// handlers exactly what changed meanwhile. Here with the real Informer of @flotilla/client,
// over HTTPS, against the real `flotilla apiserver` on the real etcd,
// compacted through etcd's own API.

const ns = 'e2e-relist';
const pod = (name: string, labels: Record<string, string> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { group: 'relist', ...labels } },
  spec: { containers: [{ name: 'main', image: 'flotilla/busybox:1.35', command: ['sleep', '3600'] }] },
});

/** Compacts the whole etcd history below `revision` (etcd's v3 JSON gateway; only the store links etcd3). */
async function compactEtcd(revision: string): Promise<void> {
  const res = await fetch(`${etcd.endpoint}/v3/kv/compaction`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ revision, physical: true }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  // Another test may have compacted further already; that serves just as well.
  if (!res.ok && !text.includes('required revision has been compacted')) throw new Error(`etcd compaction at ${revision}: HTTP ${res.status} ${text}`);
}

/**
 * An ApiClient over the real RestClient whose pod watches can be held back
 * (the informer's watch is "down") and which records list calls and the
 * errors the watches ended with.
 */
class HoldableClient implements ApiClient {
  lists = 0;
  readonly watchErrors: unknown[] = [];
  /** resourceVersions the watches were asked to start from, in call order. */
  readonly watchFrom: Array<string | undefined> = [];
  held = 0;
  private gate: { promise: Promise<void>; open: () => void } | undefined;

  constructor(private readonly real: RestClient) {}

  hold(): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  bind(namespace: string, podName: string, nodeName: string): Promise<void> {
    return this.real.bind(namespace, podName, nodeName);
  }

  resource<T extends KubeObject = KubeObject>(target: ResourceTarget): ResourceClient<T> {
    const rc = this.real.resource<T>(target);
    const self = this;
    return Object.assign(Object.create(rc) as ResourceClient<T>, {
      list: (...args: Parameters<ResourceClient<T>['list']>) => {
        self.lists++;
        return rc.list(...args);
      },
      watch: (namespace?: string, options: WatchOptions = {}) =>
        (async function* () {
          self.watchFrom.push(options.resourceVersion);
          const gate = self.gate;
          if (gate) {
            self.held++;
            const aborted = new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve(), { once: true }));
            await Promise.race([gate.promise, aborted]);
            self.held--;
            if (options.signal?.aborted) return;
          }
          try {
            yield* rc.watch(namespace, options);
          } catch (err) {
            self.watchErrors.push(err);
            throw err;
          }
        })(),
    });
  }
}

// The apiserver runs on an etcd of its own: compacting the shared one would
// give other test files running beside this one a 410 for revisions they hold.
let etcd: PrivateEtcd;

describe('informer over the real apiserver when its resourceVersion is compacted', () => {
  let srv: TestApiServer;
  let rest: RestClient;

  beforeAll(async () => {
    etcd = await startPrivateEtcd();
    srv = await startApiServer({ etcd: [etcd.endpoint] });
    const res = await apiRequest(srv.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
    rest = RestClient.fromKubeconfig(srv.kubeconfigPath);
  });

  afterAll(async () => {
    await rest?.close();
    await srv?.stop();
    await etcd?.close();
  });

  it('gets 410 Gone after compaction and an apiserver restart, relists, converges and emits exactly the changes it missed', async ({ onTestFailed }) => {
    onTestFailed(() => console.error(`--- apiserver:\n${srv.logs().slice(-8192)}`));
    // The apiserver's in-memory watch window for pods starts with its first pod watch; open one
    // before anything is written so every revision of this test lies inside that window.
    const bystander = await openWatch(srv.endpoint(), `/api/v1/namespaces/${ns}/pods?watch=1`);
    expect(bystander.status).toBe(200);
    const pods = rest.resource<Pod>('pods');
    for (const n of ['keep-1', 'keep-2', 'gone-1']) await pods.create(pod(n));
    await waitFor(() => bystander.events.length === 3, { timeout: 10_000, message: 'the pod watch window to be open' });

    const client = new HoldableClient(rest);
    // The server ends every watch after 1 s, so the informer soon asks for a new one: that is the watch we hold back.
    const inf = new Informer<Pod>(client, 'pods', { namespace: ns, labelSelector: 'group=relist', pageSize: 2, watchTimeoutSeconds: 1 });
    const log: string[] = [];
    inf.addEventHandler({
      onAdd: (o) => log.push(`add ${o.metadata.name}`),
      onUpdate: (_old, o) => log.push(`update ${o.metadata.name}`),
      onDelete: (o) => log.push(`delete ${o.metadata.name}`),
    });
    const ac = new AbortController();
    const running = inf.run(ac.signal);
    try {
      expect(await inf.waitForSync(AbortSignal.timeout(15_000))).toBe(true);
      expect(inf.store.keys().sort()).toEqual([`${ns}/gone-1`, `${ns}/keep-1`, `${ns}/keep-2`]);

      // The watch works: a create shows up without a list.
      await pods.create(pod('seen-1'));
      await waitFor(() => inf.store.get(`${ns}/seen-1`), { timeout: 15_000, message: 'seen-1 in the cache through the watch' });
      const listsBefore = client.lists;
      expect(listsBefore).toBe(2); // the first list, in two pages

      // Take the watch down: the informer's next watch waits at the gate.
      client.hold();
      await waitFor(() => client.held === 1, { timeout: 15_000, message: 'the informer to ask for its next watch' });
      const lastRV = inf.lastSyncResourceVersion()!;
      expect(client.watchFrom.at(-1)).toBe(lastRV);
      log.length = 0;

      // Changes it does not see while down.
      const deleted = await apiRequest(srv.endpoint(), 'DELETE', `/api/v1/namespaces/${ns}/pods/gone-1`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
      expect(deleted.status, deleted.text).toBe(200);
      const keep1 = await pods.get(ns, 'keep-1');
      const updated = await pods.update({ ...keep1, metadata: { ...keep1.metadata, labels: { ...keep1.metadata.labels, v: '2' } } });
      await pods.create(pod('new-1'));
      const last = await pods.create(pod('new-2'));
      expect(BigInt(updated.metadata.resourceVersion!) > BigInt(lastRV) + 1n).toBe(true);
      // Compact just past the first change after lastRV: a watch from lastRV can no longer be served.
      await compactEtcd(updated.metadata.resourceVersion!);

      // Within the apiserver's in-memory watch window (like kube-apiserver's watch cache) the
      // compacted revision is still served, every change in order: a short outage costs nothing.
      const cached = await openWatch(srv.endpoint(), `/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=${lastRV}`);
      try {
        expect(cached.status).toBe(200);
        await waitFor(
          () => {
            if (cached.events.length >= 4) return true;
            throw new Error(`have ${JSON.stringify(cached.events.map((e) => [e.type, e.object?.metadata?.name ?? e.object?.message]))}`);
          },
          { timeout: 10_000, message: 'the four changes from the watch window' },
        );
        expect(cached.events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['DELETED gone-1', 'MODIFIED keep-1', 'ADDED new-1', 'ADDED new-2']);
      } finally {
        cached.close();
      }

      // A restarted apiserver has no such window: it must go to etcd, which has compacted that revision.
      bystander.close();
      await srv.restart();
      const raw = await openWatch(srv.endpoint(), `/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=${lastRV}`);
      try {
        if (raw.status === 200) {
          await waitFor(() => raw.events.length > 0, { timeout: 10_000, message: 'the ERROR event of a watch from a compacted revision' });
          expect(raw.events).toHaveLength(1);
          expect(raw.events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', status: 'Failure', code: 410 } });
          expect(raw.events[0]!.object.message).toContain('too old resource version');
        } else {
          expect(raw.status).toBe(410);
        }
      } finally {
        raw.close();
      }

      // Bring the watch back: 410 Gone, a relist, and the cache converges on what etcd holds.
      client.release();
      await waitFor(
        () => {
          const keys = inf.store.keys().sort().join(' ');
          return keys === [`${ns}/keep-1`, `${ns}/keep-2`, `${ns}/new-1`, `${ns}/new-2`, `${ns}/seen-1`].join(' ') && inf.store.get(`${ns}/keep-1`)?.metadata.labels?.v === '2';
        },
        { timeout: 20_000, message: `the cache to converge (has ${inf.store.keys().sort().join(', ')})` },
      );
      expect(client.watchErrors.some((e) => isReason(e, 'Gone')), `watch errors: ${client.watchErrors.map(String).join('; ')}`).toBe(true);
      expect(client.lists).toBeGreaterThan(listsBefore);
      expect(inf.store.get(`${ns}/keep-1`)!.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
      expect(inf.store.get(`${ns}/new-2`)!.metadata.resourceVersion).toBe(last.metadata.resourceVersion);
      // Exactly the differences, once each; nothing for keep-2 and seen-1, which did not change.
      expect([...log].sort()).toEqual(['add new-1', 'add new-2', 'delete gone-1', 'update keep-1']);

      // And it watches again from the new list: a later change arrives without another list.
      const listsAfter = client.lists;
      await pods.create(pod('after-1'));
      await waitFor(() => inf.store.get(`${ns}/after-1`), { timeout: 15_000, message: 'after-1 in the cache through the resumed watch' });
      expect(client.lists).toBe(listsAfter);
      expect(log.at(-1)).toBe('add after-1');
    } finally {
      bystander.close();
      client.release();
      ac.abort();
      await running;
    }
  });
});
