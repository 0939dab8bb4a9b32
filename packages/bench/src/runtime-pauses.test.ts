import { describe, expect, it } from 'vitest';
import { histogramTotals, pausesBetween, runtimePauses } from './runtime-pauses.js';

const gcText = (minor: [number, number, number, number], major: [number, number, number, number], sums: [number, number]) =>
  [
    '# TYPE nodejs_gc_duration_seconds histogram',
    `nodejs_gc_duration_seconds_bucket{kind="minor",le="0.1"} ${minor[0]}`,
    `nodejs_gc_duration_seconds_bucket{kind="minor",le="1"} ${minor[1]}`,
    `nodejs_gc_duration_seconds_bucket{kind="minor",le="5"} ${minor[2]}`,
    `nodejs_gc_duration_seconds_bucket{kind="minor",le="+Inf"} ${minor[3]}`,
    `nodejs_gc_duration_seconds_sum{kind="minor"} ${sums[0]}`,
    `nodejs_gc_duration_seconds_count{kind="minor"} ${minor[3]}`,
    `nodejs_gc_duration_seconds_bucket{kind="major",le="0.1"} ${major[0]}`,
    `nodejs_gc_duration_seconds_bucket{kind="major",le="1"} ${major[1]}`,
    `nodejs_gc_duration_seconds_bucket{kind="major",le="5"} ${major[2]}`,
    `nodejs_gc_duration_seconds_bucket{kind="major",le="+Inf"} ${major[3]}`,
    `nodejs_gc_duration_seconds_sum{kind="major"} ${sums[1]}`,
    `nodejs_gc_duration_seconds_count{kind="major"} ${major[3]}`,
    'process_uptime_seconds 12',
  ].join('\n');

describe('runtime pauses between two scrapes', () => {
  it('sums the series, and counts and bounds the stops of the window only', () => {
    const before = gcText([100, 100, 100, 100], [2, 3, 3, 3], [0.5, 1.5]);
    const after = gcText([400, 400, 400, 400], [2, 4, 6, 6], [1.7, 6.5]);
    expect(histogramTotals(after, 'nodejs_gc_duration_seconds').buckets.get(Infinity)).toBe(406);
    // 300 minor (under 0.1 s) and 3 major: one under 1 s, two between 1 and 5 s.
    const gc = runtimePauses(before, after).gc!;
    expect(gc).toMatchObject({ count: 303, over100ms: 3, over1s: 2, longestUnder: 5 });
    expect(gc.seconds).toBeCloseTo(1.2 + 5, 9);
  });

  it('says when a stop went past the last bucket, and nothing of a process that reports no such histogram', () => {
    const before = gcText([0, 0, 0, 0], [0, 0, 0, 0], [0, 0]);
    const after = gcText([0, 0, 0, 0], [0, 0, 0, 1], [0, 7]);
    expect(runtimePauses(before, after).gc?.longestUnder).toBe(Infinity);
    expect(pausesBetween(histogramTotals('', 'x'), histogramTotals('', 'x'))).toBeUndefined();
    expect(runtimePauses('', 'process_uptime_seconds 1')).toEqual({});
  });
});
