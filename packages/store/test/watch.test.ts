import type { KubeObject } from '@flotilla/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreWatchEvent } from '../src/index.js';
import { eventually, Fixture, mapLimit, pod, privateEtcdFixture, rejection } from './helpers.js';

let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

/** Consumes a watch in the background, collecting events, until aborted. */
function collect(iterable: AsyncIterable<StoreWatchEvent>) {
  const events: StoreWatchEvent[] = [];
  const state: { error?: { code?: number; message: string }; done: boolean } = { done: false };
  void (async () => {
    try {
      for await (const e of iterable) events.push(e);
    } catch (err) {
      state.error = err as { code?: number; message: string };
    } finally {
      state.done = true;
    }
  })();
  return { events, state };
}

const summary = (events: StoreWatchEvent[]) => events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);

describe('EtcdStorage watch', () => {
  it('replays every change after a revision, in order, stamped with its revision', async () => {
    const s = fx.store();
    const start = await s.currentRevision();
    const a = await s.create('pods', pod('default', 'a'));
    const b = await s.create('pods', pod('other', 'b'));
    a.metadata.labels = { v: '2' };
    const a2 = await s.update('pods', a);
    const del = await s.delete('pods', 'default', 'a');

    const ac = new AbortController();
    const all = collect(s.watch('pods', undefined, { resourceVersion: start, signal: ac.signal }));
    const ns = collect(s.watch('pods', 'default', { resourceVersion: start, signal: ac.signal }));
    const fromB = collect(s.watch('pods', undefined, { resourceVersion: b.metadata.resourceVersion!, signal: ac.signal }));
    await eventually(() => all.events.length === 4 && ns.events.length === 3 && fromB.events.length === 2, 10_000, 'replayed events');
    expect(summary(all.events)).toEqual([
      `ADDED a ${a.metadata.resourceVersion}`,
      `ADDED b ${b.metadata.resourceVersion}`,
      `MODIFIED a ${a2.metadata.resourceVersion}`,
      `DELETED a ${del.object.metadata.resourceVersion}`,
    ]);
    expect(all.events[3]!.object.metadata.labels).toEqual({ v: '2' });
    expect(summary(ns.events)).toEqual(summary(all.events).filter((l) => !l.includes(' b ')));
    expect(summary(fromB.events)).toEqual(summary(all.events).slice(2));

    // Live changes keep coming, and a watch "from now" sees only those.
    const now = collect(s.watch('pods', undefined, { signal: ac.signal }));
    await eventually(async () => {
      await s.create('pods', pod('default', `probe-${Date.now()}`));
      return now.events.length > 0;
    });
    expect(now.events.every((e) => e.object.metadata.name!.startsWith('probe-'))).toBe(true);
    ac.abort();
    await eventually(() => all.state.done && ns.state.done && fromB.state.done && now.state.done, 5000, 'watches to end on abort');
    expect(all.state.error).toBeUndefined();
  });

  it('serves old revisions from etcd and then joins the shared watch without gaps', async () => {
    const s = fx.store({ watchHistorySize: 5 });
    const start = await s.currentRevision();
    // Start the shared watch, then push more changes than the history holds.
    const ac = new AbortController();
    const live = collect(s.watch('pods', undefined, { signal: ac.signal }));
    await eventually(async () => {
      await s.create('pods', pod('default', `warm-${Date.now()}`));
      return live.events.length > 0;
    });
    for (let i = 0; i < 20; i++) await s.create('pods', pod('default', `p-${i}`));
    const old = collect(s.watch('pods', undefined, { resourceVersion: start, signal: ac.signal }));
    for (let i = 20; i < 30; i++) await s.create('pods', pod('default', `p-${i}`));
    await eventually(() => old.events.filter((e) => e.object.metadata.name!.startsWith('p-')).length === 30, 10_000, 'catch-up');
    const revs = old.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(revs).toEqual([...revs].sort((x, y) => x - y));
    expect(new Set(revs).size).toBe(revs.length);
    ac.abort();
  });

  it('the lean watch stream and etcd3\'s (FLOTILLA_ETCD_WATCH=etcd3) deliver the same events: replayed, live, previous states, a catch-up from an old revision', async () => {
    const lean = fx.store({ watchHistorySize: 3 });
    const grpc = fx.store({ watchHistorySize: 3, watchClient: 'etcd3' });
    const start = await lean.currentRevision();
    const writes = async (tag: string) => {
      for (let i = 0; i < 4; i++) await lean.create('pods', pod('default', `${tag}-${i}`, i % 2 ? { nodeName: 'n1' } : {}));
      await lean.guaranteedUpdate('pods', 'default', `${tag}-0`, (c) => ({ ...c, spec: { ...(c.spec as object), nodeName: 'n1' } }));
      await lean.guaranteedUpdate('pods', 'default', `${tag}-1`, (c) => ({ ...c, spec: { ...(c.spec as object), nodeName: 'n2' } }));
      await lean.delete('pods', 'default', `${tag}-2`);
      await lean.delete('pods', 'default', `${tag}-3`);
    };
    await writes('before');
    const ac = new AbortController();
    const onN1 = (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName === 'n1';
    const watches = (s: typeof lean) => [
      collect(s.watch('pods', undefined, { resourceVersion: start, signal: ac.signal })),
      collect(s.watch('pods', 'default', { resourceVersion: start, predicate: onN1, signal: ac.signal })),
    ];
    const [leanAll, leanN1] = watches(lean);
    const [grpcAll, grpcN1] = watches(grpc);
    await writes('after');
    await eventually(() => leanAll!.events.length === 16 && grpcAll!.events.length === 16, 10_000, 'every event on both');
    const detail = (events: StoreWatchEvent[]) => events.map((e) => `${summary([e])[0]} ${(e.object.spec as { nodeName?: string }).nodeName ?? '-'}`);
    expect(detail(leanAll!.events)).toEqual(detail(grpcAll!.events));
    await eventually(() => detail(leanN1!.events).join() === detail(grpcN1!.events).join() && leanN1!.events.length === 10, 10_000, 'the same predicate events');
    // Per round: pods 1 and 3 created on n1, 0 moved onto n1, 1 moved off, 3 deleted (2 was never on n1).
    const round = ['ADDED 1', 'ADDED 3', 'ADDED 0', 'DELETED 1', 'DELETED 3'];
    expect(leanN1!.events.map((e) => `${e.type} ${e.object.metadata.name!.slice(-1)}`)).toEqual([...round, ...round]);
    ac.abort();
  });

  it.each([
    ['fed by the read cache', {}],
    ['with an etcd watch of its own (no read cache)', { readCache: false }],
  ])('turns predicate transitions into ADDED and DELETED: the hub %s', async (_, options) => {
    const s = fx.store(options);
    const ac = new AbortController();
    const onN1 = (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName === 'n1';
    const w = collect(s.watch('pods', 'default', { predicate: onN1, signal: ac.signal }));
    await eventually(async () => {
      await s.create('pods', pod('default', `ready-${Date.now()}`, { nodeName: 'n1' }));
      return w.events.length > 0;
    });
    let p = await s.create('pods', pod('default', 'mover'));
    p = await s.guaranteedUpdate('pods', 'default', 'mover', (c) => ({ ...c, spec: { ...(c.spec as object), nodeName: 'n1' } }));
    p = await s.guaranteedUpdate('pods', 'default', 'mover', (c) => ({ ...c, metadata: { ...c.metadata, labels: { x: '1' } } }));
    const moved = await s.guaranteedUpdate('pods', 'default', 'mover', (c) => ({ ...c, spec: { ...(c.spec as object), nodeName: 'n2' } }));
    await s.guaranteedUpdate('pods', 'default', 'mover', (c) => ({ ...c, spec: { ...(c.spec as object), nodeName: 'n1' } }));
    await s.delete('pods', 'default', 'mover');
    const mover = () => w.events.filter((e) => e.object.metadata.name === 'mover');
    await eventually(() => mover().length === 5, 10_000, 'predicate events');
    expect(mover().map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED', 'ADDED', 'DELETED']);
    // Leaving the selection: the last matching state, stamped with the revision of the change.
    expect((mover()[2]!.object.spec as { nodeName: string }).nodeName).toBe('n1');
    expect(mover()[2]!.object.metadata.resourceVersion).toBe(moved.metadata.resourceVersion);
    expect(p.metadata.labels).toEqual({ x: '1' });
    ac.abort();
  });

  it('ends a watcher that falls too far behind with 410, without holding up the others', async () => {
    const s = fx.store({ watchBufferSize: 10 });
    const ac = new AbortController();
    const fast = collect(s.watch('pods', undefined, { signal: ac.signal }));
    const slowIter = s.watch('pods', undefined, { signal: ac.signal })[Symbol.asyncIterator]();
    const firstSlow = slowIter.next(); // registers, then never reads again
    await eventually(async () => {
      await s.create('pods', pod('default', `w-${Date.now()}`));
      return fast.events.length > 0;
    });
    await firstSlow;
    for (let i = 0; i < 30; i++) await s.create('pods', pod('default', `x-${i}`));
    // Count by name: under load, late events of the warm-up loop above may still arrive.
    const seen = () => new Set(fast.events.map((e) => e.object.metadata.name).filter((n) => n?.startsWith('x-'))).size;
    await eventually(() => seen() === 30, 30_000, 'fast watcher');
    const err = await rejection((async () => {
      for (;;) {
        const r = await slowIter.next();
        if (r.done) return;
      }
    })());
    expect(err.code).toBe(410);
    ac.abort();
  });

  it('resumes a watch on a new store after the old one closed, missing nothing', async () => {
    const first = fx.store();
    const ac = new AbortController();
    const w1 = collect(first.watch('pods', undefined, { signal: ac.signal }));
    await eventually(async () => {
      await first.create('pods', pod('default', `a-${Date.now()}`));
      return w1.events.length > 0;
    });
    for (let i = 0; i < 5; i++) await first.create('pods', pod('default', `b-${i}`));
    await eventually(() => w1.events.some((e) => e.object.metadata.name === 'b-4'), 10_000, 'first watcher');
    const last = w1.events[w1.events.length - 1]!.object.metadata.resourceVersion!;
    await first.close();
    await eventually(() => w1.state.done, 5000, 'watch to end on close');
    expect(w1.state.error).toBeUndefined();

    // Changes while no store is running.
    const writer = fx.store();
    for (let i = 0; i < 5; i++) await writer.create('pods', pod('default', `c-${i}`));
    await writer.delete('pods', 'default', 'b-0');

    const second = fx.store();
    const w2 = collect(second.watch('pods', undefined, { resourceVersion: last, signal: ac.signal }));
    for (let i = 0; i < 3; i++) await second.create('pods', pod('default', `d-${i}`));
    await eventually(() => w2.events.length >= 9, 10_000, 'resumed watcher');
    expect(summary(w2.events).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => `ADDED c-${i}`),
      'DELETED b-0',
      ...[0, 1, 2].map((i) => `ADDED d-${i}`),
    ]);
    ac.abort();
  });

  it('freezes shared watch objects so one watcher cannot corrupt another', async () => {
    const s = fx.store();
    const rv = await s.currentRevision();
    await s.create('pods', pod('default', 'a'));
    const it = s.watch('pods', undefined, { resourceVersion: rv })[Symbol.asyncIterator]();
    const { value } = await it.next();
    expect(() => {
      (value as StoreWatchEvent).object.metadata.name = 'b';
    }).toThrow(TypeError);
    await it.return?.();
  });
});

// Compaction on an etcd of its own: on the shared one it would give every
// test file running beside this one a 410 for the revisions it still holds.
describe('EtcdStorage watch after a compaction', () => {
  const own = privateEtcdFixture();

  it('answers 410 Gone for a watch from a compacted revision', async () => {
    const s = own().store();
    const a = await s.create('pods', pod('default', 'a'));
    await s.create('pods', pod('default', 'b'));
    const rev = Number(await s.currentRevision());
    await own().etcd.kv.compact({ revision: rev, physical: true });
    const err = await rejection((async () => {
      for await (const _ of s.watch('pods', undefined, { resourceVersion: String(Number(a.metadata.resourceVersion) - 1) })) {
        // no event may arrive before the error
        throw new Error('unexpected event');
      }
    })());
    expect(err.code).toBe(410);
    expect(err.message).toContain('too old resource version');
    expect((await rejection((async () => {
      for await (const _ of s.watch('pods', undefined, { resourceVersion: 'abc' })) break;
    })())).code).toBe(400);
  });
});

/** etcd's count of watchers: the whole server's, so tests that read it run on an etcd of their own. */
async function watchersOf(f: Fixture): Promise<number> {
  const text = await (await fetch(`${f.hosts[0]}/metrics`)).text();
  return Number(/^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text)?.[1]);
}

