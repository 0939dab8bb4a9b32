import { describe, expect, it } from 'vitest';
import { watchEventsByKind, watchWriteCounts } from './scheduler-bench.js';

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

describe('watchEventsByKind', () => {
  it("sums the apiserver's watch events by kind over groups and versions", () => {
    const text = [
      '# TYPE apiserver_watch_events_total counter',
      'apiserver_watch_events_total{group="",kind="Pod",version="v1"} 120',
      'apiserver_watch_events_total{group="coordination.k8s.io",kind="Lease",version="v1"} 7',
      'apiserver_watch_events_total{group="events.k8s.io",kind="Event",version="v1"} 2',
      'apiserver_watch_events_total{group="",kind="Event",version="v1"} 3',
      'flotilla_apiserver_watch_lines_total 1500',
    ].join('\n');
    expect(watchEventsByKind(text)).toEqual(new Map([['Pod', 120], ['Lease', 7], ['Event', 5]]));
  });

  it('is empty for an apiserver without the counter', () => {
    expect(watchEventsByKind('flotilla_apiserver_watch_lines_total 3\n').size).toBe(0);
  });
});
