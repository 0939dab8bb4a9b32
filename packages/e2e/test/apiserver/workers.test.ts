import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, childPids, pidAlive, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';

// `flotilla apiserver --workers 2`: one address, two apiserver processes on
// the same etcd. Each connection goes to one worker in turn; a client must
// not be able to tell, whichever worker its next connection reaches.

const ns = 'e2e-workers';
const base = `/api/v1/namespaces/${ns}/configmaps`;
// A new connection per request (the global agent would keep one alive), so requests land on both workers.
const fresh = { connection: 'close' };

describe('apiserver --workers 2', () => {
  let api: TestApiServer;

  beforeAll(async () => {
    api = await startApiServer({ extraArgs: ['--workers', '2'], readyTimeout: 60_000 });
    const res = await apiRequest(api.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await api?.stop();
  });

  it('runs two worker processes behind the one port, and serves each connection from one of them', async () => {
    await waitFor(() => childPids(api.pid()!).length === 2, { timeout: 30_000, message: 'two apiserver workers' });
    // /readyz answered as soon as one worker listened; connections go to the others once they listen too.
    const listening = () => new Set(api.logs().split('\n').filter((l) => l.includes('"msg":"listening"')).map((l) => /"worker":(\d+)/.exec(l)?.[1]));
    await waitFor(() => listening().size === 2, { timeout: 60_000, message: 'both workers to listen' });
    const made = await apiRequest(api.endpoint(), 'POST', base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'spread' }, data: { n: '0' } }, fresh);
    expect(made.status, made.text).toBe(201);
    // Each worker logs the writes it served, with its number and the object's key.
    const workers = new Set<string>();
    for (let i = 1; i <= 8; i++) {
      const res = await apiRequest(api.endpoint(), 'PATCH', `${base}/spread`, { data: { n: String(i) } }, { ...fresh, 'content-type': 'application/merge-patch+json' });
      expect(res.status, res.text).toBe(200);
    }
    await waitFor(() => {
      for (const line of api.logs().split('\n')) {
        const m = /"worker":(\d+).*"key":"e2e-workers\/spread"/.exec(line);
        if (m) workers.add(m[1]!);
      }
      return workers.size === 2;
    }, { timeout: 10_000, message: 'both workers to log a write' });
  });

  it('reads its own writes whichever worker the next connection reaches', async () => {
    for (let i = 0; i < 20; i++) {
      const name = `rw-${i}`;
      const created = await apiRequest(api.endpoint(), 'POST', base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { n: '0' } }, fresh);
      expect(created.status, created.text).toBe(201);
      const updated = await apiRequest(api.endpoint(), 'PUT', `${base}/${name}`, { ...(created.json() as object), data: { n: '1' } }, fresh);
      expect(updated.status, updated.text).toBe(200);
      const got = await apiRequest(api.endpoint(), 'GET', `${base}/${name}`, undefined, fresh);
      expect(got.status, got.text).toBe(200);
      expect(got.json().metadata.resourceVersion).toBe(updated.json().metadata.resourceVersion);
      expect(got.json().data).toEqual({ n: '1' });
    }
  });

  it('counts every worker\'s requests on /metrics', async () => {
    const before = await apiRequest(api.endpoint(), 'GET', '/metrics', undefined, fresh);
    const count = (text: string) => Number(/apiserver_request_total\{code="200",resource="configmaps",subresource="",verb="LIST"\} (\d+)/.exec(text)?.[1] ?? 0);
    for (let i = 0; i < 10; i++) expect((await apiRequest(api.endpoint(), 'GET', base, undefined, fresh)).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      // Whichever worker answers /metrics, it serves both workers' sum.
      const after = await apiRequest(api.endpoint(), 'GET', '/metrics', undefined, fresh);
      expect(count(after.text) - count(before.text)).toBe(10);
      expect(after.text.match(/^# TYPE apiserver_request_total counter$/gm)).toHaveLength(1);
    }
  });

  it('forks a killed worker again and keeps serving meanwhile', async () => {
    const [victim, other] = childPids(api.pid()!);
    process.kill(victim!, 'SIGKILL');
    // The other worker answers meanwhile. A connection the cluster module handed to the
    // victim in the instant it died is lost with it (the client retries, as after any
    // lost connection), so this asks again rather than once.
    await waitFor(async () => (await apiRequest(api.endpoint(), 'GET', `${base}/rw-0`, undefined, fresh)).status === 200, { timeout: 40_000, message: 'the other worker to answer' });
    // One reading of the children per try: the victim reaped (gone from them) and one new worker there.
    // (Two readings raced: the victim, a zombie, counted as the new worker, then was reaped.)
    const lastLines = () => api.logs().split('\n').slice(-15).join('\n');
    const replacement = await waitFor(() => {
      const others = childPids(api.pid()!).filter((p) => p !== other);
      return others.length === 1 && others[0] !== victim ? others[0] : undefined;
    }, { timeout: 60_000, message: `a replacement worker beside ${other}` }).catch((err: Error) => {
      throw new Error(`${err.message}; the apiserver's last lines:\n${lastLines()}`);
    });
    expect(pidAlive(victim!), `the killed worker ${victim} is gone`).toBe(false);
    // The new worker listens on the same port: it gets connections too.
    let n = 100;
    await waitFor(async () => {
      const res = await apiRequest(api.endpoint(), 'PATCH', `${base}/spread`, { data: { n: String(n++) } }, { ...fresh, 'content-type': 'application/merge-patch+json' });
      expect(res.status, res.text).toBe(200);
      return api.logs().split('\n').some((l) => l.includes(`"pid":${replacement},`) && l.includes('"key":"e2e-workers/spread"'));
    }, { timeout: 60_000, message: `the replacement worker (PID ${replacement}) to serve a request` });
  });

  it('stops every worker when the first process gets SIGTERM', async () => {
    const workers = childPids(api.pid()!);
    expect(workers).toHaveLength(2);
    await api.kill('SIGTERM');
    await waitFor(() => workers.every((p) => !pidAlive(p)), { timeout: 30_000, message: 'both workers exited' });
    expect(api.logs()).toContain('stopping apiserver workers');
  });
});
