import { createLogger } from '@flotilla/observability';
import type { IEvent, IKeyValue } from 'etcd3';
import type { RangeResponse } from './etcd-proto.js';
import type { ReadCacheOptions } from './read-cache.js';
import { describe, expect, it } from 'vitest';
import { mergeKeys, ownBytes, ReadCache, STALE } from './read-cache.js';
import { ResourceHub, Subscription } from './watch-hub.js';
import type { WatchHandlers, WatchRequest, WatchStream } from './watch-stream.js';

const kv = (key: string, rev: number, value = `{"metadata":{"name":"${key}"}}`): IKeyValue =>
  ({ key: Buffer.from(key), value: Buffer.from(value), mod_revision: String(rev), create_revision: String(rev), version: '1', lease: '0' }) as IKeyValue;

/** A fake etcd: one range answer, and the watch handlers the cache registers. */
function fakes(kvs: IKeyValue[], revision: number) {
  const watches: Array<{ req: WatchRequest; handlers: WatchHandlers; cancelled: boolean }> = [];
  const client: ReadCacheOptions['client'] = { range: async () => ({ kvs, header: { revision: String(revision) } }) as unknown as RangeResponse };
  const stream = {
    watch: (req: WatchRequest, handlers: WatchHandlers) => {
      const w = { req, handlers, cancelled: false };
      watches.push(w);
      return () => (w.cancelled = true);
    },
  } as unknown as WatchStream;
  return { client, stream, watches };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('ReadCache', () => {
  it('loads in chunks, every one at the first one\'s revision', async () => {
    const all = Array.from({ length: 25 }, (_, i) => kv(`/r/pods/default/p${String(i).padStart(2, '0')}`, i + 1));
    const asked: Array<{ key: string; limit: number; revision?: number }> = [];
    // A fake etcd that honours key, limit and revision as a range does.
    const client: ReadCacheOptions['client'] = {
      range: async (req) => {
        const from = req.key.toString();
        asked.push({ key: from, limit: Number(req.limit), ...(req.revision ? { revision: Number(req.revision) } : {}) });
        const rest = all.filter((k) => k.key.toString() >= from);
        const kvs = rest.slice(0, Number(req.limit));
        return { kvs, more: rest.length > kvs.length, header: { revision: String(req.revision ?? 40) } } as unknown as RangeResponse;
      },
    };
    const f = fakes([], 0);
    const cache = new ReadCache({ client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }), loadChunk: 10 });
    cache.start();
    await settle();
    await settle();
    expect(cache.ready).toBe(true);
    expect(cache.size).toBe(25);
    expect(asked).toEqual([
      { key: '/r/', limit: 10 },
      { key: '/r/pods/default/p09\u0000', limit: 10, revision: 40 },
      { key: '/r/pods/default/p19\u0000', limit: 10, revision: 40 },
    ]);
    expect(f.watches[0]!.req.startRevision).toBe(41);
  });

  it('answers only revisions it has caught up with, and applies puts and deletes in order', async () => {
    const f = fakes([kv('/r/pods/default/a', 5)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(cache.lookup('/r/pods/default/a', 1)).toBe(STALE); // not loaded
    cache.start();
    await settle();
    expect(cache.ready).toBe(true);
    expect(f.watches[0]!.req.startRevision).toBe(11);
    expect(f.watches[0]!.req.prevKv).toBe(false);
    expect((cache.lookup('/r/pods/default/a', 10) as { modRevision: string }).modRevision).toBe('5');
    expect(cache.lookup('/r/pods/default/b', 10)).toBeUndefined();
    // A read that started after revision 12 was written must wait for it.
    expect(cache.lookup('/r/pods/default/a', 12)).toBe(STALE);
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: kv('/r/pods/default/b', 11) },
      { type: 'Delete', kv: kv('/r/pods/default/a', 12, '') },
    ] as IEvent[]);
    expect(cache.revision).toBe(12);
    expect(cache.lookup('/r/pods/default/a', 12)).toBeUndefined();
    expect((cache.lookup('/r/pods/default/b', 12) as { modRevision: string }).modRevision).toBe('11');
    // A replay after a reconnect changes nothing.
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: kv('/r/pods/default/a', 9) }] as IEvent[]);
    expect(cache.lookup('/r/pods/default/a', 12)).toBeUndefined();
  });

  it('ranges over one resource or one namespace in key order, following puts and deletes', async () => {
    const f = fakes([kv('/r/pods/b/x', 3), kv('/r/pods/a/z', 4), kv('/r/podtemplates/a/y', 5), kv('/r/pods/a/c', 6)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(cache.range('/r/pods/', 1)).toBe(STALE); // not loaded
    cache.start();
    await settle();
    const keys = (base: string, atLeast = 10) => {
      const r = cache.range(base, atLeast);
      return r === STALE ? r : r.kvs.map(([k]) => k);
    };
    expect(keys('/r/pods/')).toEqual(['/r/pods/a/c', '/r/pods/a/z', '/r/pods/b/x']);
    expect(keys('/r/pods/a/')).toEqual(['/r/pods/a/c', '/r/pods/a/z']);
    expect(keys('/r/podtemplates/')).toEqual(['/r/podtemplates/a/y']);
    expect(keys('/r/services/')).toEqual([]);
    expect(keys('/r/pods/', 11)).toBe(STALE); // behind the asked revision
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: kv('/r/pods/a/a', 11) },
      { type: 'Delete', kv: kv('/r/pods/a/z', 12, '') },
      { type: 'Delete', kv: kv('/r/podtemplates/a/y', 13, '') },
      { type: 'Put', kv: kv('/r/pods/a/c', 14, '{"v":2}') },
    ] as IEvent[]);
    const r = cache.range('/r/pods/a/', 14);
    expect(r !== STALE && r.revision).toBe(14);
    expect(r !== STALE && r.kvs.map(([k, v]) => [k, v.modRevision])).toEqual([['/r/pods/a/a', '11'], ['/r/pods/a/c', '14']]);
    expect(keys('/r/podtemplates/', 14)).toEqual([]);
  });

  it('keeps a resource in key order across rounds of creations and deletions between ranges (a key deleted and created again once)', async () => {
    const f = fakes([], 1);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    cache.start();
    await settle();
    const live = new Set<string>();
    let rev = 1;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 40; round++) {
      const events: IEvent[] = [];
      for (let i = 0; i < 25; i++) {
        const key = `/r/pods/ns-${Math.floor(random() * 4)}/p-${Math.floor(random() * 60)}`;
        rev++;
        if (live.has(key) && random() < 0.5) {
          live.delete(key);
          events.push({ type: 'Delete', kv: kv(key, rev, '') } as IEvent);
        } else {
          live.add(key);
          events.push({ type: 'Put', kv: kv(key, rev) } as IEvent);
        }
      }
      f.watches[0]!.handlers.onEvents(events);
      // Some rounds range, some do not: the changes of several rounds are merged at once.
      if (round % 3 === 2) continue;
      const all = cache.range('/r/pods/', rev);
      expect(all !== STALE && all.kvs.map(([k]) => k)).toEqual([...live].sort());
      const one = cache.range('/r/pods/ns-2/', rev);
      const ns2 = [...live].filter((k) => k.startsWith('/r/pods/ns-2/')).sort();
      expect(one !== STALE && one.kvs.map(([k]) => k)).toEqual(ns2);
      // A page: the first keys in order, and the count of all of them.
      const page = cache.range('/r/pods/ns-2/', rev, 3);
      expect(page !== STALE && [page.kvs.map(([k]) => k), page.total]).toEqual([ns2.slice(0, 3), ns2.length]);
      const allPage = cache.range('/r/pods/', rev, 5);
      expect(allPage !== STALE && [allPage.kvs.map(([k]) => k), allPage.total]).toEqual([[...live].sort().slice(0, 5), live.size]);
    }
    // Deletions alone between two ranges.
    const gone = [...live].slice(0, 3);
    f.watches[0]!.handlers.onEvents(gone.map((key) => ({ type: 'Delete', kv: kv(key, ++rev, '') }) as IEvent));
    for (const key of gone) live.delete(key);
    const after = cache.range('/r/pods/', rev);
    expect(after !== STALE && after.kvs.map(([k]) => k)).toEqual([...live].sort());
  });

  it('mergeKeys: the sorted union, each key once, only the keys that exist', () => {
    expect(mergeKeys(['a', 'c', 'e'], ['b', 'c', 'd'], new Set(['a', 'b', 'c', 'd']))).toEqual(['a', 'b', 'c', 'd']);
    expect(mergeKeys([], ['x'], new Set(['x']))).toEqual(['x']);
    expect(mergeKeys(['x'], [], new Set())).toEqual([]);
  });

  it('caughtUp resolves once the copy applies the revision, false at its deadline or when the copy is dropped', async () => {
    const f = fakes([kv('/r/pods/default/a', 5)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(await cache.caughtUp(1, 1000)).toBe(false); // not loaded: nothing to wait for
    cache.start();
    await settle();
    expect(await cache.caughtUp(10, 0)).toBe(true);
    const waited: boolean[] = [];
    const at12 = cache.caughtUp(12, 60_000).then((ok) => waited.push(ok));
    const at11 = cache.caughtUp(11, 60_000).then((ok) => waited.push(ok));
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: kv('/r/pods/default/b', 11) }] as IEvent[]);
    await at11;
    expect(waited).toEqual([true]); // 12 is still ahead
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: kv('/r/pods/default/c', 12) }] as IEvent[]);
    await at12;
    expect(waited).toEqual([true, true]);
    // A revision written outside the prefix is never reached: the wait ends at its deadline.
    expect(await cache.caughtUp(13, 20)).toBe(false);
    const dropped = cache.caughtUp(13, 60_000);
    f.watches[0]!.handlers.onCanceled(12, 'compacted');
    expect(await dropped).toBe(false);
  });

  it('drops the copy when etcd cancels its watch (compaction) and reloads on the next start', async () => {
    const f = fakes([kv('/r/pods/default/a', 5)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    cache.start();
    await settle();
    f.watches[0]!.handlers.onCanceled(20, 'compacted');
    expect(cache.ready).toBe(false);
    expect(cache.lookup('/r/pods/default/a', 1)).toBe(STALE);
    cache.start();
    await settle();
    expect(cache.ready).toBe(true);
    expect(f.watches).toHaveLength(2);
    cache.close();
    expect(f.watches[1]!.cancelled).toBe(true);
  });
});

