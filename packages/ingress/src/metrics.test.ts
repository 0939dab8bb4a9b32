import { describe, expect, it } from 'vitest';
import { mergeExpositions } from '@flotilla/observability';
import { IngressMetrics } from './metrics.js';

describe('IngressMetrics', () => {
  it('renders route meters in the labels the Registry would use', () => {
    const m = new IngressMetrics();
    const meter = m.meter({ ingress: 'ns/web', host: 'a.test', path: '/' }, 'ns/web:80');
    meter.record(200, 0.002);
    meter.record(503, 0.02);
    m.meter({ ingress: '', host: '', path: '' }, '', false).countStatus(404);
    const text = m.render();
    expect(text).toContain('ingress_requests_total{code="2xx",host="a.test",ingress="ns/web",path="/",service="ns/web:80"} 1');
    expect(text).toContain('ingress_requests_total{code="5xx",host="a.test",ingress="ns/web",path="/",service="ns/web:80"} 1');
    expect(text).toContain('ingress_requests_total{code="4xx",host="",ingress="",path="",service=""} 1');
    expect(text).toContain('ingress_request_duration_seconds_bucket{host="a.test",ingress="ns/web",path="/",le="0.0025"} 1');
    expect(text).toContain('ingress_request_duration_seconds_count{host="a.test",ingress="ns/web",path="/"} 2');
    expect(text).not.toContain('ingress_request_duration_seconds_count{host=""');
    expect(m.requestCount({ ingress: 'ns/web', host: 'a.test', path: '/' }, 'ns/web:80', '2xx')).toBe(1);
  });

  it('merges workers: samples summed, HELP/TYPE once, process metrics from the first text only', () => {
    const a = new IngressMetrics();
    const b = new IngressMetrics();
    a.routes.set(3);
    a.meter({ ingress: 'ns/web', host: 'a.test', path: '/' }, 'ns/web:80').record(200, 0.002);
    b.meter({ ingress: 'ns/web', host: 'a.test', path: '/' }, 'ns/web:80').record(200, 0.004);
    b.retries.inc({ ingress: 'ns/web', host: 'a.test', path: '/' });
    const merged = mergeExpositions([a.render(), b.render()]);
    expect(merged).toContain('ingress_requests_total{code="2xx",host="a.test",ingress="ns/web",path="/",service="ns/web:80"} 2');
    expect(merged).toContain('ingress_request_duration_seconds_bucket{host="a.test",ingress="ns/web",path="/",le="0.005"} 2');
    expect(merged).toContain('ingress_request_duration_seconds_bucket{host="a.test",ingress="ns/web",path="/",le="0.0025"} 1');
    expect(merged).toContain('ingress_upstream_retries_total{host="a.test",ingress="ns/web",path="/"} 1');
    expect(merged).toContain('ingress_routes 3');
    expect(merged.match(/# TYPE ingress_requests_total counter/g)).toHaveLength(1);
    expect(merged.match(/^process_uptime_seconds /gm)).toHaveLength(1);
    // Every family's lines stay together.
    const names = merged.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!.replace(/_(bucket|sum|count)$/, ''));
    const seen: string[] = [];
    for (const n of names) if (seen.at(-1) !== n) seen.push(n);
    expect(new Set(seen).size).toBe(seen.length);
  });
});
