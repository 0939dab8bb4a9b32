import type { Pod } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { Informer, InformerFactory } from './informer.js';
import { FakeApiClient } from './testing/fake-api-client.js';
import { hangUntilAborted, overrideResource, stopWithRequestsInFlight, type Unanswered } from './testing/override-resource.js';
import { waitFor } from './testing/wait-for.js';

const pod = (ns: string, name: string, extra: Partial<Pod['spec']> = {}, labels: Record<string, string> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: ns, name, labels },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...extra },
});

/** Records handler calls as compact strings. */
function recorder(inf: Informer<Pod>): string[] {
  const log: string[] = [];
  inf.addEventHandler({
    onAdd: (o) => log.push(`add ${o.metadata.name}`),
    onUpdate: (_old, o) => log.push(`update ${o.metadata.name}`),
    onDelete: (o) => log.push(`delete ${o.metadata.name}`),
  });
  return log;
}

describe('Informer', () => {
  it('lists in pages, syncs, then follows the watch', async () => {
    const fake = new FakeApiClient();
    for (let i = 0; i < 7; i++) fake.seed(pod('ns1', `p${i}`));
    const inf = new Informer<Pod>(fake, 'pods', { pageSize: 3 });
    const log = recorder(inf);
    const ac = new AbortController();
    inf.start(ac.signal);
    expect(await inf.waitForSync(ac.signal)).toBe(true);
    expect(inf.store.size()).toBe(7);
    expect(log.filter((l) => l.startsWith('add'))).toHaveLength(7);
    // List items get their type filled in, and cached objects are frozen.
    const p0 = inf.store.get('ns1/p0')!;
    expect(p0.kind).toBe('Pod');
    expect(() => {
      (p0.metadata as { name: string }).name = 'x';
    }).toThrow();

    await waitFor(() => fake.openWatches() === 1);
    const pods = fake.resource<Pod>('pods');
    await pods.create(pod('ns1', 'new'));
    const cur = await pods.get('ns1', 'p1');
    cur.metadata.labels = { a: 'b' };
    await pods.update(cur);
    await pods.delete('ns1', 'p2');
    await waitFor(() => log.length === 10);
    expect(log.slice(7)).toEqual(['add new', 'update p1', 'delete p2']);
    expect(inf.store.get('ns1/p1')?.metadata.labels).toEqual({ a: 'b' });
    expect(inf.store.get('ns1/p2')).toBeUndefined();
    expect(inf.lastSyncResourceVersion()).toBe(fake.currentResourceVersion());
    ac.abort();
    await waitFor(() => !inf.isRunning());
  });

  it('resumes from the last resourceVersion after a dropped watch without relisting', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', 'one')] });
    const inf = new Informer<Pod>(fake, 'pods');
    const log = recorder(inf);
    let lists = 0;
    fake.prependReactor((a) => {
      if (a.verb === 'list') lists++;
    });
    const ac = new AbortController();
    inf.start(ac.signal);
    await inf.waitForSync();
    await waitFor(() => fake.openWatches() === 1);
    fake.dropWatches();
    // Changes made while no watch is open must still arrive, replayed from the resourceVersion.
    await fake.resource('pods').create(pod('a', 'two'));
    await waitFor(() => inf.store.get('a/two'));
    expect(lists).toBe(1);
    expect(log).toEqual(['add one', 'add two']);
    ac.abort();
  });

  it('relists on 410 Gone, swaps the cache and emits exactly the differences', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', 'keep'), pod('a', 'change'), pod('a', 'remove')] });
    const inf = new Informer<Pod>(fake, 'pods');
    const log = recorder(inf);
    let watchesStarted = 0;
    let blockWatch = false;
    fake.prependReactor((a) => {
      if (a.verb === 'watch') {
        watchesStarted++;
        // While "disconnected", the reflector cannot watch: changes pile up and history is compacted.
        if (blockWatch) throw new Error('connection refused');
      }
    });
    const ac = new AbortController();
    inf.start(ac.signal);
    await inf.waitForSync();
    await waitFor(() => fake.openWatches() === 1);
    log.length = 0;

    // The change below reaches the open watch; then everything else happens behind the informer's back.
    blockWatch = true;
    fake.dropWatches();
    const pods = fake.resource<Pod>('pods');
    const c = await pods.get('a', 'change');
    c.metadata.labels = { v: '2' };
    await pods.update(c);
    await pods.delete('a', 'remove');
    await pods.create(pod('a', 'added'));
    fake.compact();
    blockWatch = false;
    await waitFor(() => inf.store.get('a/added'), { timeoutMs: 10_000 });
    expect(log.sort()).toEqual(['add added', 'delete remove', 'update change']);
    expect(inf.store.keys().sort()).toEqual(['a/added', 'a/change', 'a/keep']);
    expect(watchesStarted).toBeGreaterThanOrEqual(3);
    ac.abort();
  });

  it('relists when an open watch receives 410 Gone', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', 'x')] });
    const inf = new Informer<Pod>(fake, 'pods');
    let lists = 0;
    fake.prependReactor((a) => {
      if (a.verb === 'list') lists++;
    });
    const ac = new AbortController();
    inf.start(ac.signal);
    await inf.waitForSync();
    await waitFor(() => fake.openWatches() === 1);
    fake.compact();
    await waitFor(() => lists === 2 && fake.openWatches() === 1);
    await fake.resource('pods').create(pod('a', 'y'));
    await waitFor(() => inf.store.size() === 2);
    ac.abort();
  });

  it('maintains the built-in and custom indexes through changes', async () => {
    const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'uid-rs', controller: true };
    const p1 = pod('a', 'p1', { nodeName: 'n1' });
    p1.metadata.ownerReferences = [owner];
    const fake = new FakeApiClient({ objects: [p1, pod('a', 'p2'), pod('b', 'p3', { nodeName: 'n1' }, { app: 'web' })] });
    const inf = new Informer<Pod>(fake, 'pods');
    inf.addIndexer('app', (p) => (p.metadata.labels?.app ? [p.metadata.labels.app] : []));
    const ac = new AbortController();
    inf.start(ac.signal);
    await inf.waitForSync();
    const names = (ps: Pod[]) => ps.map((p) => p.metadata.name).sort();
    expect(names(inf.store.byNamespace('a'))).toEqual(['p1', 'p2']);
    expect(names(inf.store.byNodeName('n1'))).toEqual(['p1', 'p3']);
    expect(names(inf.store.byControllerUid('uid-rs'))).toEqual(['p1']);
    expect(names(inf.store.byIndex('app', 'web'))).toEqual(['p3']);

    await waitFor(() => fake.openWatches() === 1);
    await fake.bind('a', 'p2', 'n1');
    await fake.resource('pods').delete('a', 'p1');
    await waitFor(() => inf.store.byNodeName('n1').length === 2 && !inf.store.get('a/p1'));
    expect(names(inf.store.byNodeName('n1'))).toEqual(['p2', 'p3']);
    expect(inf.store.byControllerUid('uid-rs')).toEqual([]);
    // An indexer added later indexes what is already cached.
    inf.addIndexer('name', (p) => [p.metadata.name!]);
    expect(names(inf.store.byIndex('name', 'p3'))).toEqual(['p3']);
    ac.abort();
  });

  it('honours label and field selectors, including objects leaving the selection', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', 'web', {}, { app: 'web' }), pod('a', 'db', {}, { app: 'db' })] });
    const inf = new Informer<Pod>(fake, 'pods', { labelSelector: 'app=web' });
    const log = recorder(inf);
    const ac = new AbortController();
    inf.start(ac.signal);
    await inf.waitForSync();
    expect(inf.store.keys()).toEqual(['a/web']);
    await waitFor(() => fake.openWatches() === 1);
    const pods = fake.resource<Pod>('pods');
    const w = await pods.get('a', 'web');
    w.metadata.labels = { app: 'other' };
    await pods.update(w);
    await waitFor(() => inf.store.size() === 0);
    expect(log).toEqual(['add web', 'delete web']);
    ac.abort();

    const unbound = new Informer<Pod>(fake, 'pods', { fieldSelector: 'spec.nodeName=' });
    const ac2 = new AbortController();
    await fake.bind('a', 'db', 'n1');
    unbound.start(ac2.signal);
    await unbound.waitForSync();
    expect(unbound.store.keys()).toEqual(['a/web']);
    ac2.abort();
  });
});

