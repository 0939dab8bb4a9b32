import { describe, expect, it } from 'vitest';
import { Registry } from './metrics.js';

describe('Registry', () => {
  it('renders counters and histograms in the exposition format', () => {
    const r = new Registry();
    const c = r.counter('requests_total', 'Requests.');
    c.inc({ verb: 'GET', resource: 'pods' });
    c.inc({ verb: 'GET', resource: 'pods' });
    const h = r.histogram('latency_seconds', 'Latency.', [0.1, 1]);
    h.observe(0.05, { verb: 'GET' });
    h.observe(0.5, { verb: 'GET' });
    const text = r.render();
    expect(text).toContain('requests_total{resource="pods",verb="GET"} 2');
    expect(text).toContain('latency_seconds_bucket{verb="GET",le="0.1"} 1');
    expect(text).toContain('latency_seconds_bucket{verb="GET",le="1"} 2');
    expect(text).toContain('latency_seconds_bucket{verb="GET",le="+Inf"} 2');
    expect(text).toContain('latency_seconds_count{verb="GET"} 2');
  });

  it('renders a callback metric with the values read at render time', () => {
    const r = new Registry();
    const stats = { calls: 1 };
    r.callback('calls_total', 'Calls.', 'counter', () => [[undefined, stats.calls], [{ from: 'cache' }, 7]]);
    expect(r.render()).toContain('# TYPE calls_total counter\ncalls_total 1\ncalls_total{from="cache"} 7');
    stats.calls = 5;
    expect(r.render()).toContain('calls_total 5');
  });

  it('escapes label values', () => {
    const r = new Registry();
    r.gauge('g', 'G.').set(1, { path: 'a"b\\c' });
    expect(r.render()).toContain('g{path="a\\"b\\\\c"} 1');
    r.gauge('h', 'H.').set(2, { path: 'line\nbreak', plain: 'x' });
    expect(r.render()).toContain('h{path="line\\nbreak",plain="x"} 2');
  });
});

describe('runtime metrics', () => {
  it("every registry reports the process's GC pauses and event-loop delay, as cumulative histograms", async () => {
    const r = new Registry();
    // A collection (no --expose-gc here: allocate until one happens) and a blocked loop.
    const junk: unknown[] = [];
    for (let i = 0; i < 200_000; i++) junk.push({ i, s: `x${i}` });
    junk.length = 0;
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // blocks the event loop for 300 ms
    }
    // GC entries reach the observer, and the late probe fires, in later turns: wait for both (5 s at most).
    const bucket = (text: string, le: string) => Number(text.match(new RegExp(`^nodejs_eventloop_delay_seconds_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\d+)`, 'm'))?.[1] ?? 0);
    const gcCounted = /^nodejs_gc_duration_seconds_count\{kind="(minor|major|incremental|weakcb)"\} [1-9]/m;
    const gcSeen = (text: string) => gcCounted.test(text);
    const lateSeen = (text: string) => bucket(text, '+Inf') - bucket(text, '0.1') >= 1;
    let text = r.render();
    for (const deadline = Date.now() + 5000; !(gcSeen(text) && lateSeen(text)) && Date.now() < deadline; text = r.render()) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toMatch(gcCounted);
    // The 300 ms block shows as a probe at least 0.2 s late.
    expect(bucket(text, '+Inf') - bucket(text, '0.1')).toBeGreaterThanOrEqual(1);
  });

  it('every registry reports the V8 heap (used and reserved) and the memory Buffers hold outside it', () => {
    const held = Buffer.alloc(8 << 20, 1);
    const text = new Registry().render();
    const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
    expect(value('nodejs_heap_used_bytes')).toBeGreaterThan(0);
    expect(value('nodejs_heap_total_bytes')).toBeGreaterThanOrEqual(value('nodejs_heap_used_bytes'));
    // The 8 MiB buffer lives outside the heap, and is counted here.
    expect(value('nodejs_external_memory_bytes')).toBeGreaterThanOrEqual(held.length);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(value('nodejs_heap_used_bytes'));
  });
});
