/**
 * How often and how long a server process stopped, between two scrapes of
 * its /metrics: GC pauses (`nodejs_gc_duration_seconds`) and event-loop
 * delay (`nodejs_eventloop_delay_seconds`), cumulative histograms that
 * every Flotilla server reports (@flotilla/observability runtime-metrics).
 * A request in flight waits out every such stop: this is where an API p99
 * of seconds can come from when the CPU per request is milliseconds.
 */

/** One histogram summed over its series: cumulative count per bucket bound (`le`), and the sum. */
export interface HistogramTotals {
  buckets: Map<number, number>;
  sum: number;
}

/** The histogram `name` from exposition text, summed over every label set but `le`. */
export function histogramTotals(text: string, name: string): HistogramTotals {
  const buckets = new Map<number, number>();
  let sum = 0;
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + value);
    } else if (line.startsWith(`${name}_sum `) || line.startsWith(`${name}_sum{`)) {
      sum += value;
    }
  }
  return { buckets, sum };
}

/** Stops of one kind in a window. */
export interface Pauses {
  count: number;
  /** Their total, seconds. */
  seconds: number;
  /** How many lasted longer than 0.1 s and than 1 s. */
  over100ms: number;
  over1s: number;
  /** The smallest bucket bound every one of them fits under (s); Infinity when one went past the last. */
  longestUnder: number;
}

/** The stops between two snapshots of one histogram; undefined when the process reports none (an older build). */
export function pausesBetween(before: HistogramTotals, after: HistogramTotals): Pauses | undefined {
  if (!after.buckets.has(Infinity)) return undefined;
  const delta = (le: number) => (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0);
  const count = delta(Infinity);
  const bounds = [...after.buckets.keys()].sort((a, b) => a - b);
  const longestUnder = count === 0 ? 0 : (bounds.find((b) => delta(b) === count) ?? Infinity);
  return { count, seconds: after.sum - before.sum, over100ms: count - delta(0.1), over1s: count - delta(1), longestUnder };
}

/** The GC and event-loop stops of one process between two /metrics texts. */
export function runtimePauses(before: string, after: string): { gc?: Pauses; eventLoop?: Pauses } {
  const gc = pausesBetween(histogramTotals(before, 'nodejs_gc_duration_seconds'), histogramTotals(after, 'nodejs_gc_duration_seconds'));
  const eventLoop = pausesBetween(histogramTotals(before, 'nodejs_eventloop_delay_seconds'), histogramTotals(after, 'nodejs_eventloop_delay_seconds'));
  return { ...(gc ? { gc } : {}), ...(eventLoop ? { eventLoop } : {}) };
}
