import { describe, expect, it } from 'vitest';
import { latencyBetween, parseLatencyHistogram, sloThreshold } from './api-slo.js';

const series = (labels: string, counts: number[], bounds = [0.1, 1, 5]) =>
  [...bounds.map((b, i) => `apiserver_request_duration_seconds_bucket{${labels},le="${b}"} ${counts[i]}`), `apiserver_request_duration_seconds_bucket{${labels},le="+Inf"} ${counts[counts.length - 1]}`].join('\n');

describe('API call latency SLOs from the apiserver histogram', () => {
  it('reads the p99 bucket of each call kind over the window, ignoring WATCH and non-resource paths', () => {
    const before = parseLatencyHistogram(series('verb="CREATE",resource="pods",subresource="",scope="resource"', [10, 10, 10, 10]));
    const after = parseLatencyHistogram(
      [
        // 1,000 more creates: 985 under 0.1 s, 995 under 1 s: the p99 is in the 1 s bucket.
        series('verb="CREATE",resource="pods",subresource="",scope="resource"', [995, 1005, 1010, 1010]),
        series('verb="CREATE",resource="pods",subresource="binding",scope="resource"', [100, 100, 100, 100]),
        // A cluster-wide LIST whose slowest call took longer than the last bucket.
        series('verb="LIST",resource="pods",subresource="",scope="cluster"', [0, 0, 0, 1]),
        series('verb="WATCH",resource="pods",subresource="",scope="cluster"', [0, 0, 0, 5]),
        series('verb="GET",resource="",subresource="",scope="cluster"', [0, 0, 0, 3]),
      ].join('\n'),
    );
    const rows = latencyBetween(before, after);
    expect(rows).toEqual([
      { call: 'CREATE pods', scope: 'resource', count: 1000, p99: 1, threshold: 1, met: true },
      { call: 'CREATE pods/binding', scope: 'resource', count: 100, p99: 0.1, threshold: 1, met: true },
      { call: 'LIST pods', scope: 'cluster', count: 1, p99: Infinity, threshold: 30, met: false },
    ]);
  });

  it('uses Kubernetes thresholds per verb and scope', () => {
    expect(sloThreshold('UPDATE', 'resource')).toBe(1);
    expect(sloThreshold('GET', 'resource')).toBe(1);
    expect(sloThreshold('LIST', 'namespace')).toBe(5);
    expect(sloThreshold('LIST', 'cluster')).toBe(30);
  });
});
