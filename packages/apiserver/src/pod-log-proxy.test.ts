import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPodLogProxy, registerTokenReview } from './pod-log-proxy.js';
import { createLogger } from '@flotilla/observability';
import { createApiServer, type ApiServer } from './server.js';
import { allowAllAuthorizer, tokenAuthenticator } from './testing/auth-fakes.js';
import { MemoryStorage } from './testing/memory-storage.js';
import { ensureServingCerts } from './tls/serving-certs.js';

const users = {
  admin: { name: 'admin', groups: ['system:masters'] },
  node: { name: 'system:node:n1', groups: ['system:nodes'] },
  bob: { name: 'bob', groups: [] },
};
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

let app: ApiServer;
/** inject() with the body as JSON (or text when it is not JSON). */
const api = {
  async request(method: string, url: string, body: unknown, headers: Record<string, string>) {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const res = await app.inject({ method: method as 'GET', url, headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(payload !== undefined ? { payload } : {}) });
    let parsed: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      parsed = JSON.parse(res.body);
    } catch {
      parsed = res.body;
    }
    return { status: res.statusCode, body: parsed };
  },
};
let dir: string;
let agent: ReturnType<typeof createServer>;
const seen: Array<{ path: string; auth: string | undefined }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'log-proxy-'));
  const certs = await ensureServingCerts({ certDir: dir, hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
  agent = createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    seen.push({ path: req.url ?? '', auth: req.headers.authorization });
    if (req.url?.includes('/missing')) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'BadRequest', code: 400, message: 'previous terminated container not found' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello from the agent\n');
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', () => r()));
  const port = (agent.address() as AddressInfo).port;
  const storage = new MemoryStorage();
  const authenticator = tokenAuthenticator(users);
  app = createApiServer({ storage, authenticator, authorizer: allowAllAuthorizer, logger: createLogger('test', { level: 'silent' }), podLogHandler: createPodLogProxy({ storage, kubeletClientToken: 'admin' }) });
  registerTokenReview(app, authenticator);
  await app.ready();
  await storage.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } });
  await storage.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'x' }, { name: 'side', image: 'x' }] } });
  await storage.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pending', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
});

afterAll(async () => {
  await app?.close();
  agent?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TokenReview', () => {
  it('tells masters and nodes who a token belongs to', async () => {
    const r = await api.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'admin' } }, auth('node'));
    expect(r.status).toBe(201);
    expect(r.body.status).toMatchObject({ authenticated: true, user: { username: 'admin', groups: ['system:masters'] } });
    const bad = await api.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: { token: 'nope' } }, auth('admin'));
    expect(bad.body.status.authenticated).toBe(false);
  });
  it('refuses other users (403) and malformed bodies (400)', async () => {
    expect((await api.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: { token: 'admin' } }, auth('bob'))).status).toBe(403);
    expect((await api.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', '{', auth('admin'))).status).toBe(400);
    expect((await api.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: {} }, auth('admin'))).status).toBe(400);
  });
});

describe('pods/{name}/log', () => {
  it('proxies to the node agent with the apiserver credential and passes the query', async () => {
    const r = await api.request('GET', '/api/v1/namespaces/default/pods/web/log?container=side&tailLines=5&follow=true', undefined, auth('admin'));
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello from the agent\n');
    expect(seen.at(-1)).toEqual({ path: '/containerLogs/default/web/side?follow=true&tailLines=5', auth: 'Bearer admin' });
  });
  it('answers Status errors: 404 unknown pod, 400 no/unknown container, 400 unscheduled, agent Status passed through', async () => {
    expect((await api.request('GET', '/api/v1/namespaces/default/pods/nope/log', undefined, auth('admin'))).status).toBe(404);
    const multi = await api.request('GET', '/api/v1/namespaces/default/pods/web/log', undefined, auth('admin'));
    expect(multi.status).toBe(400);
    expect(multi.body.message).toContain('choose one of: [app side]');
    expect((await api.request('GET', '/api/v1/namespaces/default/pods/web/log?container=zzz', undefined, auth('admin'))).body).toMatchObject({ kind: 'Status', code: 400 });
    const pending = await api.request('GET', '/api/v1/namespaces/default/pods/pending/log', undefined, auth('admin'));
    expect(pending).toMatchObject({ status: 400, body: { message: 'pod pending does not have a host assigned' } });
    const missing = await api.request('GET', '/api/v1/namespaces/default/pods/web/log?container=app&previous=true&x=/missing', undefined, auth('admin'));
    expect(missing.status).toBe(200); // unknown query keys are not forwarded
  });
});
