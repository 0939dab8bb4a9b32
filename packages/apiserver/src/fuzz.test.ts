/**
 * Property-style robustness: garbage of every kind thrown at every endpoint
 * must give a 4xx Status (or a success), never a 5xx, and a rejected request
 * must leave the store untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApiServer, testDeployment, testPod, type TestApiServer } from './testing/index.js';

// Deterministic PRNG (mulberry32) so a failure reproduces.
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(20261126);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function randomJson(depth = 0): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) return pick([null, true, false, 0, -1, 1.5, 1e308, '', 'x', '💥', '\u0000', 'a'.repeat(300)]);
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) {
    o[pick(['metadata', 'spec', 'status', 'kind', 'apiVersion', 'name', 'containers', 'replicas', 'labels', '__proto__', 'constructor', 'x', ''])] = randomJson(depth + 1);
  }
  return o;
}

const WRONG_VALUES: unknown[] = [null, 42, -1, 1.5, 'str', true, [], {}, [1, 'a'], { a: { b: 1 } }, 'x'.repeat(20_000)];

/** Every path (as key arrays) into a JSON value, including the root. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function setAt(obj: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path.at(-1)!] = value;
  return copy;
}

const POD = { ...testPod('victim'), spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'b' }] }], restartPolicy: 'Always' } };
const DEPLOY = testDeployment('victim-d');

const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';
const MERGE = { 'content-type': 'application/merge-patch+json' };
const STRATEGIC = { 'content-type': 'application/strategic-merge-patch+json' };
const JSONPATCH = { 'content-type': 'application/json-patch+json' };

interface Target {
  method: string;
  url: string;
  headers?: Record<string, string>;
}

const TARGETS: Target[] = [
  { method: 'POST', url: PODS },
  { method: 'PUT', url: `${PODS}/existing` },
  { method: 'PUT', url: `${PODS}/existing/status` },
  { method: 'PATCH', url: `${PODS}/existing`, headers: MERGE },
  { method: 'PATCH', url: `${PODS}/existing`, headers: STRATEGIC },
  { method: 'PATCH', url: `${PODS}/existing`, headers: JSONPATCH },
  { method: 'PATCH', url: `${PODS}/existing/status`, headers: MERGE },
  { method: 'POST', url: `${PODS}/existing/binding` },
  { method: 'DELETE', url: `${PODS}/existing` },
  { method: 'DELETE', url: PODS },
  { method: 'POST', url: DEPLOYS },
  { method: 'PUT', url: `${DEPLOYS}/existing-d` },
  { method: 'PUT', url: `${DEPLOYS}/existing-d/scale` },
  { method: 'PATCH', url: `${DEPLOYS}/existing-d/scale`, headers: MERGE },
  { method: 'POST', url: '/api/v1/namespaces' },
  { method: 'POST', url: '/api/v1/nodes' },
];

let s: TestApiServer;
let requests = 0;

beforeAll(async () => {
  s = await startTestApiServer();
});
afterAll(() => s.close());

/** Sends one request and checks the invariants; returns the status code. */
async function probe(method: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  // Fresh victims each time so every request meets the same state.
  await s.request('DELETE', `${PODS}/existing`, { gracePeriodSeconds: 0 });
  await s.request('DELETE', `${DEPLOYS}/existing-d`);
  await s.request('POST', PODS, { ...testPod('existing'), metadata: { name: 'existing', labels: { keep: 'me' } } });
  await s.request('POST', DEPLOYS, { ...testDeployment('existing-d'), metadata: { name: 'existing-d' } });
  const before = await s.storage.currentRevision();
  const r = await s.request(method, url, body, headers);
  requests++;
  const where = `${method} ${url} ${String(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 200)}`;
  expect(r.status, where).toBeLessThan(500);
  if (r.status >= 400) {
    expect(r.body, where).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: r.status });
    expect(await s.storage.currentRevision(), `store changed by a rejected ${where}`).toBe(before);
  }
  return r.status;
}

