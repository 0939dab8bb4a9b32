import { describe, expect, it } from 'vitest';
import { latencyCells, percentile, ratio, round, slowStretches, summarize } from './stats.js';

describe('percentile', () => {
  it('is nearest-rank: p50 of 1..100 is 50, p99 is 99, p100 is 100', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
  });

  it('is a real sample for small sets and NaN for none', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 99)).toBe(3);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarize', () => {
  it('sorts numerically (not as strings) and reports min/max/mean', () => {
    const s = summarize([10, 9, 100, 1]);
    expect(s).toMatchObject({ count: 4, min: 1, max: 100, p50: 9, mean: 30 });
  });

  it("gives a table row's cells in the order n, p50, p90, p99, max", () => {
    expect(latencyCells({ count: 4, min: 1, p50: 2, p90: 3, p99: 4, max: 5, mean: 2.5 })).toEqual([4, 2, 3, 4, 5]);
  });
});

describe('ratio and round', () => {
  it('gives one decimal and NaN for a zero baseline', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNaN();
  });

  it('rounds by magnitude', () => {
    expect(round(1.23456)).toBe(1.23);
    expect(round(12.345)).toBe(12.3);
    expect(round(1234.5)).toBe(1235);
  });
});

describe('slowStretches', () => {
  it('counts the samples over the threshold by the stretch they started in, busiest first', () => {
    const starts = new Map([
      ['a', 1_000],
      ['b', 1_500],
      ['c', 12_000],
      ['d', 12_100],
      ['e', 12_200],
      ['f', 25_000],
      ['never-ended', 25_100],
    ]);
    const ends = new Map([
      ['a', 4_000], // 3 s: slow, stretch 0
      ['b', 1_600], // fast
      ['c', 15_000], // slow, stretch 10 s
      ['d', 18_100], // slow (6 s), stretch 10 s
      ['e', 14_300], // slow, stretch 10 s
      ['f', 26_999], // 1,999 ms: not over 2 s
    ]);
    expect(slowStretches(starts, ends, { t0: 0, thresholdMs: 2000, windowMs: 10_000, top: 5 })).toEqual([
      { atMs: 10_000, count: 3, maxMs: 6000 },
      { atMs: 0, count: 1, maxMs: 3000 },
    ]);
    expect(slowStretches(starts, ends, { t0: 0, thresholdMs: 2000, windowMs: 10_000, top: 1 })).toHaveLength(1);
  });
});