describe('ReadCache feeding a watch hub', () => {
  const podValue = (node: string) => `{"metadata":{"name":"a","namespace":"default"},"spec":{"nodeName":"${node}"}}`;

  it('hands each change of the resource over with the value it replaced, after applying it; a reset ends the watchers with 410', async () => {
    const f = fakes([kv('/r/pods/default/a', 5, podValue('n1')), kv('/r/nodes/n1', 6)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(await cache.whenReady()).toBe(true);
    let broken = 0;
    const hub = new ResourceHub({ stream: f.stream, resourcePrefix: '/r/pods/', historySize: 100, log: createLogger('test', { level: 'silent' }), onBroken: () => broken++ });
    expect(hub.startFromCache(cache)).toBe(true);
    expect(hub.lastRevision).toBe(10);
    expect(f.watches).toHaveLength(1); // the cache's own: the hub opened none
    const sub = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 10, bufferSize: 100 });
    hub.attach(sub);
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: { ...kv('/r/pods/default/a', 11, podValue('n2')), version: '2' } },
      { type: 'Put', kv: kv('/r/nodes/n2', 12) }, // another resource: not this hub's
      { type: 'Delete', kv: { ...kv('/r/pods/default/a', 13, ''), version: '0' } },
    ] as IEvent[]);
    const it = sub.events()[Symbol.asyncIterator]();
    const first = (await it.next()).value!;
    expect([first.type, (first.object.spec as { nodeName: string }).nodeName, first.object.metadata.resourceVersion]).toEqual(['MODIFIED', 'n2', '11']);
    // The deletion's object is the last state, which only the copy had (etcd sent no prev_kv).
    const second = (await it.next()).value!;
    expect([second.type, (second.object.spec as { nodeName: string }).nodeName, second.object.metadata.resourceVersion]).toEqual(['DELETED', 'n2', '13']);
    expect(cache.lookup('/r/pods/default/a', 13)).toBeUndefined();
    // etcd cancels the cache's watch (compacted while away): the hub can no longer vouch for what follows.
    f.watches[0]!.handlers.onCanceled(20, 'compacted');
    expect(broken).toBe(1);
    await expect(it.next()).rejects.toMatchObject({ code: 410 });
  });

  it("a hub it feeds serves watches from as far back as the resource has been quiet since the load, and its watchers' progress moves with every resource", async () => {
    const f = fakes([kv('/r/daemonsets/default/d', 3), kv('/r/pods/default/a', 5, podValue('n1'))], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(await cache.whenReady()).toBe(true);
    // Changes after the load, before either hub starts: pods changed at 12, daemonsets not at all.
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: kv('/r/nodes/n1', 11) },
      { type: 'Put', kv: { ...kv('/r/pods/default/a', 12, podValue('n2')), version: '2' } },
      { type: 'Put', kv: kv('/r/nodes/n2', 13) },
    ] as IEvent[]);
    const hubOf = (resource: string) => {
      const hub = new ResourceHub({ stream: f.stream, resourcePrefix: `/r/${resource}/`, historySize: 100, log: createLogger('test', { level: 'silent' }), onBroken: () => undefined });
      expect(hub.startFromCache(cache)).toBe(true);
      return hub;
    };
    const daemonsets = hubOf('daemonsets');
    const pods = hubOf('pods');
    // An informer that listed at 10 and watches from there: nothing of daemonsets changed since, so memory serves it.
    expect(daemonsets.canServe(10)).toBe(true);
    // Before the load the copy cannot tell; and pods changed at 12, which no history holds.
    expect(daemonsets.canServe(9)).toBe(false);
    expect(pods.canServe(11)).toBe(false);
    expect(pods.canServe(12)).toBe(true);
    const sub = new Subscription({ keyPrefix: '/r/daemonsets/default/', afterRevision: 10, bufferSize: 100 });
    daemonsets.attach(sub);
    expect(sub.progress()).toBe(13);
    // Writes to other resources move it on: a bookmark taken now lets the watch resume from there.
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: kv('/r/nodes/n3', 14) }] as IEvent[]);
    expect(sub.progress()).toBe(14);
    expect(daemonsets.canServe(sub.progress())).toBe(true);
  });

  it('whenReady answers false when the load fails, and a feed is refused until loaded', async () => {
    const f = fakes([], 10);
    const cache = new ReadCache({ client: { range: async () => Promise.reject(new Error('etcd down')) }, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(cache.feed('/r/pods/', { onEvents: () => undefined, onReset: () => undefined })).toBeUndefined();
    expect(await cache.whenReady()).toBe(false);
  });
});

