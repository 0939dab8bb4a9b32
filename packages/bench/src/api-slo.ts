/**
 * Kubernetes' API call latency SLOs, read from the apiserver's own
 * `apiserver_request_duration_seconds` histogram over a window: the p99 of
 * every (verb, resource, subresource, scope) that was called, against its
 * threshold — 1 s for mutating calls and for reads of one object, 5 s for a
 * namespace's collection, 30 s for the whole cluster's. WATCH is long-running
 * and outside the SLO, as in Kubernetes, and so are non-resource paths.
 */

/** Cumulative bucket counts of one series: upper bound (s) → observations ≤ it. */
export type Buckets = Map<number, number>;

/** The histogram's series, keyed `VERB resource[/subresource] scope`. */
export type LatencySnapshot = Map<string, Buckets>;

/** One call kind's latency over the window. */
export interface ApiCallLatency {
  /** `VERB resource[/subresource]`. */
  call: string;
  scope: string;
  count: number;
  /** Upper bound of the bucket holding the 99th percentile (s); Infinity past the last bucket. */
  p99: number;
  /** The SLO threshold for this call (s). */
  threshold: number;
  met: boolean;
}

/** Parses the histogram's `_bucket` lines out of a /metrics text. */
export function parseLatencyHistogram(text: string, name = 'apiserver_request_duration_seconds'): LatencySnapshot {
  const out: LatencySnapshot = new Map();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const labels = Object.fromEntries([...line.slice(prefix.length, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''} ${labels.scope ?? '-'}`;
    let b = out.get(key);
    if (!b) out.set(key, (b = new Map()));
    b.set(le, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** Kubernetes' threshold for a call: mutating and single-object reads 1 s, namespace lists 5 s, cluster lists 30 s. */
export function sloThreshold(verb: string, scope: string): number {
  if (verb === 'GET' || verb === 'LIST') return scope === 'cluster' ? 30 : scope === 'namespace' ? 5 : 1;
  return 1;
}

/** The p99 of every call kind between two snapshots (the `+Inf` bucket holds every observation). */
export function latencyBetween(before: LatencySnapshot, after: LatencySnapshot): ApiCallLatency[] {
  const rows: ApiCallLatency[] = [];
  for (const [key, b1] of after) {
    const [verb, call, scope] = key.split(' ') as [string, string, string];
    // Long-running watches and non-resource paths (/metrics, /healthz) are outside the SLO.
    if (verb === 'WATCH' || !call) continue;
    const b0 = before.get(key) ?? new Map<number, number>();
    const bounds = [...b1.keys()].sort((x, y) => x - y);
    const count = (b1.get(Infinity) ?? 0) - (b0.get(Infinity) ?? 0);
    if (count <= 0) continue;
    const want = Math.ceil(count * 0.99);
    let p99 = Infinity;
    for (const le of bounds) {
      if ((b1.get(le) ?? 0) - (b0.get(le) ?? 0) >= want) {
        p99 = le;
        break;
      }
    }
    const threshold = sloThreshold(verb, scope);
    rows.push({ call: `${verb} ${call}`, scope, count, p99, threshold, met: p99 <= threshold });
  }
  return rows.sort((a, b) => b.count - a.count);
}
