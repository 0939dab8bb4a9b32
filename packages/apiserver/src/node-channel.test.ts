/**
 * The apiserver → agent channel with real TLS on loopback: the node
 * certificate endpoint, mutual TLS to a stand-in agent (which records what
 * it receives), the checks on the agent's certificate, and a replay of
 * what the agent received against the apiserver.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import { NODE_CERTIFICATE_PATH, registerNodeCertificates } from './node-certificate-endpoint.js';
import { createPodLogProxy, registerTokenReview } from './pod-log-proxy.js';
import { createApiServer, type ApiServer } from './server.js';
import { allowAllAuthorizer, tokenAuthenticator } from './testing/auth-fakes.js';
import { MemoryStorage } from './testing/memory-storage.js';
import { ensureKubeletClientCert, KUBELET_CLIENT_CN } from './tls/node-certs.js';
import { ensureServingCerts } from './tls/serving-certs.js';

const sh = promisify(execFile);
const users = {
  admin: { name: 'admin', groups: ['system:masters'] },
  node: { name: 'system:node:n1', groups: ['system:nodes'] },
  node2: { name: 'system:node:n2', groups: ['system:nodes'] },
  ghost: { name: 'system:node:ghost', groups: ['system:nodes'] },
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
let storage: MemoryStorage;
const agents: Server[] = [];
type Seen = { path: string; headers: Record<string, unknown>; clientCN: string | undefined; authorized: boolean };
const seen: Seen[] = [];

/** A key and a PEM request for `subject`, made with the openssl CLI. */
async function csr(subject: string): Promise<{ key: string; csr: string }> {
  const work = await mkdtemp(join(dir, 'csr-'));
  await sh('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', 'k.pem', '-out', 'r.pem'], { cwd: work });
  return { key: await readFile(join(work, 'k.pem'), 'utf8'), csr: await readFile(join(work, 'r.pem'), 'utf8') };
}

const certRequest = (pem: string) => ({ apiVersion: 'certificates.flotilla.io/v1', kind: 'NodeServingCertificateRequest', spec: { request: Buffer.from(pem).toString('base64') } });

/** A stand-in agent on loopback serving `pair`, recording requests; answers text, or 403 without the apiserver's client certificate. */
async function standInAgent(pair: { key: string; cert: string }, ca: string): Promise<number> {
  const server = createServer({ key: pair.key, cert: pair.cert, ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const cn = sock.getPeerCertificate()?.subject?.CN as string | undefined;
    seen.push({ path: req.url ?? '', headers: { ...req.headers }, clientCN: cn, authorized: sock.authorized });
    if (!sock.authorized || cn !== KUBELET_CLIENT_CN) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'no' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello from the agent\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  agents.push(server);
  return (server.address() as AddressInfo).port;
}

/** Registers node `name` at 127.0.0.1:port with a pod `web-<name>` bound to it. */
async function nodeWithPod(name: string, port: number): Promise<void> {
  await storage.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: name }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } });
  await storage.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `web-${name}`, namespace: 'default' }, spec: { nodeName: name, containers: [{ name: 'app', image: 'x' }, { name: 'side', image: 'x' }] } });
}

/** A serving pair for node `asNode` signed through the endpoint by node user `caller`. */
async function signedPair(caller: string, asNode: string): Promise<{ key: string; cert: string }> {
  const r = await csr(`/O=system:nodes/CN=system:node:${asNode}`);
  const res = await api.request('POST', NODE_CERTIFICATE_PATH, certRequest(r.csr), auth(caller));
  expect(res.status).toBe(201);
  return { key: r.key, cert: Buffer.from(res.body.status.certificate, 'base64').toString('utf8') };
}

let ca: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'node-channel-'));
  const certs = await ensureServingCerts({ certDir: dir, hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
  ca = certs.ca!;
  const nodeTls = await ensureKubeletClientCert(dir);
  storage = new MemoryStorage();
  const authenticator = tokenAuthenticator(users);
  app = createApiServer({ storage, authenticator, authorizer: allowAllAuthorizer, logger: createLogger('test', { level: 'silent' }), podLogHandler: createPodLogProxy({ storage, nodeTls }), nodeTls });
  registerTokenReview(app, authenticator);
  registerNodeCertificates(app, storage, dir);
  await app.ready();
  // n1 must exist before it can get its certificate (the names come from its Node).
  await storage.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: 'n1' }] } });
  await storage.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2' }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } });
  const n1 = await standInAgent(await signedPair('node', 'n1'), ca);
  await storage.delete('nodes', undefined, 'n1');
  await nodeWithPod('n1', n1);
  await storage.create('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pending', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
});