describe('EtcdStorage watch hubs fed by the read cache', () => {
  const own = privateEtcdFixture();
  const etcdWatchers = () => watchersOf(own());

  it("a list then a watch of a resource nobody writes is served from memory, even from a revision etcd has compacted since, with no etcd watch of its own", async () => {
    const s = own().store();
    const ac = new AbortController();
    // Another resource's watch: once it sees a change, the read cache is loaded (it feeds the hub).
    const pods = collect(s.watch('pods', undefined, { signal: ac.signal }));
    await eventually(async () => {
      await s.create('pods', pod('default', `quiet-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`));
      return pods.events.length > 0;
    }, 10_000, 'the pod watch');
    // An informer's list: its revision is where its watch starts.
    const listed = await s.list('configmaps', undefined);
    for (let i = 0; i < 5; i++) await s.create('pods', pod('default', `busy-${i}`));
    await own().etcd.kv.compact({ revision: Number(await s.currentRevision()), physical: true });
    // Nothing of configmaps changed after the list: the store's memory has all this watch needs, etcd's compacted history nothing.
    const configmaps = collect(s.watch('configmaps', undefined, { resourceVersion: listed.resourceVersion, signal: ac.signal }));
    await s.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later', namespace: 'default' }, data: {} } as KubeObject);
    await eventually(() => configmaps.state.done || configmaps.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'later'), 10_000, 'the configmap on the watch');
    expect(configmaps.state.error).toBeUndefined();
    expect(summary(configmaps.events).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['ADDED later']);
    expect(await etcdWatchers()).toBe(1);
    ac.abort();
    await s.close();
    await eventually(async () => (await etcdWatchers()) === 0, 10_000, 'etcd watches gone with the store');
  });

  it('one etcd watch serves the read cache and the hubs of every resource; without the cache, one per hub', async () => {
    for (const [options, expected] of [[{}, 1], [{ readCache: false }, 3]] as const) {
      const s = own().store(options);
      const ac = new AbortController();
      const watches = ['pods', 'nodes', 'leases'].map((r) => collect(s.watch(r, undefined, { signal: ac.signal })));
      // A watch starts at the revision current once it is set up: write until one is seen.
      let made = await s.create('pods', pod('default', `one-${expected}-0`));
      await eventually(async () => {
        if (watches[0]!.events.length > 0) return true;
        await s.delete('pods', 'default', made.metadata.name!);
        made = await s.create('pods', pod('default', `one-${expected}-${Date.now()}`));
        return false;
      }, 10_000, 'the pod on the watch');
      await eventually(() => watches[0]!.events.some((e) => e.object.metadata.name === made.metadata.name), 10_000, 'the last pod on the watch');
      expect(await etcdWatchers()).toBe(expected);
      // A deletion carries the object's last state, which the cache (not etcd) supplied.
      await s.delete('pods', 'default', made.metadata.name!);
      const deleted = () => watches[0]!.events.find((e) => e.type === 'DELETED' && e.object.metadata.name === made.metadata.name);
      await eventually(() => deleted() !== undefined, 10_000, 'the deletion');
      const del = deleted()!;
      expect(del.object.metadata.uid).toBe(made.metadata.uid);
      expect(Number(del.object.metadata.resourceVersion)).toBeGreaterThan(Number(made.metadata.resourceVersion));
      ac.abort();
      await s.close();
      await eventually(async () => (await etcdWatchers()) === 0, 10_000, 'etcd watches gone with the store');
    }
  });
});

