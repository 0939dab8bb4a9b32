/** The apiserver's Prometheus metrics, named as Kubernetes names them. */
import type { Counter, Gauge, Histogram, Registry } from '@flotilla/observability';
import { watchEventCounts } from './watch.js';
import { watchWriteStats } from './watch-writer.js';

/** The scope label of apiserver_request_duration_seconds (Kubernetes' SLO scopes). */
export type RequestScope = 'resource' | 'namespace' | 'cluster';

/** The SLO scope of a request naming `namespace` and `name` (either may be empty); a create is about one object, as Kubernetes counts it. */
export function requestScope(verb: string, namespace: string | undefined, name: string | undefined): RequestScope {
  return name || verb === 'create' ? 'resource' : namespace ? 'namespace' : 'cluster';
}

/** Request counters, latency and open watches. */
export class ApiServerMetrics {
  private readonly requests: Counter;
  private readonly duration: Histogram;
  private readonly longRunning: Gauge;

  constructor(registry: Registry) {
    this.requests = registry.counter('apiserver_request_total', 'Requests by verb, resource, subresource and HTTP code.');
    this.duration = registry.histogram('apiserver_request_duration_seconds', 'Request latency by verb, resource, subresource and scope (resource, namespace or cluster), as Kubernetes labels it for its API call latency SLOs.');
    this.longRunning = registry.gauge('apiserver_longrunning_requests', 'Open long-running requests (watches).');
    registry.callback('flotilla_apiserver_watch_lines_total', 'Lines (events and bookmarks) written to watch responses, every resource.', 'counter', () => [[undefined, watchWriteStats.lines]]);
    registry.callback('apiserver_watch_events_total', 'Watch events sent to watchers, by group, version and kind (one change seen by three watchers counts three).', 'counter', () =>
      [...watchEventCounts.values()].map(({ events, ...labels }) => [labels, events]),
    );
    registry.callback('flotilla_apiserver_watch_writes_total', 'Socket writes of watch responses; each carries the lines gathered since the last (see watch-writer.ts).', 'counter', () => [[undefined, watchWriteStats.writes]]);
  }

  /**
   * Records one finished request. `scope` is Kubernetes' SLO scope: `resource`
   * for one named object, `namespace` for a collection in a namespace,
   * `cluster` for a collection across all of them.
   */
  request(verb: string, resource: string, subresource: string, scope: RequestScope, code: number, seconds: number): void {
    this.requests.inc({ verb, resource, subresource, code });
    this.duration.observe(seconds, { verb, resource, subresource, scope });
  }

  /** A watch opened. */
  watchStarted(resource: string): void {
    this.longRunning.inc({ verb: 'WATCH', resource });
  }

  /** A watch closed. */
  watchEnded(resource: string): void {
    this.longRunning.dec({ verb: 'WATCH', resource });
  }

  /** Open watches on a resource (for tests and the bench). */
  openWatches(resource: string): number {
    return this.longRunning.get({ verb: 'WATCH', resource });
  }

  /** Requests counted with these labels. */
  requestCount(verb: string, resource: string, subresource: string, code: number): number {
    return this.requests.get({ verb, resource, subresource, code });
  }
}
