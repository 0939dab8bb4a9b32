/**
 * What etcd was doing when it was slow, from its own log (zap JSON, one
 * object per line): each "apply request took too long" warning names the
 * request and how long it took, and each "finished scheduled compaction"
 * how long the compaction ran. etcd_server_slow_apply_total counts the
 * first; this says which requests they were, whether a history compaction
 * was running, and when in the window they came.
 */

/** The slow applies of one kind of request (`txn put pods`, `range pods`, ...). */
export interface SlowRequestKind {
  kind: string;
  count: number;
  /** Of those, how many finished while a history compaction ran. */
  duringCompaction: number;
  p50Ms: number;
  maxMs: number;
}

export interface EtcdSlowLog {
  /** Slow applies in the window (etcd logs those over 100 ms). */
  count: number;
  /** By kind of request, most first. */
  kinds: SlowRequestKind[];
  /** Seconds of the window a history compaction ran, and the compactions that ended in it. */
  compactionSeconds: number;
  compactions: number;
  /** The window's length, s. */
  windowSeconds: number;
  /** The 10 s stretches with the most slow applies: seconds from the window's start, and the count. */
  busiest: Array<{ atSeconds: number; count: number }>;
}

const BUCKET_MS = 10_000;

/** A Go duration as etcd's zap logger writes it (`116.09ms`, `1.2s`, `950µs`, `1m2.5s`), in ms; NaN when unreadable. */
export function goDurationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, 'µs': 1e-3, us: 1e-3, ns: 1e-6 };
  let total = 0;
  let matched = '';
  for (const m of text.matchAll(/([0-9.]+)(h|ms|m|s|µs|us|ns)/g)) {
    total += Number(m[1]) * units[m[2]!]!;
    matched += m[0];
  }
  return matched.length > 0 && matched === text ? total : Number.NaN;
}

/**
 * The kind of a slow request from the `request` and `prefix` fields of its
 * warning: the operation and the resource of its first key
 * (`/registry/pods/ns/name` → pods; the prefix's own key, `/registry/`,
 * is `(prefix key)`), e.g. `txn put pods`, `range leases`,
 * `range pods (count)`, `lease_grant`, `compaction`.
 */
export function requestKind(prefix: string, request: string): string {
  const key = /key:"([^"]*)"/.exec(request)?.[1];
  // Keys are <prefix>/<resource>/...; the prefix's own key is what a revision probe reads.
  const resource = key !== undefined ? (key.split('/').filter(Boolean)[1] ?? '(prefix key)') : undefined;
  const on = (op: string) => (resource !== undefined ? `${op} ${resource}` : op);
  if (prefix.includes('range')) {
    const how = request.includes('count_only:true') ? ' (count)' : request.includes('keys_only:true') ? ' (keys)' : request.includes('range_end:') ? ' (prefix)' : '';
    return on('range') + how;
  }
  if (request.includes('txn:<')) {
    const success = /success:<(request_\w+)/.exec(request)?.[1];
    const op = success === 'request_put' ? 'put' : success === 'request_delete_range' ? 'delete' : success === 'request_range' ? 'read' : 'other';
    return on(`txn ${op}`);
  }
  const op = /(?:^|\s|>\s*)(\w+):</.exec(request.replace(/^header:<[^>]*>\s*/, ''))?.[1];
  if (op === 'put' || op === 'delete_range' || op === 'range') return on(op);
  return op ?? 'other';
}

interface Line {
  at: number;
  msg: string;
  fields: Record<string, unknown>;
}

function parseLines(text: string): Line[] {
  const out: Line[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue;
    }
    const at = Date.parse(String(fields.ts ?? ''));
    if (Number.isNaN(at)) continue;
    out.push({ at, msg: String(fields.msg ?? ''), fields });
  }
  return out;
}

/** Summarizes etcd's slow applies from `fromMs` to `toMs` (epoch ms) in the text of its log. */
export function summarizeEtcdSlowLog(text: string, fromMs: number, toMs: number): EtcdSlowLog {
  const lines = parseLines(text);
  // A compaction logs when it ends and how long it took: it ran [end - took, end].
  const compactionSpans: Array<[number, number]> = [];
  for (const l of lines) {
    if (l.msg !== 'finished scheduled compaction') continue;
    const took = goDurationMs(String(l.fields.took ?? ''));
    if (!Number.isNaN(took)) compactionSpans.push([l.at - took, l.at]);
  }
  const inCompaction = (at: number) => compactionSpans.some(([a, b]) => at >= a && at <= b);
  const byKind = new Map<string, { n: number; took: number[]; during: number }>();
  const buckets = new Map<number, number>();
  let count = 0;
  for (const l of lines) {
    if (l.msg !== 'apply request took too long' || l.at < fromMs || l.at > toMs) continue;
    const took = goDurationMs(String(l.fields.took ?? ''));
    const kind = requestKind(String(l.fields.prefix ?? ''), String(l.fields.request ?? ''));
    let k = byKind.get(kind);
    if (!k) byKind.set(kind, (k = { n: 0, took: [], during: 0 }));
    k.n++;
    if (!Number.isNaN(took)) k.took.push(took);
    if (inCompaction(l.at)) k.during++;
    const bucket = Math.floor((l.at - fromMs) / BUCKET_MS);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
    count++;
  }
  const kinds = [...byKind].map(([kind, k]): SlowRequestKind => {
    const sorted = k.took.sort((a, b) => a - b);
    return {
      kind,
      count: k.n,
      duringCompaction: k.during,
      p50Ms: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : Number.NaN,
      maxMs: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    };
  });
  kinds.sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind));
  let compactionMs = 0;
  let compactions = 0;
  for (const [a, b] of compactionSpans) {
    const overlap = Math.min(b, toMs) - Math.max(a, fromMs);
    if (overlap > 0) compactionMs += overlap;
    if (b >= fromMs && b <= toMs) compactions++;
  }
  const busiest = [...buckets]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, 5)
    .map(([bucket, n]) => ({ atSeconds: (bucket * BUCKET_MS) / 1000, count: n }));
  return { count, kinds, compactionSeconds: compactionMs / 1000, compactions, windowSeconds: (toMs - fromMs) / 1000, busiest };
}
