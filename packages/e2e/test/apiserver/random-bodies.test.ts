import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, etcdEndpoints, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';
import { resourceRows, type Row } from './manifests.js';

// Property-style: seeded random bodies at every write endpoint the real
// apiserver process advertises in discovery (every resource, and its
// status, scale and binding subresources), over HTTPS on the real etcd.
// Whatever arrives, the answer is a success or a 4xx Kubernetes Status,
// never a 5xx; a refused request leaves the resource's etcd keys as they
// were; the process never dies. (src/fuzz.test.ts of the apiserver does the
// same in-process with more bodies per endpoint.)

const run = randomBytes(3).toString('hex');
const ns = `e2e-fuzz-${run}`;
const ROWS = resourceRows(ns, run);
const SEED = Number(process.env.FLOTILLA_FUZZ_SEED ?? 20261127);
const BODIES_PER_ENDPOINT = 6;

/** mulberry32: a small seeded generator, so a failure can be replayed with FLOTILLA_FUZZ_SEED. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function randomJson(depth = 0): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) return pick([null, true, false, 0, -1, 1.5, 1e308, '', 'x', '💥', '\u0000', 'a'.repeat(300)]);
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) {
    o[pick(['metadata', 'spec', 'status', 'kind', 'apiVersion', 'name', 'namespace', 'containers', 'replicas', 'labels', 'finalizers', 'target', 'op', 'path', 'value', '__proto__', 'x'])] = randomJson(depth + 1);
  }
  return o;
}

/** Every path into a JSON value (as key arrays), the root included. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

/** A valid manifest with one random field replaced by a value of a random (usually wrong) type. */
function mutated(manifest: Record<string, unknown>): unknown {
  const all = paths(manifest);
  const path = all[Math.floor(rand() * all.length)]!;
  const value = pick([null, 42, -1, 1.5, 'str', true, [], {}, [1, 'a'], { a: { b: 1 } }, 'x'.repeat(20_000)]);
  if (path.length === 0) return value;
  const copy = structuredClone(manifest) as Record<string | number, any>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k];
  cur[path.at(-1)!] = value;
  return copy;
}

const MALFORMED = ['', '{', '{"metadata":', '[1,2', 'null', '"just a string"', '\u0000\u0001', '{"a":1}{"b":2}', 'a: [', '{"spec":{"containers":[{]}}'];

/** One random body: garbage text, random JSON, a mutated valid manifest or deep nesting. */
function randomBody(manifest: Record<string, unknown>): string {
  const r = rand();
  if (r < 0.2) return pick(MALFORMED);
  if (r < 0.45) return JSON.stringify(randomJson());
  if (r < 0.9) return JSON.stringify(mutated(manifest));
  return `${'['.repeat(5000)}${']'.repeat(5000)}`;
}

interface Endpoint {
  method: string;
  path: string;
  contentType: string;
}

const PATCH_TYPES = ['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json'];

