import { describe, expect, it } from 'vitest';
import { etcdStops, histogramTotals, longestText, memoryMiB, pausesBetween, runtimePauses } from './runtime-pauses.js';

type Buckets = [number, number, number, number];
/** One GC kind's series, buckets at 0.1, 1, 5 s and +Inf. */
const gcSeries = (kind: string, b: Buckets, sum: number) => [
  ...(['0.1', '1', '5', '+Inf'] as const).map((le, i) => `nodejs_gc_duration_seconds_bucket{kind="${kind}",le="${le}"} ${b[i]}`),
  `nodejs_gc_duration_seconds_sum{kind="${kind}"} ${sum}`,
  `nodejs_gc_duration_seconds_count{kind="${kind}"} ${b[3]}`,
];
const gcText = (minor: Buckets, major: Buckets, sums: [number, number]) =>
  ['# TYPE nodejs_gc_duration_seconds histogram', ...gcSeries('minor', minor, sums[0]), ...gcSeries('major', major, sums[1]), 'process_uptime_seconds 12'].join('\n');

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
    expect(longestText(runtimePauses(before, after).gc)).toBe('beyond the last bucket'); // not the last bound of another histogram
    expect(longestText(undefined)).toBe('-');
    expect(pausesBetween(histogramTotals('', 'x'), histogramTotals('', 'x'))).toBeUndefined();
    expect(runtimePauses('', 'process_uptime_seconds 1')).toEqual({});
  });

  it("reads etcd's disk and apply figures, whose buckets are powers of two", () => {
    const etcd = (fsyncs: [number, number, number, number], sum: number, slow: number) =>
      [
        `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.064"} ${fsyncs[0]}`,
        `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.128"} ${fsyncs[1]}`,
        `etcd_disk_wal_fsync_duration_seconds_bucket{le="1.024"} ${fsyncs[2]}`,
        `etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} ${fsyncs[3]}`,
        `etcd_disk_wal_fsync_duration_seconds_sum ${sum}`,
        `etcd_disk_wal_fsync_duration_seconds_count ${fsyncs[3]}`,
        `etcd_server_slow_apply_total ${slow}`,
        'etcd_mvcc_db_total_size_in_bytes 1.048576e+06',
      ].join('\n');
    const stops = etcdStops(etcd([10, 10, 10, 10], 0.2, 3), etcd([100, 105, 109, 110], 4.2, 10));
    // 100 fsyncs: 90 under 64 ms, 5 under 128 ms, 4 under 1.024 s, 1 beyond; "over 0.1 s" is over the 0.128 bound.
    expect(stops.walFsync).toMatchObject({ count: 100, over100ms: 5, over1s: 1, longestUnder: Infinity });
    expect(stops.slowApplies).toBe(7);
    expect(stops.dbBytes).toBe(1_048_576);
    expect(stops.snapshotSave).toBeUndefined();
    // etcd 3.4 times compactions in milliseconds.
    const compaction = (n: [number, number, number], sum: number) =>
      [
        `etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_bucket{le="100"} ${n[0]}`,
        `etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_bucket{le="1600"} ${n[1]}`,
        `etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_bucket{le="+Inf"} ${n[2]}`,
        `etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_sum ${sum}`,
      ].join('\n');
    const c = etcdStops(compaction([1, 1, 1], 50), compaction([1, 3, 3], 2050)).compaction!;
    // Both took 0.1–1.6 s: over 0.1 s, and not over the 1.6 s bound (the first at or above 1 s).
    expect(c).toMatchObject({ count: 2, over100ms: 2, over1s: 0, longestUnder: 1.6 });
    expect(c.seconds).toBeCloseTo(2, 9);
  });
});

describe('memoryMiB', () => {
  it("reads a process's heap and external memory in MiB, NaN for what an older process does not report", () => {
    const text = ['nodejs_heap_used_bytes 1048576', 'nodejs_heap_total_bytes 3145728', 'process_resident_memory_bytes 9999999'].join('\n');
    const m = memoryMiB(text);
    expect(m.heapUsed).toBe(1);
    expect(m.heapTotal).toBe(3);
    expect(m.external).toBeNaN();
  });
});
