/**
 * Where an apiserver served its consistent reads (GET, a LIST's first page)
 * over a benchmark's window: from its read cache, or from etcd, and how often
 * a read waited for the cache to apply the apiserver's own writes. Read from
 * two texts of its /metrics (the flotilla_storage_* counters).
 */
import { sampleTotal } from './runtime-pauses.js';

/** Where an apiserver served its consistent reads in a window (its flotilla_storage_* counters). */
export interface ReadSources {
  gets: { cache: number; etcd: number };
  /** LISTs' first pages. */
  lists: { cache: number; etcd: number };
  /** Reads that waited for the read cache to apply the apiserver's own writes: caught up, or gave up and read etcd. */
  lagWaits: { caughtUp: number; gaveUp: number };
}

/** ReadSources between two /metrics texts of an apiserver; undefined when it does not count them. */
export function readSources(before: string, after: string): ReadSources | undefined {
  const delta = (name: string, label: string) => (sampleTotal(after, name, label) ?? 0) - (sampleTotal(before, name, label) ?? 0);
  if (sampleTotal(after, 'flotilla_storage_consistent_reads_total') === undefined) return undefined;
  const pair = (name: string) => ({ cache: delta(name, 'from="cache"'), etcd: delta(name, 'from="etcd"') });
  const waits = 'flotilla_storage_read_cache_lag_waits_total';
  return {
    gets: pair('flotilla_storage_consistent_reads_total'),
    lists: pair('flotilla_storage_consistent_lists_total'),
    lagWaits: { caughtUp: delta(waits, 'outcome="caught-up"'), gaveUp: delta(waits, 'outcome="gave-up"') },
  };
}

/** One line of ReadSources: `GET 10 from the cache, 2 from etcd; ...`. */
export function readSourcesText(r: ReadSources): string {
  return `GET ${r.gets.cache} from the read cache, ${r.gets.etcd} from etcd; LIST ${r.lists.cache} from the read cache, ${r.lists.etcd} from etcd; waits for the cache to apply the apiserver's own writes: ${r.lagWaits.caughtUp} caught up, ${r.lagWaits.gaveUp} gave up and read etcd`;
}
