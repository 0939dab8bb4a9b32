import { describe, expect, it } from 'vitest';
import { mapLimit, runClosedLoop } from './load.js';

describe('runClosedLoop', () => {
  it('never has more than `concurrency` operations in flight and gives each a unique seq', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen = new Set<number>();
    const r = await runClosedLoop({
      concurrency: 4,
      durationMs: 60_000,
      maxOps: 40,
      op: async (seq) => {
        seen.add(seq);
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((res) => setTimeout(res, 1));
        inFlight--;
      },
    });
    expect(peak).toBe(4);
    expect(seen.size).toBe(40);
    expect(r.ops).toBe(40);
    expect(r.errors).toBe(0);
    expect(r.latency.count).toBe(40);
    expect(r.cpuMsPerOp.bench).toBeGreaterThanOrEqual(0);
  });

  it('paced: starts operation n no earlier than n / ratePerSec seconds in', async () => {
    const starts: number[] = [];
    const t0 = performance.now();
    await runClosedLoop({ concurrency: 8, durationMs: 60_000, maxOps: 5, ratePerSec: 100, op: async (seq) => void (starts[seq] = performance.now() - t0) });
    expect(starts).toHaveLength(5);
    starts.forEach((t, n) => expect(t).toBeGreaterThanOrEqual(n * 10));
  });

  it('counts failures apart and keeps the first message', async () => {
    const r = await runClosedLoop({
      concurrency: 2,
      durationMs: 60_000,
      maxOps: 10,
      op: async (seq) => {
        if (seq % 2) throw new Error(`boom ${seq}`);
      },
    });
    expect(r.errors).toBe(5);
    expect(r.ops).toBe(5);
    expect(r.firstError).toMatch(/^boom \d+$/);
  });
});

describe('mapLimit', () => {
  it('keeps the order of results', async () => {
    const out = await mapLimit([3, 1, 2], 2, async (x) => {
      await new Promise((r) => setTimeout(r, x));
      return x * 10;
    });
    expect(out).toEqual([30, 10, 20]);
  });
});
