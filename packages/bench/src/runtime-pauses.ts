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

/** The histogram `name` from exposition text, summed over every label set but `le`, in seconds (`perSecond`: 1000 for one in milliseconds). */
export function histogramTotals(text: string, name: string, perSecond = 1): HistogramTotals {
  const buckets = new Map<number, number>();
  let sum = 0;
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le) / perSecond;
      buckets.set(bound, (buckets.get(bound) ?? 0) + value);
    } else if (line.startsWith(`${name}_sum `) || line.startsWith(`${name}_sum{`)) {
      sum += value / perSecond;
    }
  }
  return { buckets, sum };
}

/** Stops of one kind in a window. */
export interface Pauses {
  count: number;
  /** Their total, seconds. */
  seconds: number;
  /** How many lasted longer than 0.1 s and than 1 s (than the smallest bucket bound at or above each, when neither is a bound). */
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
  const over = (t: number) => count - delta(bounds.find((b) => b >= t) ?? Infinity);
  return { count, seconds: after.sum - before.sum, over100ms: over(0.1), over1s: over(1), longestUnder };
}

/** The stops recorded by histogram `name` between two /metrics texts. */
function stopsBetween(before: string, after: string, name: string, perSecond = 1): Pauses | undefined {
  return pausesBetween(histogramTotals(before, name, perSecond), histogramTotals(after, name, perSecond));
}

/** The longest stop for a table: its bucket bound, or that it went past the last one. */
export function longestText(p: Pauses | undefined): string {
  if (!p) return '-';
  return p.longestUnder === Infinity ? 'beyond the last bucket' : String(p.longestUnder);
}

/** A counter (or gauge) `name` from exposition text, summed over its label sets (those with `label`, e.g. `from="etcd"`, if given); undefined when absent. */
export function sampleTotal(text: string, name: string, label?: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    if (label && !line.slice(0, line.lastIndexOf(' ')).includes(label)) continue;
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** A Flotilla process's V8 heap (used, reserved) and the memory its Buffers hold outside it, MiB, from its /metrics text; NaN where absent. */
export function memoryMiB(text: string): { heapUsed: number; heapTotal: number; external: number } {
  const v = (name: string) => (sampleTotal(text, name) ?? Number.NaN) / 1048576;
  return { heapUsed: v('nodejs_heap_used_bytes'), heapTotal: v('nodejs_heap_total_bytes'), external: v('nodejs_external_memory_bytes') };
}

/** What etcd's disk and apply loop did in a window: the stops every write waits on. */
export interface EtcdStops {
  walFsync?: Pauses;
  backendCommit?: Pauses;
  snapshotSave?: Pauses;
  /** History compactions (each whole run), and the pauses within them during which writes wait. */
  compaction?: Pauses;
  compactionPause?: Pauses;
  /** Applies etcd logged as slower than expected (100 ms). */
  slowApplies?: number;
  /** Linearizable reads that waited longer than expected for the apply loop (ReadIndex). */
  slowReadIndexes?: number;
  /** Size of the backend database at the end (bytes). */
  dbBytes?: number;
}

/** EtcdStops between two texts of etcd's /metrics. */
export function etcdStops(before: string, after: string): EtcdStops {
  const between = (name: string, perSecond = 1) => stopsBetween(before, after, name, perSecond);
  const walFsync = between('etcd_disk_wal_fsync_duration_seconds');
  const backendCommit = between('etcd_disk_backend_commit_duration_seconds');
  const snapshotSave = between('etcd_debugging_snap_save_total_duration_seconds');
  const compaction = between('etcd_debugging_mvcc_db_compaction_total_duration_milliseconds', 1000);
  const compactionPause = between('etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds', 1000);
  const counted = (name: string) => {
    const end = sampleTotal(after, name);
    return end === undefined ? undefined : end - (sampleTotal(before, name) ?? 0);
  };
  const slowApplies = counted('etcd_server_slow_apply_total');
  const slowReadIndexes = counted('etcd_server_slow_read_indexes_total');
  const dbBytes = sampleTotal(after, 'etcd_mvcc_db_total_size_in_bytes');
  return {
    ...(walFsync ? { walFsync } : {}),
    ...(backendCommit ? { backendCommit } : {}),
    ...(snapshotSave ? { snapshotSave } : {}),
    ...(compaction ? { compaction } : {}),
    ...(compactionPause ? { compactionPause } : {}),
    ...(slowApplies !== undefined ? { slowApplies } : {}),
    ...(slowReadIndexes !== undefined ? { slowReadIndexes } : {}),
    ...(dbBytes !== undefined ? { dbBytes } : {}),
  };
}

/** The GC and event-loop stops of one process between two /metrics texts. */
export function runtimePauses(before: string, after: string): { gc?: Pauses; eventLoop?: Pauses } {
  const gc = stopsBetween(before, after, 'nodejs_gc_duration_seconds');
  const eventLoop = stopsBetween(before, after, 'nodejs_eventloop_delay_seconds');
  return { ...(gc ? { gc } : {}), ...(eventLoop ? { eventLoop } : {}) };
}
