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

/** Loads and summarises a .cpuprofile file. */
export function summarizeProfile(file: string, top = 25): ProfileSummary {
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
    const short = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/packages\//, '').replace(/^file:\/\//, '');
    const key = `${fn} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const entries = (m: Map<string, number>, skipIdle: boolean) =>
    [...m.entries()]
      .filter(([k]) => !(skipIdle && (k === 'idle' || k.startsWith('(idle)'))))
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000, percent: busy > 0 ? (100 * us) / busy : 0 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, areas: entries(areas, true), attributed: entries(attributed, true), functions: entries(fns, true).slice(0, top) };
}