describe('Informer stopping', () => {
  it('gives up a LIST that never answers when stopped, instead of waiting on it', async () => {
    // An apiserver that stopped answering: the LIST hangs until its own signal (if any) aborts it.
    const hung: Unanswered = { calls: 0, givenUp: 0 };
    const client = overrideResource(new FakeApiClient(), 'pods', () => ({ list: (_ns, options) => hangUntilAborted(options?.signal, hung) }));
    const inf = new Informer<Pod>(client, 'pods');
    // Without the signal on the LIST, this never returns.
    await stopWithRequestsInFlight(hung, (signal) => inf.run(signal));
    expect(inf.hasSynced()).toBe(false);
  });
});

describe('Informer select (a client-side selection)', () => {
  it('caches and reports only the selected objects, from the list and from the watch', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', 'on-n1'), pod('a', 'on-n2'), pod('a', 'unbound')] });
    await fake.bind('a', 'on-n1', 'n1');
    await fake.bind('a', 'on-n2', 'n2');
    const select = { object: (p: { spec?: { nodeName?: string } }) => p.spec?.nodeName === 'n1' };
    const inf = new Informer<Pod>(fake, 'pods', { select: select as never });
    const log = recorder(inf);
    const ac = new AbortController();
    inf.start(ac.signal);
    await inf.waitForSync();
    expect(inf.store.keys()).toEqual(['a/on-n1']);
    await waitFor(() => fake.openWatches() === 1);
    await fake.bind('a', 'unbound', 'n1');
    const pods = fake.resource<Pod>('pods');
    await pods.create(pod('a', 'later'));
    await fake.bind('a', 'later', 'n2');
    await waitFor(() => inf.store.size() === 2);
    await pods.delete('a', 'on-n2');
    await pods.delete('a', 'on-n1');
    await waitFor(() => inf.store.size() === 1);
    expect(inf.store.keys()).toEqual(['a/unbound']);
    expect(log).toEqual(['add on-n1', 'add unbound', 'delete on-n1']);
    ac.abort();
  });
});

describe('InformerFactory', () => {
  it('shares one informer per resource and selector, and starts late requests', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', 'p')] });
    const f = new InformerFactory(fake);
    const a = f.informer<Pod>('pods');
    expect(f.informer('po')).toBe(a);
    expect(f.informer({ apiVersion: 'v1', kind: 'Pod' })).toBe(a);
    expect(f.informer('pods', { namespace: 'a' })).not.toBe(a);
    const ac = new AbortController();
    f.start(ac.signal);
    const late = f.informer('nodes');
    expect(await f.waitForSync(ac.signal)).toBe(true);
    expect(late.hasSynced()).toBe(true);
    expect(a.store.size()).toBe(1);
    ac.abort();
  });
});