afterAll(async () => {
  await app?.close();
  for (const a of agents) a.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('node serving certificates', () => {
  it('signs a node\'s own request with the names of its Node only, whatever the request asks for', async () => {
    const r = await csr('/O=system:nodes/CN=system:node:n1');
    const res = await api.request('POST', NODE_CERTIFICATE_PATH, certRequest(r.csr), auth('node'));
    expect(res.status).toBe(201);
    expect(res.body.status.hosts.sort()).toEqual(['127.0.0.1', 'n1']);
    const { X509Certificate } = await import('node:crypto');
    const x = new X509Certificate(Buffer.from(res.body.status.certificate, 'base64').toString('utf8'));
    expect(x.subject).toContain('CN=system:node:n1');
    expect(x.verify(new X509Certificate(ca).publicKey)).toBe(true);
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkIP('10.9.9.9')).toBeUndefined();
    expect(x.ca).toBe(false);
  });
  it('refuses another node\'s name (400), non-nodes (403), junk (400) and unregistered nodes (409)', async () => {
    const other = await csr('/O=system:nodes/CN=system:node:n2');
    const stolen = await api.request('POST', NODE_CERTIFICATE_PATH, certRequest(other.csr), auth('node'));
    expect(stolen.status).toBe(400);
    expect(stolen.body.message).toContain('may only ask for CN=system:node:n1');
    const noOrg = await csr('/CN=system:node:n1');
    expect((await api.request('POST', NODE_CERTIFICATE_PATH, certRequest(noOrg.csr), auth('node'))).status).toBe(400);
    const mine = await csr('/O=system:nodes/CN=system:node:n1');
    expect((await api.request('POST', NODE_CERTIFICATE_PATH, certRequest(mine.csr), auth('admin'))).status).toBe(403);
    expect((await api.request('POST', NODE_CERTIFICATE_PATH, certRequest('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'), auth('node'))).status).toBe(400);
    expect((await api.request('POST', NODE_CERTIFICATE_PATH, certRequest(mine.csr), auth('ghost'))).status).toBe(409);
  });
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

describe('pods/{name}/log over mutual TLS', () => {
  it('proxies with the apiserver client certificate, no bearer token, and passes the query', async () => {
    const r = await api.request('GET', '/api/v1/namespaces/default/pods/web-n1/log?container=side&tailLines=5&follow=true', undefined, auth('admin'));
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello from the agent\n');
    const last = seen.at(-1)!;
    expect(last.path).toBe('/containerLogs/default/web-n1/side?follow=true&tailLines=5');
    expect(last.clientCN).toBe(KUBELET_CLIENT_CN);
    expect(last.authorized).toBe(true);
    expect(last.headers.authorization).toBeUndefined();
  });
  it('replaying what the agent received against the apiserver gets 401', async () => {
    const got = seen.find((s) => s.path.startsWith('/containerLogs/'))!;
    const headers = Object.fromEntries(Object.entries(got.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)).map(([k, v]) => [k, String(v)]));
    for (const path of ['/api/v1/namespaces/default/pods/web-n1/log?container=side', '/api/v1/namespaces/default/pods', '/api/v1/nodes']) {
      const res = await app.inject({ method: 'GET', url: path, headers });
      expect(res.statusCode).toBe(401);
    }
  });
  it('refuses an agent whose certificate names another node, or is not signed by the cluster CA', async () => {
    // n3's agent serves n2's (genuine, CA-signed) certificate.
    const n2pair = await signedPair('node2', 'n2');
    await nodeWithPod('n3', await standInAgent(n2pair, ca));
    const wrongNode = await api.request('GET', '/api/v1/namespaces/default/pods/web-n3/log?container=app', undefined, auth('admin'));
    expect(wrongNode.status).toBe(503);
    expect(wrongNode.body.message).toContain('not system:node:n3');
    // n4's agent serves a certificate from another CA, with the right name.
    const foreign = await ensureServingCerts({ certDir: join(dir, 'foreign'), hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
    await nodeWithPod('n4', await standInAgent({ key: foreign.key, cert: foreign.cert }, ca));
    const untrusted = await api.request('GET', '/api/v1/namespaces/default/pods/web-n4/log?container=app', undefined, auth('admin'));
    expect(untrusted.status).toBe(503);
    expect(untrusted.body.message).toMatch(/self.signed|unable to verify|local issuer/i);
  });
  it('answers Status errors: 404 unknown pod, 400 no/unknown container, 400 unscheduled', async () => {
    expect((await api.request('GET', '/api/v1/namespaces/default/pods/nope/log', undefined, auth('admin'))).status).toBe(404);
    const multi = await api.request('GET', '/api/v1/namespaces/default/pods/web-n1/log', undefined, auth('admin'));
    expect(multi.status).toBe(400);
    expect(multi.body.message).toContain('choose one of: [app side]');
    const unknown = await api.request('GET', '/api/v1/namespaces/default/pods/web-n1/log?container=zzz', undefined, auth('admin'));
    expect(unknown.body).toMatchObject({ kind: 'Status', code: 400, message: 'container "zzz" not found in pod "web-n1"' });
    const pending = await api.request('GET', '/api/v1/namespaces/default/pods/pending/log', undefined, auth('admin'));
    expect(pending).toMatchObject({ status: 400, body: { message: 'pod "pending" is not scheduled to a node yet' } });
  });
  it('pods/exec without an upgrade is a 400 naming what is needed, never pods/exec ""', async () => {
    const r = await api.request('POST', '/api/v1/namespaces/default/pods/web-n1/exec?command=true', undefined, auth('admin'));
    expect(r.status).toBe(400);
    expect(r.body.message).toContain('Upgrade request required');
  });
});
