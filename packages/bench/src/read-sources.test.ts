import { describe, expect, it } from 'vitest';
import { readSources } from './read-sources.js';

describe("where the apiserver served its consistent reads", () => {
  const text = (n: [number, number, number, number, number, number]) =>
    [
      `flotilla_storage_consistent_reads_total{from="cache"} ${n[0]}`,
      `flotilla_storage_consistent_reads_total{from="etcd"} ${n[1]}`,
      `flotilla_storage_consistent_lists_total{from="cache"} ${n[2]}`,
      `flotilla_storage_consistent_lists_total{from="etcd"} ${n[3]}`,
      `flotilla_storage_read_cache_lag_waits_total{outcome="caught-up"} ${n[4]}`,
      `flotilla_storage_read_cache_lag_waits_total{outcome="gave-up"} ${n[5]}`,
    ].join('\n');

  it('counts each source over the window only, and nothing of an apiserver that does not count them', () => {
    expect(readSources(text([10, 2, 5, 1, 3, 0]), text([110, 4, 8, 1, 13, 2]))).toEqual({
      gets: { cache: 100, etcd: 2 },
      lists: { cache: 3, etcd: 0 },
      lagWaits: { caughtUp: 10, gaveUp: 2 },
    });
    expect(readSources('', 'process_uptime_seconds 1')).toBeUndefined();
  });
});