describe('a watch hub that started on an etcd watch of its own while the cache loaded', () => {
  const log = createLogger('test', { level: 'silent' });
  const put = (key: string, rev: number) => ({ type: 'Put', kv: kv(key, rev) }) as unknown as IEvent;
  /** A loaded cache (revision 10) and a hub of pods on a watch of its own from `from`, with one watcher from there. */
  async function setup(from: number, historySize = 100) {
    const f = fakes([kv('/r/pods/default/a', 5)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log });
    expect(await cache.whenReady()).toBe(true);
    const cacheWatch = f.watches[0]!;
    const hub = new ResourceHub({ stream: f.stream, resourcePrefix: '/r/pods/', historySize, log, onBroken: () => undefined });
    const started = hub.start(from);
    const own = f.watches[1]!;
    own.handlers.onCreated?.();
    await started;
    const sub = new Subscription({ keyPrefix: '/r/pods/', afterRevision: from, bufferSize: 100 });
    hub.attach(sub);
    const seen: number[] = [];
    void (async () => {
      for await (const e of sub.events()) seen.push(Number(e.object.metadata.resourceVersion));
    })();
    return { cache, hub, cacheWatch, own, seen };
  }

  it('moves onto the cache once its own watch has delivered every change the cache had applied: nothing lost, nothing twice, its own watch cancelled', async () => {
    const { cache, hub, cacheWatch, own, seen } = await setup(8);
    own.handlers.onEvents([put('/r/pods/default/b', 9)] as never);
    // The copy applied a pod change at 12 (not yet delivered by the hub's own watch) and a node's at 13.
    cacheWatch.handlers.onEvents([put('/r/pods/default/c', 12), put('/r/nodes/n1', 13)] as never);
    expect(hub.moveToCache(cache)).toBe(true);
    // What the copy feeds now waits: the own watch has not delivered 12 yet.
    cacheWatch.handlers.onEvents([put('/r/pods/default/d', 14)] as never);
    await settle();
    expect(seen).toEqual([9]);
    expect(own.cancelled).toBe(false);
    own.handlers.onEvents([put('/r/pods/default/c', 12)] as never);
    expect(own.cancelled).toBe(true);
    // The own watch's late events are the feed's too: ignored.
    own.handlers.onEvents([put('/r/pods/default/d', 14), put('/r/pods/default/x', 15)] as never);
    cacheWatch.handlers.onEvents([put('/r/pods/default/e', 16)] as never);
    await settle();
    expect(seen).toEqual([9, 12, 14, 16]);
    expect(hub.processedRevision()).toBe(16);
  });

  it('moves at once when its own watch is ahead of the cache, or the resource was quiet since the load, skipping what it already delivered', async () => {
    const ahead = await setup(8);
    ahead.cacheWatch.handlers.onEvents([put('/r/pods/default/c', 12)] as never);
    ahead.own.handlers.onEvents([put('/r/pods/default/c', 12), put('/r/pods/default/d', 14)] as never);
    expect(ahead.hub.moveToCache(ahead.cache)).toBe(true);
    expect(ahead.own.cancelled).toBe(true);
    ahead.cacheWatch.handlers.onEvents([put('/r/pods/default/d', 14), put('/r/pods/default/e', 15)] as never);
    await settle();
    expect(ahead.seen).toEqual([12, 14, 15]);

    // No pod changed since the load (10), and the own watch started there.
    const quiet = await setup(10);
    expect(quiet.hub.moveToCache(quiet.cache)).toBe(true);
    expect(quiet.own.cancelled).toBe(true);
    quiet.cacheWatch.handlers.onEvents([put('/r/pods/default/b', 11)] as never);
    await settle();
    expect(quiet.seen).toEqual([11]);
    // Moved once: a second call is refused.
    expect(quiet.hub.moveToCache(quiet.cache)).toBe(false);
  });

  it('stays on its own watch, missing nothing, when more changes wait than its history holds, or the cache is reset first', async () => {
    const { cache, hub, cacheWatch, own, seen } = await setup(8, 2);
    cacheWatch.handlers.onEvents([put('/r/pods/default/c', 12)] as never);
    expect(hub.moveToCache(cache)).toBe(true);
    cacheWatch.handlers.onEvents([put('/r/pods/default/d', 13), put('/r/pods/default/e', 14), put('/r/pods/default/f', 15)] as never);
    own.handlers.onEvents([put('/r/pods/default/c', 12), put('/r/pods/default/d', 13)] as never);
    expect(own.cancelled).toBe(false);
    // No longer fed by the copy: its changes reach the watcher through the own watch only, once each.
    cacheWatch.handlers.onEvents([put('/r/pods/default/g', 16)] as never);
    own.handlers.onEvents([put('/r/pods/default/e', 14), put('/r/pods/default/f', 15), put('/r/pods/default/g', 16)] as never);
    await settle();
    expect(seen).toEqual([12, 13, 14, 15, 16]);

    const reset = await setup(8);
    reset.cacheWatch.handlers.onEvents([put('/r/pods/default/c', 12)] as never);
    expect(reset.hub.moveToCache(reset.cache)).toBe(true);
    reset.cacheWatch.handlers.onCanceled(20, 'compacted');
    reset.own.handlers.onEvents([put('/r/pods/default/c', 12), put('/r/pods/default/d', 13)] as never);
    await settle();
    expect(reset.own.cancelled).toBe(false);
    expect(reset.seen).toEqual([12, 13]);
  });
});

