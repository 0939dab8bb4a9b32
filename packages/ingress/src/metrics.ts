/**
 * The ingress's Prometheus metrics, per route (`ingress`, `host`, `path`).
 *
 * The two metrics touched by every request (requests by status class and
 * the latency histogram) are kept in RouteMeters: plain counters on an
 * object found once per route and snapshot, rendered in the exposition
 * format on scrape. The generic Registry builds a sorted, escaped label key
 * on every inc()/observe(), which cost more than the rest of the request
 * bookkeeping together. The rarer metrics stay in the Registry.
 */
import { Registry, type Counter, type Gauge } from '@flotilla/observability';

/** Latency buckets in seconds: a proxy hop is usually well under 10 ms. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const REQUESTS = 'ingress_requests_total';
const LATENCY = 'ingress_request_duration_seconds';
const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** The labels of one route (as the Registry would sort them: host, ingress, path). */
export interface RouteLabels {
  ingress: string;
  host: string;
  path: string;
}

/** Request counts and latency of one route and Service. */
export class RouteMeter {
  /** Requests by status class: index 1 is 1xx … 5 is 5xx. */
  readonly codes = [0, 0, 0, 0, 0, 0];
  readonly buckets = new Float64Array(BUCKETS.length);
  count = 0;
  sum = 0;
  /** `host="…",ingress="…",path="…"`, rendered once. */
  readonly routeKey: string;
  readonly service: string;

  constructor(labels: RouteLabels, service: string) {
    this.routeKey = `host="${escapeLabel(labels.host)}",ingress="${escapeLabel(labels.ingress)}",path="${escapeLabel(labels.path)}"`;
    this.service = escapeLabel(service);
  }

  /** Counts a status without a latency observation (upgrades). */
  countStatus(status: number): void {
    const cls = (status / 100) | 0;
    this.codes[cls >= 1 && cls <= 5 ? cls : 5]!++;
  }

  /** Counts one finished request. */
  record(status: number, seconds: number): void {
    this.countStatus(status);
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.buckets[i]!++;
    this.count++;
    this.sum += seconds;
  }
}

/** Every metric the ingress exports. */
export class IngressMetrics {
  readonly registry: Registry;
  /** Failed upstream attempts by route and error code (a retried attempt counts too). */
  readonly upstreamErrors: Counter;
  /** Upstream attempts retried on another endpoint. */
  readonly retries: Counter;
  /** Route table builds and the routes in the current one. */
  readonly rebuilds: Counter;
  readonly routes: Gauge;
  /** Meters by rendered labels, so a rebuilt route keeps counting where it was. */
  private readonly meters = new Map<string, RouteMeter>();
  /** Meters with a latency series (requests that matched a route). */
  private readonly timed = new Set<RouteMeter>();

  constructor(registry = new Registry()) {
    this.registry = registry;
    this.upstreamErrors = registry.counter('ingress_upstream_errors_total', 'Failed upstream attempts by route and error code.');
    this.retries = registry.counter('ingress_upstream_retries_total', 'Upstream attempts retried on another endpoint after a connect-level failure.');
    this.rebuilds = registry.counter('ingress_route_table_builds_total', 'Route table builds.');
    this.routes = registry.gauge('ingress_routes', 'Routes in the current route table.');
  }

  /** The meter of a route and Service (created on first use); `timed` adds its latency series. */
  meter(labels: RouteLabels, service: string, timed = true): RouteMeter {
    const probe = new RouteMeter(labels, service);
    const key = `${probe.routeKey}\u0000${probe.service}`;
    let m = this.meters.get(key);
    if (!m) {
      m = probe;
      this.meters.set(key, m);
    }
    if (timed) this.timed.add(m);
    return m;
  }

  /** Requests counted for a route, service and status class such as `2xx` (tests). */
  requestCount(labels: RouteLabels, service: string, code: string): number {
    const m = this.meters.get(`${new RouteMeter(labels, service).routeKey}\u0000${escapeLabel(service)}`);
    return m ? m.codes[Number(code[0])]! : 0;
  }

  /** The exposition text: the meters' families, then the Registry (with the process metrics). */
  render(): string {
    const req = [`# HELP ${REQUESTS} HTTP requests by route and status class.`, `# TYPE ${REQUESTS} counter`];
    const lat = [`# HELP ${LATENCY} Request latency through the ingress by route.`, `# TYPE ${LATENCY} histogram`];
    for (const m of this.meters.values()) {
      for (let c = 1; c <= 5; c++) if (m.codes[c]) req.push(`${REQUESTS}{code="${c}xx",${m.routeKey},service="${m.service}"} ${m.codes[c]}`);
    }
    // The histogram is per route (no service label): meters of one route on several Services add up.
    const byRoute = new Map<string, { buckets: Float64Array; count: number; sum: number }>();
    for (const m of this.timed) {
      let s = byRoute.get(m.routeKey);
      if (!s) byRoute.set(m.routeKey, (s = { buckets: new Float64Array(BUCKETS.length), count: 0, sum: 0 }));
      for (let i = 0; i < BUCKETS.length; i++) s.buckets[i]! += m.buckets[i]!;
      s.count += m.count;
      s.sum += m.sum;
    }
    for (const [k, s] of byRoute) {
      BUCKETS.forEach((b, i) => lat.push(`${LATENCY}_bucket{${k},le="${b}"} ${s.buckets[i]}`));
      lat.push(`${LATENCY}_bucket{${k},le="+Inf"} ${s.count}`, `${LATENCY}_sum{${k}} ${s.sum}`, `${LATENCY}_count{${k}} ${s.count}`);
    }
    return `${req.join('\n')}\n${lat.join('\n')}\n${this.registry.render()}`;
  }
}
