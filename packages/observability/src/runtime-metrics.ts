/**
 * What the Node.js runtime itself costs a server, for `/metrics`: garbage
 * collection pauses and event-loop delay, as cumulative histograms (so a
 * benchmark or a Prometheus `rate()` can take any window as a difference).
 * A server with a large heap (the apiserver's read cache at 150,000 pods)
 * stops for every major collection, and every request in flight waits:
 * these say how often and how long.
 *
 * One collector per process, started by the first Registry: GC entries come
 * from a PerformanceObserver (one callback per collection); the event-loop
 * delay from a 100 ms timer measuring how late it fires (ten callbacks a
 * second; a 2 s stall is one sample of about 1.9 s). Neither keeps the
 * process alive.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { Histogram } from './metrics.js';

/** Buckets of GC pauses (s): minor collections take ~1 ms, a major one of a large heap up to seconds. */
export const GC_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Buckets of event-loop delay (s): beyond 1 s every request in flight is over Kubernetes' latency SLO. */
export const EVENT_LOOP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Period of the event-loop delay probe. */
const PROBE_MS = 100;

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** The process's runtime histograms. */
export interface RuntimeMetrics {
  gc: Histogram;
  eventLoopDelay: Histogram;
}

let runtime: RuntimeMetrics | undefined;

/**
 * The process-wide runtime histograms, started on first use; `histogram`
 * makes them (the Registry passes its Histogram, so this module imports
 * none of metrics.ts at run time and the two do not load each other).
 */
export function runtimeMetrics(histogram: (name: string, help: string, buckets: number[]) => Histogram): RuntimeMetrics {
  if (runtime) return runtime;
  const gc = histogram('nodejs_gc_duration_seconds', 'Garbage collection pauses of this process, by kind (minor, major, incremental, weakcb).', GC_BUCKETS);
  const eventLoopDelay = histogram('nodejs_eventloop_delay_seconds', `How late a ${PROBE_MS} ms timer fired: time the event loop was busy or stopped (GC, CPU starvation, synchronous work).`, EVENT_LOOP_BUCKETS);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      gc.observe(e.duration / 1000, { kind: (kind !== undefined && GC_KINDS[kind]) || 'other' });
    }
  }).observe({ entryTypes: ['gc'] });
  let expected = performance.now() + PROBE_MS;
  setInterval(() => {
    const now = performance.now();
    eventLoopDelay.observe(Math.max(0, now - expected) / 1000);
    expected = now + PROBE_MS;
  }, PROBE_MS).unref();
  runtime = { gc, eventLoopDelay };
  return runtime;
}
