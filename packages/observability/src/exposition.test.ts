import { describe, expect, it } from 'vitest';
import { mergeExpositions } from './exposition.js';
import { Registry } from './metrics.js';

describe('mergeExpositions', () => {
  it('sums counters and histogram buckets of the same series across processes, each family once and together', () => {
    const texts = [0.002, 0.2].map((seconds, i) => {
      const r = new Registry();
      const requests = r.counter('requests_total', 'Requests.');
      requests.inc({ verb: 'GET' });
      if (i === 1) requests.inc({ verb: 'LIST' });
      r.histogram('request_seconds', 'Latency.', [0.01, 1]).observe(seconds, { verb: 'GET' });
      return r.render();
    });
    const merged = mergeExpositions(texts);
    expect(merged).toContain('requests_total{verb="GET"} 2');
    expect(merged).toContain('requests_total{verb="LIST"} 1');
    expect(merged).toContain('request_seconds_bucket{verb="GET",le="0.01"} 1');
    expect(merged).toContain('request_seconds_bucket{verb="GET",le="1"} 2');
    expect(merged).toContain('request_seconds_count{verb="GET"} 2');
    expect(merged.match(/# TYPE requests_total counter/g)).toHaveLength(1);
  });
});
