import { describe, expect, it } from 'vitest';
import { watchWriteCounts } from './scheduler-bench.js';

describe('watchWriteCounts', () => {
  it("reads the apiserver's watch lines and socket writes from its /metrics", () => {
    const text = [
      'apiserver_request_total{verb="GET"} 1',
      '# HELP flotilla_apiserver_watch_lines_total Lines (events and bookmarks) written to watch responses, every resource.',
      '# TYPE flotilla_apiserver_watch_lines_total counter',
      'flotilla_apiserver_watch_lines_total 1500',
      '# TYPE flotilla_apiserver_watch_writes_total counter',
      'flotilla_apiserver_watch_writes_total 200',
    ].join('\n');
    expect(watchWriteCounts(text)).toEqual({ lines: 1500, writes: 200 });
  });

  it('is undefined for an apiserver without the counters', () => {
    expect(watchWriteCounts('apiserver_request_total{verb="GET"} 3\n')).toBeUndefined();
  });
});