// A store of many keys, so the read cache takes seconds to load: on an etcd of its own, whose watchers are counted.
describe('EtcdStorage watch while the read cache loads', () => {
  const own = privateEtcdFixture();
  const etcdWatchers = () => watchersOf(own());

  it('a watch opened while the read cache loads is served from an etcd watch of its own at once, then moves onto the cache: nothing lost or twice, one etcd watch again', async () => {
    // Enough keys that the load, one key per etcd range, outlasts the hub's wait for it (1 s) by far.
    const filler = own().store();
    await mapLimit(Array.from({ length: 6000 }, (_, i) => i), 64, (i) =>
      filler.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `fill-${i}`, namespace: 'fill' }, data: { n: String(i) } } as KubeObject),
    );
    await filler.close();
    const s = own().store({ listChunkSize: 1 });
    const from = await s.currentRevision();
    const ac = new AbortController();
    const watch = collect(s.watch('pods', undefined, { resourceVersion: from, signal: ac.signal }));
    let loaded = false;
    const load = s.list('configmaps', 'fill', { fromCache: true }).then((l) => {
      loaded = true;
      return l;
    });
    // Pods made while the copy loads and after: each seen once, in order, the first before the copy is loaded.
    const made: KubeObject[] = [await s.create('pods', pod('default', 'during-0'))];
    await eventually(() => watch.events.length > 0, 10_000, 'the first pod on the watch');
    expect(loaded).toBe(false);
    for (let i = 1; !loaded; i++) {
      made.push(await s.create('pods', pod('default', `during-${i}`)));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await load).items).toHaveLength(6000);
    for (let i = 0; i < 5; i++) made.push(await s.create('pods', pod('default', `after-${i}`)));
    await eventually(() => watch.events.length >= made.length, 10_000, 'every pod on the watch');
    expect(summary(watch.events)).toEqual(made.map((p) => `ADDED ${p.metadata.name} ${p.metadata.resourceVersion}`));
    // The hub left its own etcd watch for the cache's.
    await eventually(async () => (await etcdWatchers()) === 1, 10_000, 'one etcd watch');
    made.push(await s.create('pods', pod('default', 'last')));
    await eventually(() => watch.events.length === made.length, 10_000, 'the last pod on the watch');
    expect(watch.events.at(-1)!.object.metadata.name).toBe('last');
    expect(watch.state.error).toBeUndefined();
    ac.abort();
    await s.close();
    await eventually(async () => (await etcdWatchers()) === 0, 10_000, 'etcd watches gone with the store');
  });
});
