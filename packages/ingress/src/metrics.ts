/** The ingress's Prometheus metrics, per route (`ingress`, `host`, `path`). */
import { Registry, type Counter, type Gauge, type Histogram } from '@flotilla/observability';

/** Latency buckets in seconds: a proxy hop is usually well under 10 ms. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Every metric the ingress exports. */
export class IngressMetrics {
  readonly registry: Registry;
  /** Requests by route and status class (`2xx` … `5xx`). */
  readonly requests: Counter;
  /** Seconds from request to the end of the response, by route. */
  readonly latency: Histogram;
  /** Failed upstream attempts by route and error code (a retried attempt counts too). */
  readonly upstreamErrors: Counter;
  /** Upstream attempts retried on another endpoint. */
  readonly retries: Counter;
  /** Route table builds and the routes in the current one. */
  readonly rebuilds: Counter;
  readonly routes: Gauge;

  constructor(registry = new Registry()) {
    this.registry = registry;
    this.requests = registry.counter('ingress_requests_total', 'HTTP requests by route and status class.');
    this.latency = registry.histogram('ingress_request_duration_seconds', 'Request latency through the ingress by route.', BUCKETS);
    this.upstreamErrors = registry.counter('ingress_upstream_errors_total', 'Failed upstream attempts by route and error code.');
    this.retries = registry.counter('ingress_upstream_retries_total', 'Upstream attempts retried on another endpoint after a connect-level failure.');
    this.rebuilds = registry.counter('ingress_route_table_builds_total', 'Route table builds.');
    this.routes = registry.gauge('ingress_routes', 'Routes in the current route table.');
  }
}
