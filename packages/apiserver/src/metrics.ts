/** The apiserver's Prometheus metrics, named as Kubernetes names them. */
import type { Counter, Gauge, Histogram, Registry } from '@flotilla/observability';

/** Request counters, latency and open watches. */
export class ApiServerMetrics {
  private readonly requests: Counter;
  private readonly duration: Histogram;
  private readonly longRunning: Gauge;

  constructor(registry: Registry) {
    this.requests = registry.counter('apiserver_request_total', 'Requests by verb, resource, subresource and HTTP code.');
    this.duration = registry.histogram('apiserver_request_duration_seconds', 'Request latency by verb and resource.');
    this.longRunning = registry.gauge('apiserver_longrunning_requests', 'Open long-running requests (watches).');
  }

  /** Records one finished request. */
  request(verb: string, resource: string, subresource: string, code: number, seconds: number): void {
    this.requests.inc({ verb, resource, subresource, code });
    this.duration.observe(seconds, { verb, resource });
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