describe('ownBytes', () => {
  it('copies a view out of its larger buffer, and keeps a buffer that is already its own', () => {
    const message = Buffer.alloc(64 * 1024, 0x61);
    const view = message.subarray(100, 120);
    const own = ownBytes(view);
    expect(own.equals(view)).toBe(true);
    expect(own.buffer.byteLength).toBe(20);
    expect(ownBytes(own)).toBe(own);
  });

  it('the read cache keeps no watch message alive, and a loaded answer only while half its values are held', async () => {
    // "Messages" holding several values, as a decoded range or watch response does.
    const inMessage = (message: Buffer) => {
      let at = 0;
      return (key: string, rev: number) => {
        const n = message.write(`{"metadata":{"name":"${key}"}}`, at);
        const value = message.subarray(at, at + n);
        at += n;
        return { ...kv(key, rev), value } as IKeyValue;
      };
    };
    const loadAnswer = Buffer.alloc(64 * 1024);
    const loaded = inMessage(loadAnswer);
    const watched = inMessage(Buffer.alloc(64 * 1024));
    const keys = ['a', 'b', 'c', 'd'].map((k) => `/r/pods/default/${k}`);
    const f = fakes(keys.map((k, i) => loaded(k, i + 1)), 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    const fed: Buffer[] = [];
    cache.start();
    await settle();
    const valueOf = (key: string) => (cache.lookup(key, 0) as { value: Buffer }).value;
    // Loaded values are not copied: views of the answer.
    for (const key of keys) {
      expect(JSON.parse(valueOf(key).toString()).metadata.name).toBe(key);
      expect(valueOf(key).buffer).toBe(loadAnswer.buffer);
    }
    cache.feed('/r/pods/', { onEvents: (events) => fed.push(...events.map((e) => e.kv.value)), onReset: () => undefined });
    // A watched value is copied out of its message, and the watch hubs are fed that copy, not a second one.
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: watched('/r/pods/default/e', 11) }] as IEvent[]);
    expect(valueOf('/r/pods/default/e').buffer.byteLength).toBe(valueOf('/r/pods/default/e').length);
    expect(fed).toEqual([valueOf('/r/pods/default/e')]);
    expect(fed[0]).toBe(valueOf('/r/pods/default/e'));
    // Two of the four loaded values replaced or deleted: half are still held, the answer stays.
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: watched(keys[0]!, 12) },
      { type: 'Delete', kv: { ...kv(keys[1]!, 13, ''), value: Buffer.alloc(0) } },
    ] as IEvent[]);
    expect(valueOf(keys[2]!).buffer).toBe(loadAnswer.buffer);
    // A third: the last one is copied out and the answer let go.
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: watched(keys[2]!, 14) }] as IEvent[]);
    const last = valueOf(keys[3]!);
    expect(last.buffer).not.toBe(loadAnswer.buffer);
    expect(last.buffer.byteLength).toBe(last.length);
    expect(JSON.parse(last.toString()).metadata.name).toBe(keys[3]);
    expect((cache.lookup(keys[3]!, 14) as { modRevision: string }).modRevision).toBe('4');
    expect(cache.lookup(keys[1]!, 14)).toBeUndefined();
    for (const key of [keys[0]!, keys[2]!, '/r/pods/default/e']) expect(JSON.parse(valueOf(key).toString()).metadata.name).toBe(key);
  });
});
