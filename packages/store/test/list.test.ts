import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EtcdStorage } from '../src/index.js';
import { eventually, Fixture, mapLimit, pod, privateEtcdFixture, rejection } from './helpers.js';

/**
 * Holds back the events of `s`'s read cache watch until release(), as a
 * busy process or a slow watch connection does: the copy falls behind.
 */
function holdCacheEvents(s: EtcdStorage): () => void {
  const cache = (s as unknown as { readCache: { apply(events: unknown[]): void } }).readCache;
  const held: unknown[][] = [];
  cache.apply = (events) => void held.push(events);
  return () => {
    delete (cache as { apply?: unknown }).apply; // the class's own again
    for (const events of held) cache.apply(events);
  };
}

let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('EtcdStorage list', () => {
  it('answers a jsonOnly list with each item\'s JSON, undecoded: the same items as a decoded list, paged alike', async () => {
    const s = fx.store();
    for (let i = 0; i < 5; i++) await s.create('pods', pod('raw', `p-${i}`));
    const decoded = await s.list('pods', 'raw');
    const raw = await s.list('pods', 'raw', { jsonOnly: true });
    expect(raw.items).toEqual([]);
    expect(raw.json!.map((t) => JSON.parse(t))).toEqual(decoded.items);
    const page = await s.list('pods', 'raw', { jsonOnly: true, limit: 2 });
    expect(page.json!.map((t) => JSON.parse(t).metadata.name)).toEqual(['p-0', 'p-1']);
    expect(page.remainingItemCount).toBe(3);
    const next = await s.list('pods', 'raw', { jsonOnly: true, limit: 2, continue: page.continue });
    expect(next.json!.map((t) => JSON.parse(t).metadata.name)).toEqual(['p-2', 'p-3']);
    // With a predicate the objects are needed: items, as before.
    const some = await s.list('pods', 'raw', { jsonOnly: true, predicate: (o) => o.metadata.name === 'p-4' });
    expect(some.json).toBeUndefined();
    expect(some.items.map((o) => o.metadata.name)).toEqual(['p-4']);
  });

  it('answers a jsonOnly list with objects when a value is not in the stored form (written to etcd by something else)', async () => {
    const s = fx.store();
    await s.create('pods', pod('odd', 'a'));
    await fx.etcd.put(`${fx.prefix}/pods/odd/b`).value(JSON.stringify({ metadata: { name: 'b', namespace: 'odd' }, kind: 'Pod', apiVersion: 'v1' }));
    await s.create('pods', pod('odd', 'c'));
    const res = await s.list('pods', 'odd', { jsonOnly: true });
    expect(res.json).toBeUndefined();
    expect(res.items.map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
    for (const o of res.items) expect(Number(o.metadata.resourceVersion)).toBeGreaterThan(0);
  });

  it('reads a list bigger than its chunk in several ranges at one revision: every pod once, none written after it started', async () => {
    // Without the read cache, which would serve first pages whole.
    const s = fx.store({ listChunkSize: 100, readCache: false });
    const names = Array.from({ length: 250 }, (_, i) => `c-${String(i).padStart(3, '0')}`);
    await mapLimit(names, 32, (n) => s.create('pods', pod('chunked', n)));
    const writer = fx.store();
    let stop = false;
    let extra = 0;
    const writes = (async () => {
      while (!stop) await writer.create('pods', pod('chunked', `zz-${extra++}`));
    })();
    const all = await s.list('pods', 'chunked', { jsonOnly: true });
    stop = true;
    await writes;
    const seen = all.json!.map((t) => JSON.parse(t) as { metadata: { name: string; resourceVersion: string } });
    expect(seen.filter((o) => o.metadata.name.startsWith('c-')).map((o) => o.metadata.name)).toEqual(names);
    for (const o of seen) expect(Number(o.metadata.resourceVersion)).toBeLessThanOrEqual(Number(all.resourceVersion));
    // A limit across chunks: the count left is what follows the page, not the chunk.
    const page = await s.list('pods', 'chunked', { limit: 150 });
    expect(page.items.map((o) => o.metadata.name)).toEqual(names.slice(0, 150));
    expect(page.remainingItemCount).toBe(100 + extra);
    const rest = await s.list('pods', 'chunked', { limit: 1000, continue: page.continue });
    expect(rest.items.map((o) => o.metadata.name).filter((n) => n.startsWith('c-'))).toEqual(names.slice(150));
  });

  it('pages 2,000 pods at the first page\'s revision while writes happen, each pod exactly once', async () => {
    const s = fx.store();
    const names = Array.from({ length: 2000 }, (_, i) => `p-${String(i).padStart(4, '0')}`);
    await mapLimit(names, 64, (n) => s.create('pods', pod(`ns${Number(n.slice(2)) % 4}`, n)));

    const seen = new Map<string, string>();
    let page = await s.list('pods', undefined, { limit: 150 });
    const rv = page.resourceVersion;
    expect(page.remainingItemCount).toBe(2000 - 150);
    let writes = 0;
    for (;;) {
      for (const item of page.items) {
        const key = `${item.metadata.namespace}/${item.metadata.name}`;
        expect(seen.has(key)).toBe(false);
        seen.set(key, item.metadata.resourceVersion!);
      }
      if (!page.continue) break;
      // Between pages: new pods, deleted pods, changed pods. None may show.
      await s.create('pods', pod('ns0', `zz-new-${writes}`));
      await s.delete('pods', `ns${(1000 + writes) % 4}`, `p-${1000 + writes}`);
      await s.guaranteedUpdate('pods', 'ns2', 'p-0002', (cur) => ({ ...cur, metadata: { ...cur.metadata, labels: { n: String(writes) } } }));
      writes++;
      page = await s.list('pods', undefined, { limit: 150, continue: page.continue });
      expect(page.resourceVersion).toBe(rv);
    }
    expect(seen.size).toBe(2000);
    for (const v of seen.values()) expect(Number(v)).toBeLessThanOrEqual(Number(rv));
    expect([...seen.keys()].some((k) => k.includes('zz-new'))).toBe(false);
  });

  it('lists one namespace, and fills a page through a predicate', async () => {
    const s = fx.store();
    await mapLimit(Array.from({ length: 300 }, (_, i) => i), 32, (i) =>
      s.create('pods', pod(i % 2 ? 'odd' : 'even', `p-${String(i).padStart(3, '0')}`, { labels: { mod7: String(i % 7) } })),
    );
    await s.create('podtemplates', { metadata: { name: 'not-a-pod', namespace: 'odd' } });
    const odd = await s.list('pods', 'odd');
    expect(odd.items).toHaveLength(150);
    expect(odd.continue).toBeUndefined();

    const pred = (o: { metadata: { labels?: Record<string, string> } }) => o.metadata.labels?.mod7 === '3';
    const all: string[] = [];
    let page = await s.list('pods', undefined, { limit: 10, predicate: pred });
    for (;;) {
      expect(page.items.length).toBeLessThanOrEqual(10);
      all.push(...page.items.map((p) => p.metadata.name!));
      if (!page.continue) break;
      expect(page.items).toHaveLength(10);
      page = await s.list('pods', undefined, { limit: 10, predicate: pred, continue: page.continue });
    }
    expect(all.sort()).toEqual(
      Array.from({ length: 300 }, (_, i) => i)
        .filter((i) => i % 7 === 3)
        .map((i) => `p-${String(i).padStart(3, '0')}`)
        .sort(),
    );
  });

  it('rejects a malformed continue token with 400', async () => {
    const s = fx.store();
    expect((await rejection(s.list('pods', undefined, { continue: 'garbage!' }))).code).toBe(400);
  });

});

// Compaction on an etcd of its own: on the shared one it would give every
// test file running beside this one a 410 for the revisions it still holds.
describe('EtcdStorage list after a compaction', () => {
  const own = privateEtcdFixture();

  it('answers 410 Gone for a continue token whose revision was compacted', async () => {
    const s = own().store();
    await mapLimit(Array.from({ length: 10 }, (_, i) => i), 10, (i) => s.create('pods', pod('default', `p-${i}`)));
    const first = await s.list('pods', undefined, { limit: 3 });
    expect(first.continue).toBeDefined();
    // Move past the page's revision, then compact past it.
    const later = await s.create('pods', pod('default', 'later'));
    await own().etcd.kv.compact({ revision: Number(first.resourceVersion) + 1, physical: true });
    expect(Number(later.metadata.resourceVersion)).toBeGreaterThan(Number(first.resourceVersion));
    const err = await rejection(s.list('pods', undefined, { limit: 3, continue: first.continue! }));
    expect(err.code).toBe(410);
    expect(err.message).toContain('The provided continue parameter is too old');
  });
});

// On an etcd of its own, so that no other test's writes keep the cache a revision behind etcd's.
describe('EtcdStorage list from the read cache', () => {
  const own = privateEtcdFixture();

  it('a first page from the cache reflects every write acknowledged before it, through this store or another', async () => {
    const writer = own().store();
    const s = own().store({ readCacheMissBackoffMs: 0, readCacheListWaitMs: 30_000 });
    await mapLimit(Array.from({ length: 40 }, (_, i) => i), 16, (i) => writer.create('pods', pod(`ns${i % 2}`, `p-${String(i).padStart(2, '0')}`)));
    const names = async (ns?: string) => (await s.list('pods', ns)).items.map((o) => o.metadata.name);
    await names(); // starts the cache
    await eventually(async () => (await names(), s.readStats.cacheLists > 0));
    const fromCache = s.readStats.cacheLists;
    for (let i = 0; i < 20; i++) {
      const made = await (i % 2 ? writer : s).create('pods', pod('ns1', `new-${i}`));
      const l = await s.list('pods', 'ns1');
      expect(l.items.map((o) => o.metadata.name)).toContain(`new-${i}`);
      expect(Number(l.resourceVersion)).toBeGreaterThanOrEqual(Number(made.metadata.resourceVersion));
      await writer.delete('pods', 'ns1', `new-${i}`);
      expect(await names('ns1')).not.toContain(`new-${i}`);
    }
    expect(s.readStats.cacheLists).toBeGreaterThan(fromCache + 30);
    // The very answer etcd gives: the same objects in the same order, one namespace or all.
    const direct = own().store({ readCache: false });
    for (const ns of [undefined, 'ns0', 'ns1', 'none']) {
      const [cached, read] = await Promise.all([s.list('pods', ns, { jsonOnly: true }), direct.list('pods', ns, { jsonOnly: true })]);
      expect(cached.json!.map((t) => JSON.parse(t))).toEqual(read.json!.map((t) => JSON.parse(t)));
    }
  });

  it('a fromCache list waits for the read cache to load and reads nothing from etcd beside it', async () => {
    const writer = own().store();
    await mapLimit(Array.from({ length: 30 }, (_, i) => i), 16, (i) => writer.create('pods', pod('from-cache', `f-${String(i).padStart(2, '0')}`)));
    const s = own().store();
    // The first list of a fresh store: its cache is not loaded yet, and is loaded for this list.
    const l = await s.list('pods', 'from-cache', { fromCache: true, jsonOnly: true });
    expect(s.readStats).toMatchObject({ cacheLists: 1, etcdLists: 0 });
    // Every pod, in etcd's order, as etcd itself answers.
    const read = await own().store({ readCache: false }).list('pods', 'from-cache');
    expect(l.json!.map((t) => (JSON.parse(t) as { metadata: { name: string } }).metadata.name)).toEqual(read.items.map((o) => o.metadata.name));
    expect(l.json).toHaveLength(30);
    // A watch from its resourceVersion misses nothing written after it.
    const events = s.watch('pods', 'from-cache', { resourceVersion: l.resourceVersion })[Symbol.asyncIterator]();
    await writer.create('pods', pod('from-cache', 'after'));
    const ev = await events.next();
    expect(ev.value).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'after' } } });
    await events.return?.();
  });

  it('a list from the cache hands the event loop back while it goes through the items (one LIST of 150,000 pods must not hold every other request)', async () => {
    const s = own().store({ readCacheMissBackoffMs: 0, readCacheListWaitMs: 30_000, listYieldEvery: 50 });
    await mapLimit(Array.from({ length: 1000 }, (_, i) => i), 32, (i) => s.create('pods', pod('yield', `y-${String(i).padStart(4, '0')}`)));
    await eventually(async () => (await s.list('pods', 'yield'), s.readStats.cacheLists > 0));
    // A turn counter the event loop advances whenever it gets control; the predicate records it for every item.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    tick();
    const seen: number[] = [];
    const before = s.readStats.cacheLists;
    const l = await s.list('pods', 'yield', { predicate: () => (seen.push(turn), true) });
    ticking = false;
    expect(s.readStats.cacheLists).toBe(before + 1);
    expect(l.items).toHaveLength(1000);
    expect(seen).toHaveLength(1000);
    // 1,000 items, 50 per turn: the loop got control at least 19 times in between.
    expect(new Set(seen).size).toBeGreaterThanOrEqual(20);
  });

  it('pages continue from etcd at the cached page\'s revision while writes happen: each pod exactly once', async () => {
    // No write outside this store's prefix on this etcd: a list may wait for the cache as long as it takes.
    const s = own().store({ readCacheMissBackoffMs: 0, readCacheListWaitMs: 30_000 });
    const names = Array.from({ length: 300 }, (_, i) => `q-${String(i).padStart(3, '0')}`);
    await mapLimit(names, 32, (n) => s.create('pods', pod('paged', n)));
    await eventually(async () => (await s.list('pods', 'paged', { limit: 1 }), s.readStats.cacheLists > 0));
    const writer = own().store();
    let stop = false;
    let n = 0;
    const writes = (async () => {
      while (!stop) {
        await writer.create('pods', pod('paged', `a-${n}`)); // sorts before the pages read so far
        await writer.delete('pods', 'paged', names[n++ % names.length]!).catch(() => undefined);
      }
    })();
    const seen: string[] = [];
    let atList: string[] = [];
    try {
      const before = s.readStats.cacheLists;
      // Asked while another store writes: the list waits for the cache to apply what etcd acknowledged.
      const first = await s.list('pods', 'paged', { limit: 50 });
      expect(s.readStats.cacheLists).toBe(before + 1);
      // The writer's create and delete are two revisions: what the list must hold is what etcd held at its revision.
      atList = (await own().etcd.getAll().prefix(`${own().prefix}/pods/paged/`).revision(first.resourceVersion!).keys())
        .map((k) => k.slice(k.lastIndexOf('/') + 1)).sort();
      expect(atList.length).toBeGreaterThanOrEqual(names.length);
      expect(first.remainingItemCount).toBe(atList.length - 50);
      seen.push(...first.items.map((o) => o.metadata.name));
      let cont = first.continue;
      while (cont) {
        const page = await s.list('pods', 'paged', { limit: 50, continue: cont });
        expect(page.resourceVersion).toBe(first.resourceVersion);
        seen.push(...page.items.map((o) => o.metadata.name));
        cont = page.continue;
      }
    } finally {
      stop = true;
      await writes;
    }
    expect(seen).toEqual(atList);
  });

  it('a get and a list the read cache lags behind this store\'s own write wait for the cache instead of reading etcd', async () => {
    // The list's wait for the rest of etcd's revision is 0 and a miss would send every read to etcd for a minute:
    // only the wait for this store's own writes keeps both in the cache.
    const s = own().store({ readCacheListWaitMs: 0, readCacheMissBackoffMs: 60_000 });
    await s.create('pods', pod('lag', 'p-1'));
    await eventually(async () => (await s.get('pods', 'lag', 'p-1'), s.readStats.cacheHits > 0));
    const release = holdCacheEvents(s);
    let released = false;
    try {
      const made = await s.create('pods', pod('lag', 'p-2'));
      const before = { ...s.readStats };
      const get = s.get('pods', 'lag', 'p-2');
      const list = s.list('pods', 'lag');
      await eventually(() => s.readStats.lagWaits === before.lagWaits + 2, 10_000, 'the get and the list to wait for the cache');
      release();
      released = true;
      expect((await get).metadata.resourceVersion).toBe(made.metadata.resourceVersion);
      expect((await list).items.map((o) => o.metadata.name)).toEqual(['p-1', 'p-2']);
      expect(s.readStats).toMatchObject({ cacheHits: before.cacheHits + 1, etcdReads: before.etcdReads, cacheLists: before.cacheLists + 1, etcdLists: before.etcdLists, lagWaitTimeouts: 0 });
    } finally {
      if (!released) release();
    }
  });

  it('a read gives up waiting for a cache that lags too long and reads etcd, with the same answer', async () => {
    const s = own().store({ readCacheLagWaitMs: 1000, readCacheMissBackoffMs: 0 });
    await s.create('pods', pod('stuck', 'p-1'));
    await eventually(async () => (await s.get('pods', 'stuck', 'p-1'), s.readStats.cacheHits > 0));
    const release = holdCacheEvents(s);
    try {
      const made = await s.create('pods', pod('stuck', 'p-2'));
      const before = { ...s.readStats };
      expect((await s.get('pods', 'stuck', 'p-2')).metadata.resourceVersion).toBe(made.metadata.resourceVersion);
      expect(s.readStats).toMatchObject({ etcdReads: before.etcdReads + 1, lagWaits: before.lagWaits + 1, lagWaitTimeouts: before.lagWaitTimeouts + 1 });
      // Having given up, the next reads go to etcd at once rather than each wait out a stuck cache.
      await s.get('pods', 'stuck', 'p-2');
      expect(s.readStats).toMatchObject({ etcdReads: before.etcdReads + 2, lagWaits: before.lagWaits + 1 });
    } finally {
      release();
    }
  });

  it('while the cache keeps lagging, each give-up keeps reads off the wait twice as long; a wait that catches up resets it', async () => {
    let now = 1_000_000;
    const s = own().store({ readCacheLagWaitMs: 100, readCacheMissBackoffMs: 0, clock: () => now });
    await s.create('pods', pod('long', 'p-1'));
    await eventually(async () => (await s.get('pods', 'long', 'p-1'), s.readStats.cacheHits > 0));
    let release = holdCacheEvents(s);
    try {
      await s.create('pods', pod('long', 'p-2'));
      const { lagWaits: waits, lagWaitTimeouts: timeouts } = s.readStats;
      /** Reads p-2 (always the right answer) and says whether the read waited for the cache. */
      const waited = async (): Promise<boolean> => {
        const before = s.readStats.lagWaits;
        expect((await s.get('pods', 'long', 'p-2')).metadata.name).toBe('p-2');
        return s.readStats.lagWaits > before;
      };
      // Two reads that wait together and give up together count as one give-up: off for 100 ms.
      await Promise.all([s.get('pods', 'long', 'p-2'), s.get('pods', 'long', 'p-2')]);
      expect(s.readStats.lagWaits - waits).toBe(2);
      now += 99;
      expect(await waited()).toBe(false);
      now += 1;
      expect(await waited()).toBe(true); // gave up again: off for 200 ms
      now += 199;
      expect(await waited()).toBe(false);
      now += 1;
      expect(await waited()).toBe(true); // and again: 400 ms
      now += 399;
      expect(await waited()).toBe(false);
      now += 1;
      const waiting = s.readStats.lagWaits;
      const caughtUp = s.get('pods', 'long', 'p-2');
      await eventually(() => s.readStats.lagWaits > waiting, 10_000, 'the read to wait for the cache');
      release(); // the wait catches up
      expect((await caughtUp).metadata.name).toBe('p-2');
      expect(s.readStats.lagWaitTimeouts - timeouts).toBe(4); // reads that gave up: 2 + 1 + 1

      release = holdCacheEvents(s);
      await s.create('pods', pod('long', 'p-3'));
      expect(await waited()).toBe(true); // gave up: off for 100 ms, not 800
      now += 100;
      expect(await waited()).toBe(true);
      expect(s.readStats.lagWaitTimeouts - timeouts).toBe(6);
    } finally {
      release();
    }
  });

  it('a write outside the prefix (another cluster on the same etcd) sends the list to etcd after a bounded wait, with the same answer', async () => {
    const s = own().store({ readCacheListWaitMs: 50, readCacheMissBackoffMs: 60_000 });
    await s.create('pods', pod('foreign', 'p-1'));
    await eventually(async () => (await s.list('pods', 'foreign'), s.readStats.cacheLists > 0));
    await own().etcd.put('/another-cluster/pods/default/x').value('{}'); // etcd's revision moves; the cache's cannot
    const { cacheLists, etcdLists } = s.readStats;
    const l = await s.list('pods', 'foreign');
    expect(l.items.map((o) => o.metadata.name)).toEqual(['p-1']);
    expect(s.readStats).toMatchObject({ cacheLists, etcdLists: etcdLists + 1 });
    await own().etcd.delete().key('/another-cluster/pods/default/x');
  });
});
