import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EtcdStorage } from '../src/index.js';
import { eventually, Fixture, pod, rejection } from './helpers.js';

let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

// Each get must reflect every write acknowledged before it started, whether
// it is served from the read cache or from etcd.
async function writeThenRead(writer: EtcdStorage, reader: EtcdStorage, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const name = `ryw-${i}`;
    const created = await writer.create('pods', pod('default', name));
    expect((await reader.get('pods', 'default', name)).metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const next = structuredClone(created);
    next.metadata.labels = { round: String(i) };
    const updated = await writer.update('pods', next);
    const seen = await reader.get('pods', 'default', name);
    expect(seen.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    expect(seen.metadata.labels).toEqual({ round: String(i) });
    await writer.delete('pods', 'default', name);
    expect((await rejection(reader.get('pods', 'default', name))).code).toBe(404);
  }
}

describe('consistent gets (read cache)', () => {
  it('a client sees its own writes through one store', async () => {
    const s = fx.store({ readCacheMissBackoffMs: 0 });
    await s.create('pods', pod('default', 'warm'));
    await s.get('pods', 'default', 'warm'); // starts the read cache
    await eventually(async () => {
      await s.get('pods', 'default', 'warm');
      return s.readStats.cacheHits > 0 || s.readStats.etcdReads > 20;
    });
    await writeThenRead(s, s, 30);
  });

  it('a write through one apiserver store is seen by the next get through another', async () => {
    const a = fx.store();
    const b = fx.store({ readCacheMissBackoffMs: 0 });
    await a.create('pods', pod('default', 'warm'));
    await b.get('pods', 'default', 'warm');
    await writeThenRead(a, b, 30);
    // Concurrent gets of one tick share a revision call and still see the last write.
    const last = await a.create('pods', pod('default', 'last'));
    const seen = await Promise.all(Array.from({ length: 20 }, () => b.get('pods', 'default', 'last')));
    for (const o of seen) expect(o.metadata.resourceVersion).toBe(last.metadata.resourceVersion);
  });

  it('gives each get a private copy', async () => {
    // Served from memory or from etcd (other tests writing to the same etcd keep
    // the cache a revision behind at times; the unit test covers the cache alone).
    const s = fx.store({ readCacheMissBackoffMs: 0 });
    await s.create('pods', pod('default', 'a'));
    for (let i = 0; i < 5; i++) {
      const one = await s.get('pods', 'default', 'a');
      one.metadata.labels = { changed: 'yes' };
      expect((await s.get('pods', 'default', 'a')).metadata.labels).toEqual(pod('default', 'a').metadata.labels);
    }
  });

  it('without the cache every get and list reads etcd', async () => {
    const s = fx.store({ readCache: false });
    await s.create('pods', pod('default', 'a'));
    await s.get('pods', 'default', 'a');
    await s.get('pods', 'default', 'a');
    await s.list('pods', 'default');
    expect(s.readStats).toEqual({ cacheHits: 0, etcdReads: 2, cacheLists: 0, etcdLists: 1, lagWaits: 0, lagWaitTimeouts: 0 });
  });
});

describe('writes on cached copies', () => {
  it('getCached never answers from before this store\'s own acknowledged writes of that resource', async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'warm'));
    await s.get('pods', 'default', 'warm');
    await eventually(() => s.getCached('pods', 'default', 'warm') !== undefined, 10_000, 'read cache loaded');
    for (let i = 0; i < 20; i++) {
      const cur = await s.get('pods', 'default', 'warm');
      cur.metadata.labels = { round: String(i) };
      const updated = await s.update('pods', cur);
      // Right after the write: either the new version or no answer (caller then reads etcd), never the old one.
      const cached = s.getCached('pods', 'default', 'warm');
      if (cached) expect(cached.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    }
    await eventually(() => s.getCached('pods', 'default', 'warm')?.metadata.labels?.round === '19', 10_000, 'cache caught up');
  });

  it("getCached keeps answering for other objects of a resource right after this store writes one (the rule is per object)", async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'quiet'));
    await s.create('pods', pod('default', 'busy'));
    await eventually(() => s.getCached('pods', 'default', 'quiet') !== undefined && s.getCached('pods', 'default', 'busy') !== undefined, 10_000, 'both cached');
    for (let i = 0; i < 20; i++) {
      const cur = await s.get('pods', 'default', 'busy');
      cur.metadata.labels = { round: String(i) };
      const updated = await s.update('pods', cur);
      // The write to 'busy' says nothing about 'quiet': its cached copy is still the latest.
      expect(s.getCached('pods', 'default', 'quiet')?.metadata.name).toBe('quiet');
      const busy = s.getCached('pods', 'default', 'busy');
      if (busy) expect(busy.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    }
  });

  it('listCached answers from the copy, at once: one namespace, the predicate, never from before its own writes', async () => {
    const s = fx.store();
    const other = fx.store();
    await s.create('pods', pod('default', 'a'));
    await s.create('pods', pod('default', 'b'));
    await s.create('pods', pod('elsewhere', 'c'));
    await s.get('pods', 'default', 'a');
    const names = (items: Array<{ metadata: { name?: string } }> | undefined) => items?.map((o) => o.metadata.name);
    await eventually(() => s.listCached('pods', 'default')?.length === 2, 10_000, 'read cache loaded');
    expect(names(s.listCached('pods', 'default'))).toEqual(['a', 'b']);
    expect(names(s.listCached('pods', undefined))).toEqual(['a', 'b', 'c']);
    expect(names(s.listCached('pods', undefined, (o) => o.metadata.name !== 'a'))).toEqual(['b', 'c']);
    for (let i = 0; i < 20; i++) {
      const cur = await s.get('pods', 'default', 'b');
      cur.metadata.labels = { round: String(i) };
      const updated = await s.update('pods', cur);
      // Right after the write: the new version or no answer (the caller then lists), never the old one.
      const b = s.listCached('pods', 'default')?.find((o) => o.metadata.name === 'b');
      if (b) expect(b.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    }
    // A write through another store reaches the copy through its watch.
    await other.create('pods', pod('default', 'd'));
    await eventually(() => names(s.listCached('pods', 'default'))?.includes('d') === true, 10_000, "another store's write seen");
  });

  it("an update or guaranteedUpdate right after this store's own write swaps on the bytes it wrote, without reading etcd first", async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'warm'));
    await eventually(() => s.getCached('pods', 'default', 'warm') !== undefined, 10_000, 'read cache loaded');
    for (let i = 0; i < 20; i++) {
      const before = s.etcdCallStats.calls;
      const created = await s.create('pods', pod('default', `fast-${i}`));
      // At once, as a scheduler binds a pod it has just seen: the cache may not have applied the create.
      const updated = await s.update('pods', { ...created, metadata: { ...created.metadata, annotations: { step: 'update' } } });
      const bumped = await s.guaranteedUpdate('pods', 'default', `fast-${i}`, (cur) => {
        expect(cur.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
        cur.metadata.annotations = { ...cur.metadata.annotations, bumped: 'yes' };
        return cur;
      });
      expect(s.etcdCallStats.calls - before).toBe(3); // three compare-and-swaps, no range
      expect(bumped.metadata.annotations).toEqual({ step: 'update', bumped: 'yes' });
      expect((await s.get('pods', 'default', `fast-${i}`)).metadata.resourceVersion).toBe(bumped.metadata.resourceVersion);
    }
  });

  it('getCachedShared hands out one frozen object per version, follows updates, and never one from before this store\'s own write', async () => {
    const s = fx.store();
    await s.create('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shared' } });
    await eventually(() => s.getCachedShared('namespaces', undefined, 'shared') !== undefined, 10_000, 'cached');
    const first = s.getCachedShared('namespaces', undefined, 'shared')!;
    expect(s.getCachedShared('namespaces', undefined, 'shared')).toBe(first);
    expect(Object.isFrozen(first.metadata)).toBe(true);
    expect(() => {
      (first.metadata as { name: string }).name = 'x';
    }).toThrow(TypeError);
    // getCached still hands out private copies.
    const copy = s.getCached('namespaces', undefined, 'shared')!;
    expect(copy).not.toBe(first);
    expect(copy).toEqual(first);
    const updated = await s.update('namespaces', { ...copy, metadata: { ...copy.metadata, labels: { v: '2' } } });
    const right = s.getCachedShared('namespaces', undefined, 'shared');
    if (right) expect(right.metadata.resourceVersion).toBe(updated.metadata.resourceVersion);
    await eventually(() => s.getCachedShared('namespaces', undefined, 'shared')?.metadata.labels?.v === '2', 10_000, 'cache caught up');
    expect(s.getCachedShared('namespaces', undefined, 'shared')).not.toBe(first);
    expect(first.metadata.labels).toBeUndefined();
    expect(s.getCachedShared('namespaces', undefined, 'missing')).toBeUndefined();
  });

  it('guaranteedUpdate from two stores on one object loses no increment (stale cached copies are retried)', async () => {
    const a = fx.store();
    const b = fx.store();
    await a.create('pods', pod('default', 'counter'));
    await a.get('pods', 'default', 'counter');
    await b.get('pods', 'default', 'counter');
    const bump = (s: EtcdStorage) =>
      s.guaranteedUpdate('pods', 'default', 'counter', (cur) => {
        const n = Number(cur.metadata.annotations?.n ?? '0');
        cur.metadata.annotations = { n: String(n + 1) };
        return cur;
      });
    await Promise.all([a, b].map(async (s) => {
      for (let i = 0; i < 25; i++) await Promise.all([bump(s), bump(s)]);
    }));
    expect((await a.get('pods', 'default', 'counter')).metadata.annotations).toEqual({ n: '100' });
  });

  it('an update with a resourceVersion the cache still holds is 404 once the object is deleted, 409 once changed', async () => {
    const s = fx.store();
    const other = fx.store({ readCache: false });
    const created = await s.create('pods', pod('default', 'gone'));
    await eventually(() => s.getCached('pods', 'default', 'gone') !== undefined, 10_000, 'cached');
    const changed = await other.update('pods', { ...created, metadata: { ...created.metadata, labels: { by: 'other' } } });
    expect((await rejection(s.update('pods', { ...created, metadata: { ...created.metadata, labels: { by: 's' } } }))).code).toBe(409);
    await other.delete('pods', 'default', 'gone', { preconditions: { resourceVersion: changed.metadata.resourceVersion! } });
    expect((await rejection(s.update('pods', { ...changed, metadata: { ...changed.metadata, labels: { by: 's' } } }))).code).toBe(404);
  });
});
