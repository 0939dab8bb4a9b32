import { setMaxListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, Fixture, percentile, pod } from './helpers.js';

// Fan-out of one shared etcd watch to many watchers. Timings are printed for
// information only; the benchmark with baselines is in packages/bench.
let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('EtcdStorage fan-out', () => {
  it('delivers every event to each of 1,000 watchers exactly once (one shared etcd watch)', async () => {
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
    // Latency is reported, not asserted: the figures against a baseline live in
    // packages/bench (./scripts/bench.sh apiserver); here what counts is that
    // every one of the 1,000 watchers got every event exactly once.
    ac.abort();
  });
});