describe('random bodies at every write endpoint of the real apiserver', () => {
  let srv: TestApiServer;
  let pid: number | undefined;
  /** Times a row found the process dead and restarted it. */
  let crashes = 0;
  /** Advertised subresources and their verbs, by resource plural: `{ status: ['get', 'patch', 'update'] }`. */
  const subresources = new Map<string, Map<string, string[]>>();
  const verbs = new Map<string, string[]>();

  const collection = (row: Row) => `${row.groupPath}${row.namespaced ? `/namespaces/${ns}` : ''}/${row.plural}`;
  const keyPrefix = (row: Row) => `${srv.prefix}/${row.plural}/${row.namespaced ? `${ns}/` : ''}`;
  const admin = () => srv.endpoint();

  /** The resource's keys and mod revisions in etcd. */
  async function etcdKeys(row: Row): Promise<string[]> {
    const key = Buffer.from(keyPrefix(row));
    const end = Buffer.from(key);
    end[end.length - 1]! += 1;
    const res = await fetch(`${etcdEndpoints()[0]!.replace(/\/$/, '')}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64'), keys_only: true }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { kvs?: Array<{ key: string; mod_revision: string }> };
    return (body.kvs ?? []).map((kv) => `${Buffer.from(kv.key, 'base64').toString('utf8')}@${kv.mod_revision}`).sort();
  }

  /** Puts the row's fixture object back as created: after a request that succeeded it may be changed, deleted or terminating. */
  async function restore(row: Row): Promise<void> {
    const m = row.manifest();
    const item = `${collection(row)}/${m.metadata.name}`;
    await waitFor(
      async () => {
        const cur = await apiRequest(admin(), 'GET', item);
        if (cur.status === 404) {
          const c = await apiRequest(admin(), 'POST', collection(row), m);
          if (c.status !== 201 && c.status !== 409) throw new Error(`re-create ${item}: ${c.status} ${c.text}`);
          return c.status === 201;
        }
        // Anything else: clear finalizers and delete at once, then create afresh on the next round.
        await apiRequest(admin(), 'PATCH', item, { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
        await apiRequest(admin(), 'DELETE', item, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
        return false;
      },
      { timeout: 15_000, message: `${item} restored` },
    );
  }

  beforeAll(async () => {
    srv = await startApiServer();
    pid = srv.pid();
    expect((await apiRequest(admin(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
    for (const gv of new Set(ROWS.map((r) => r.groupPath))) {
      const doc = (await apiRequest(admin(), 'GET', gv)).json() as { resources: Array<{ name: string; verbs: string[] }> };
      for (const r of doc.resources) {
        const [plural, sub] = r.name.split('/') as [string, string | undefined];
        if (!sub) verbs.set(plural, r.verbs);
        else {
          if (!subresources.has(plural)) subresources.set(plural, new Map());
          subresources.get(plural)!.set(sub, r.verbs);
        }
      }
    }
    for (const row of ROWS) {
      const res = await apiRequest(admin(), 'POST', collection(row), row.manifest());
      expect(res.status, res.text).toBe(201);
    }
  });

  afterAll(async () => {
    await srv?.stop();
  });

  /** The write endpoints discovery advertises for a row, each with the content types it is sent with. */
  function endpoints(row: Row): Endpoint[] {
    const m = row.manifest();
    const item = `${collection(row)}/${m.metadata.name}`;
    const out: Endpoint[] = [];
    const add = (method: string, path: string, types = ['application/json']) => types.forEach((contentType) => out.push({ method, path, contentType }));
    const v = verbs.get(row.plural) ?? [];
    if (v.includes('create')) add('POST', collection(row), ['application/json', 'application/yaml']);
    if (v.includes('update')) add('PUT', item);
    if (v.includes('patch')) add('PATCH', item, PATCH_TYPES);
    if (v.includes('delete')) add('DELETE', item);
    if (v.includes('deletecollection')) add('DELETE', collection(row));
    for (const [sub, sv] of subresources.get(row.plural) ?? []) {
      // A proxy relays the body to a pod or node rather than storing it; an unreachable one is a 503 by design.
      if (sub === 'proxy') continue;
      if (sv.includes('create')) add('POST', `${item}/${sub}`);
      if (sv.includes('update')) add('PUT', `${item}/${sub}`);
      if (sv.includes('patch')) add('PATCH', `${item}/${sub}`, PATCH_TYPES);
    }
    return out;
  }

  it('discovery advertises the write endpoints this test covers', () => {
    expect(ROWS.map((r) => endpoints(r).length).every((n) => n >= 5)).toBe(true);
    expect([...subresources.keys()].sort()).toEqual(expect.arrayContaining(['deployments', 'pods', 'replicasets']));
  });

  it.each(ROWS.map((r) => [r.plural, r] as const))('%s: no 5xx, a Status for every refusal, etcd untouched by it', async (_p, row) => {
    if (srv.pid() !== pid || !(await apiRequest(admin(), 'GET', '/healthz').then((r) => r.status === 200, () => false))) {
      // An earlier row killed the process (and failed for it): start it again so this row's endpoints are still probed.
      crashes++;
      await srv.restart();
      pid = srv.pid();
    }
    const tally = new Map<number, number>();
    for (const ep of endpoints(row)) {
      for (let i = 0; i < BODIES_PER_ENDPOINT; i++) {
        const body = randomBody(row.manifest());
        const before = await etcdKeys(row);
        const where = `${ep.method} ${ep.path} (${ep.contentType}) seed ${SEED}: ${body.slice(0, 400)}`;
        const res = await apiRequest(admin(), ep.method, ep.path, body, { 'content-type': ep.contentType }).catch((err: Error) => {
          throw new Error(`${where}\n→ ${err.message}\n--- apiserver output (last 3 KiB):\n${srv.logs().slice(-3072)}`);
        });
        tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
        expect(res.status, `${where}\n→ ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(200);
        expect(res.status, `${where}\n→ ${res.text.slice(0, 300)}`).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.json(), where).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: res.status });
          expect(await etcdKeys(row), `etcd changed by a refused ${where}`).toEqual(before);
        } else {
          await restore(row);
        }
      }
    }
    expect(srv.pid()).toBe(pid);
    console.log(`[random-bodies] ${row.plural}: ${[...tally].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c}×${n}`).join(' ')}`);
  });

  it('is still the same healthy process', async () => {
    expect(crashes, 'rows that found the apiserver dead').toBe(0);
    expect(srv.pid()).toBe(pid);
    expect(srv.logs()).not.toMatch(/--- exited/);
    expect((await apiRequest(admin(), 'GET', '/readyz')).status).toBe(200);
  });
});
