/**
 * History compaction on a private etcd (compaction is etcd-wide): one
 * compaction per interval between several apiservers, always keeping one
 * interval of history, and an EtcdStorage started with an interval
 * compacting by itself — after which a watch from a compacted revision is
 * 410 Gone, while newer ones still resume.
 */
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { Compactor, COMPACT_REV_KEY } from '../src/index.js';
import { pod, privateEtcdFixture } from './helpers.js';
import { waitFor } from '@flotilla/e2e';

const fixture = privateEtcdFixture();
const log = createLogger('compaction-test', { level: 'warn' });

async function compactedAt(rev: number): Promise<boolean> {
  try {
    await fixture().etcd.kv.range({ key: Buffer.from('x'), revision: rev });
    return false;
  } catch (err) {
    return /compacted/.test((err as Error).message);
  }
}

describe('etcd history compaction', () => {
  it('compacts once per interval between two apiservers, to the revision of the previous interval', async () => {
    const f = fixture();
    const a = new Compactor(f.etcd, log);
    const b = new Compactor(f.etcd, log);
    const store = f.store({ readCache: false });
    const write = async (n: string) => Number((await store.create('pods', pod('default', n))).metadata.resourceVersion);

    const r0 = await write('p0');
    expect(await a.tick()).toEqual({ won: true });          // first win: records, compacts nothing
    expect(await b.tick()).toEqual({ won: false });         // same interval: the other instance lost
    const r1 = await write('p1');
    const second = await a.tick();                           // next interval: compacts to what it recorded
    expect(second.won).toBe(true);
    expect(second.compacted).toBeGreaterThan(r0);
    expect(second.compacted).toBeLessThan(r1);
    expect(await compactedAt(r0)).toBe(true);
    expect(await compactedAt(r1)).toBe(false);              // one interval of history is kept
    expect(await b.tick()).toEqual({ won: false });

    // A stops: B wins the next interval (after adopting the key's version once) and takes over.
    const r2 = await write('p2');
    expect((await b.tick()).won).toBe(true);
    const r3 = await write('p3');
    const taken = await b.tick();
    expect(taken.compacted).toBeGreaterThanOrEqual(r2);
    expect(taken.compacted).toBeLessThan(r3);
    expect(await compactedAt(r1)).toBe(true);
    expect(a.stats.compactions + b.stats.compactions).toBe(2);
    await f.etcd.delete().key(COMPACT_REV_KEY);
  });

  it('an EtcdStorage with an interval compacts by itself; watches from compacted revisions get 410, newer ones resume', async () => {
    const f = fixture();
    await f.etcd.delete().key(COMPACT_REV_KEY);
    const store = f.store({ compactionIntervalMs: 300 });
    const old = Number((await store.create('pods', pod('default', 'c0'))).metadata.resourceVersion);
    await waitFor(() => (store.compactor?.stats.compactions ?? 0) >= 2 && store.compactor!.stats.lastCompacted > old, { timeout: 10_000, message: 'two compactions past the first write' });
    expect(await compactedAt(old)).toBe(true);
    // A watch from before the compacted revision is refused with 410 Gone…
    const stale = store.watch('pods', 'default', { resourceVersion: String(old - 1) })[Symbol.asyncIterator]();
    await expect(stale.next()).rejects.toMatchObject({ code: 410 });
    // …while the current state still reads and watches fine.
    const cur = await store.list('pods', 'default');
    expect(cur.items.map((p) => p.metadata.name)).toContain('c0');
    await store.close();
    await f.etcd.delete().key(COMPACT_REV_KEY);
  });
});
