import { describe, expect, it } from 'vitest';
import { percentile, ratio, round, summarize } from './stats.js';

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
