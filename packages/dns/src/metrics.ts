/** The DNS server's Prometheus metrics (names follow CoreDNS where it has one). */
import { Registry, type Counter, type Gauge, type Histogram } from '@flotilla/observability';

/** Buckets for DNS latencies, in seconds: answers from cache take microseconds, forwards milliseconds. */
const DNS_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Counters and histograms the server updates per query. */
export class DnsMetrics {
  readonly registry: Registry;
  /** Queries by transport, type and whether they were answered from the zone or forwarded. */
  readonly requests: Counter;
  /** Responses by rcode and source (zone, forward). */
  readonly responses: Counter;
  /** Time from receiving a query to sending its answer. */
  readonly requestDuration: Histogram;
  /** Round trip of a forwarded query to the upstream resolvers. */
  readonly forwardDuration: Histogram;
  /** Forwarded queries no upstream answered. */
  readonly forwardFailures: Counter;
  /** Answers that did not fit the client's UDP size and went out truncated. */
  readonly truncated: Counter;
  /** Services and EndpointSlices in the informers' caches. */
  readonly cachedObjects: Gauge;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.requests = registry.counter('dns_requests_total', 'DNS queries received, by transport (udp, tcp), query type and source (zone, forward).');
    this.responses = registry.counter('dns_responses_total', 'DNS responses sent, by rcode and source (zone, forward).');
    this.requestDuration = registry.histogram('dns_request_duration_seconds', 'Seconds from a query received to its answer sent, by source.', DNS_BUCKETS);
    this.forwardDuration = registry.histogram('dns_forward_duration_seconds', 'Round trip of a query forwarded to the upstream resolvers.', DNS_BUCKETS);
    this.forwardFailures = registry.counter('dns_forward_failures_total', 'Forwarded queries that no upstream answered (answered SERVFAIL).');
    this.truncated = registry.counter('dns_truncated_responses_total', 'UDP answers too large for the client, sent with the TC bit.');
    this.cachedObjects = registry.gauge('dns_cached_objects', 'Objects in the informer caches the zone is served from, by resource.');
  }
}