describe('garbage at every endpoint', () => {
  it('random JSON values', async () => {
    for (let i = 0; i < 300; i++) {
      const t = pick(TARGETS);
      await probe(t.method, t.url, JSON.stringify(randomJson()), t.headers);
    }
  });

  it('malformed and truncated documents, odd content types', async () => {
    const pod = JSON.stringify(POD);
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\nspec:\n  containers:\n  - name: c\n    image: i\n';
    const bodies = [
      '', ' ', 'null', '"str"', '123', '[]', '{', '}', '{"a":', pod.slice(0, pod.length / 2), pod + 'garbage', '\u0000\u0001',
      yaml.slice(0, 30), yaml.slice(0, 45) + '\n\t- x: [', 'a: &a [*a]', 'x: !!binary xyz', '--- a\n--- b\n', '{{{{{{{{{{{{', '['.repeat(5000),
    ];
    const types = ['application/json', 'application/yaml', 'text/plain', 'application/x-www-form-urlencoded', 'application/vnd.kubernetes.protobuf', 'multipart/form-data; boundary=x', ''];
    for (const t of TARGETS) {
      for (const b of bodies) {
        const ct = t.headers?.['content-type'] ?? pick(types);
        await probe(t.method, t.url, b, ct ? { 'content-type': ct } : {});
      }
    }
  });

  it('huge strings and deep nesting', async () => {
    await probe('POST', PODS, JSON.stringify({ ...POD, metadata: { name: 'n'.repeat(100_000) } }));
    await probe('POST', PODS, JSON.stringify({ ...POD, metadata: { name: 'deep' }, spec: JSON.parse('{"a":'.repeat(2000) + '1' + '}'.repeat(2000)) }));
    await probe('POST', PODS, JSON.stringify({ ...POD, metadata: { name: 'big', annotations: { a: 'x'.repeat(2 * 1024 * 1024) } } }));
    await probe('PATCH', `${PODS}/existing`, JSON.stringify([{ op: 'add', path: '/a' + '/b'.repeat(5000), value: 1 }]), JSONPATCH);
  });

  it('wrong types at every field of a valid Pod and Deployment', async () => {
    for (const [base, targets] of [
      [POD, TARGETS.filter((t) => t.url.startsWith(PODS) && !t.url.endsWith('binding') && t.method !== 'DELETE' && t.headers !== JSONPATCH)],
      [DEPLOY, TARGETS.filter((t) => t.url.startsWith(DEPLOYS) && !t.url.endsWith('scale'))],
    ] as const) {
      for (const p of paths(base)) {
        for (const v of WRONG_VALUES) {
          const t = pick(targets);
          const named = t.method === 'POST' ? base : setAt(base, ['metadata', 'name'], t.url.split('/')[7]);
          await probe(t.method, t.url, JSON.stringify(setAt(named, p, v)), t.headers);
        }
      }
    }
  });

  it('garbage in paths and query strings', async () => {
    const queries = [
      'labelSelector=%3D%3D%3D', 'labelSelector=a+in+(', 'labelSelector=' + 'a'.repeat(1000), 'fieldSelector=nope', 'fieldSelector=spec.x%3D1',
      'limit=-1', 'limit=abc', 'limit=99999999999999', 'continue=garbage', 'continue=eyJ9', 'resourceVersion=abc', 'watch=1&resourceVersion=-5',
      'watch=1&timeoutSeconds=x', 'gracePeriodSeconds=abc', 'propagationPolicy=Nope', 'includeObject=Weird',
    ];
    for (const q of queries) {
      await probe('GET', `${PODS}?${q}`, undefined);
      await probe('DELETE', `${PODS}?${q}`, undefined);
    }
    const badPaths = ['/api/v1/namespaces/%zz/pods', '/api/v1/namespaces/default/pods/%E0%A4%A', '/apis/apps', '/apis//v1/x', '/api/v1/namespaces//pods', '/api/v1/namespaces/default/pods/a/b/c/d', '/api/v1/watch', '/api/v1/namespaces/default/pods/../../nodes', '/apis/apps/v1/namespaces/default/deployments/x/status/extra'];
    for (const p of badPaths) for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) await probe(m, p, m === 'GET' || m === 'DELETE' ? undefined : '{}', m === 'PATCH' ? MERGE : {});
  });

  it('covered many requests', () => {
    expect(requests).toBeGreaterThan(1000);
  });
});
