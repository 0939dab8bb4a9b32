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

  it('without the cache every get reads etcd', async () => {
    const s = fx.store({ readCache: false });
    await s.create('pods', pod('default', 'a'));
    await s.get('pods', 'default', 'a');
    await s.get('pods', 'default', 'a');
    expect(s.readStats).toEqual({ cacheHits: 0, etcdReads: 2 });
  });
});
