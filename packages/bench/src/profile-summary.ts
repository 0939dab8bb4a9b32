/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and says where the time went:
 * self time per function and per area (JSON, TLS, fastify, etcd client,
 * Flotilla's own packages, GC, idle), so a missed target names its cause.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time of one function or area, in ms and as a share of busy (non-idle) time. */
export interface ProfileEntry {
  name: string;
  ms: number;
  percent: number;
}

/** A profile's breakdown. */
export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  /** Self time by the area of the leaf function. */
  areas: ProfileEntry[];
  /**
   * Self time charged to the nearest caller outside node core and natives:
   * a native `writev` called from grpc counts as etcd client work, the same
   * call under fastify's reply as HTTP serving.
   */
  attributed: ProfileEntry[];
  functions: ProfileEntry[];
  /** The longest stretches without one idle sample (the event loop never waited), longest first. */
  stalls: ProfileStall[];
}

/**
 * A stretch of the profile in which the thread never went idle: one piece of
 * synchronous work (or GC, or several back to back) that every request in
 * flight waited out. `frames` are Flotilla's own functions on the stack
 * during it, by the share of its samples they were on the stack for
 * (inclusive); `leaves` the functions the samples were in (self).
 */
export interface ProfileStall {
  /** Start, in ms from the profile's start. */
  atMs: number;
  ms: number;
  frames: ProfileEntry[];
  leaves: ProfileEntry[];
}

const AREAS: Array<[string, (url: string, fn: string) => boolean]> = [
  ['idle', (_u, f) => f === '(idle)'],
  ['garbage collection', (_u, f) => f === '(garbage collector)'],
  ['JSON parse/stringify', (u, f) => u === '' && (f === 'parse' || f === 'stringify')],
  ['flotilla store (etcd-storage, watch-hub)', (u) => u.includes('/packages/store/')],
  ['flotilla apiserver', (u) => u.includes('/packages/apiserver/')],
  ['flotilla api (validation, defaults, selectors)', (u) => u.includes('/packages/api/')],
  ['flotilla observability (logs, metrics)', (u) => u.includes('/packages/observability/')],
  ['pino (logging)', (u) => /node_modules\/(pino|sonic-boom|thread-stream)/.test(u)],
  ['fastify + find-my-way + avvio', (u) => /node_modules\/(@fastify|fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse)/.test(u)],
  ['etcd3 + grpc-js + protobuf', (u) => /node_modules\/(etcd3|@grpc|protobufjs|@protobufjs|cockatiel)/.test(u)],
  ['node tls/crypto', (u) => /node:(internal\/)?(tls|_tls|crypto|internal\/tls)/.test(u) || u.includes('_tls_')],
  ['node http/http2/net/streams', (u) => /node:(internal\/)?(http|_http|http2|net|stream|internal\/streams|internal\/http2)/.test(u)],
  ['other node internals', (u) => u.startsWith('node:')],
  ['other node_modules', (u) => u.includes('node_modules')],
  ['(program) / native', () => true],
];

/** Stretches at least this long are reported as stalls. */
const STALL_MS = 500;
/** At most this many stalls are reported. */
const STALLS_SHOWN = 10;

const shortUrl = (url: string) => url.replace(/^.*\/node_modules\//, '').replace(/^.*\/packages\//, '').replace(/^file:\/\//, '');
const frameName = (f: ProfileNode['callFrame']) => {
  const short = shortUrl(f.url);
  return `${f.functionName || '(anonymous)'} ${short ? `${short}:${f.lineNumber + 1}` : ''}`.trim();
};

/** The stretches of `minMs` or more in which no sample was idle, longest first. */
function findStalls(profile: CpuProfile, byId: Map<number, ProfileNode>, parent: Map<number, number>, minMs: number): ProfileStall[] {
  const idle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';
  const found: Array<{ from: number; to: number; atUs: number; us: number }> = [];
  let at = 0;
  let from = -1;
  let fromAt = 0;
  const close = (to: number, endAt: number) => {
    if (from >= 0 && endAt - fromAt >= minMs * 1000) found.push({ from, to, atUs: fromAt, us: endAt - fromAt });
    from = -1;
  };
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (idle(profile.samples[i]!)) close(i, at);
    else if (from < 0) {
      from = i;
      fromAt = at;
    }
  }
  close(profile.samples.length, at);
  found.sort((a, b) => b.us - a.us);
  return found.slice(0, STALLS_SHOWN).map(({ from, to, atUs, us }) => {
    const inclusive = new Map<string, number>();
    const self = new Map<string, number>();
    const n = to - from;
    for (let i = from; i < to; i++) {
      const leaf = profile.samples[i]!;
      const leafName = frameName(byId.get(leaf)!.callFrame);
      self.set(leafName, (self.get(leafName) ?? 0) + 1);
      const seen = new Set<string>();
      for (let cur: number | undefined = leaf; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        if (!f.url.includes('/packages/')) continue;
        const name = frameName(f);
        if (seen.has(name)) continue;
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
      }
    }
    const top = (m: Map<string, number>, k: number) =>
      [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, c]) => ({ name, ms: (c / n) * (us / 1000), percent: (100 * c) / n }));
    return { atMs: atUs / 1000, ms: us / 1000, frames: top(inclusive, 8), leaves: top(self, 4) };
  });
}

/** Loads and summarises a .cpuprofile file. */
export function summarizeProfile(file: string, top = 25, stallMs = STALL_MS): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const areaOf = (url: string, fn: string) => AREAS.find(([, match]) => match(url, fn))![0];
  const attributedArea = (id: number): string => {
    const leaf = byId.get(id)!.callFrame;
    if (leaf.functionName.startsWith('(')) return areaOf(leaf.url, leaf.functionName);
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.url && !f.url.startsWith('node:')) return areaOf(f.url, f.functionName);
    }
    return 'node internals (no JS caller: sockets, timers)';
  };
  const attributed = new Map<string, number>();
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const fn = functionName || '(anonymous)';
    total += us;
    if (fn === '(idle)') idle += us;
    const area = areaOf(url, fn);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const attr = attributedArea(id);
    attributed.set(attr, (attributed.get(attr) ?? 0) + us);
    const key = frameName({ functionName: fn, url, lineNumber });
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const entries = (m: Map<string, number>, skipIdle: boolean) =>
    [...m.entries()]
      .filter(([k]) => !(skipIdle && (k === 'idle' || k.startsWith('(idle)'))))
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000, percent: busy > 0 ? (100 * us) / busy : 0 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, areas: entries(areas, true), attributed: entries(attributed, true), functions: entries(fns, true).slice(0, top), stalls: findStalls(profile, byId, parent, stallMs) };
}
