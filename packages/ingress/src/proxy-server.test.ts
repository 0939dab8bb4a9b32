/** The data plane against real local backends (loopback sockets), with hand-built snapshots. */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ingress } from '@flotilla/api';
import { createLogger } from '@flotilla/observability';
import type { BackendState } from './backends.js';
import { Http1Front } from './http1-front.js';
import { IngressMetrics } from './metrics.js';
import { ProxyServer, type LiveBackend, type Snapshot } from './proxy-server.js';
import { RouteTable } from './route-table.js';

const servers: Server[] = [];
async function listen(s: Server): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}
/** A backend that answers with its name and what it saw. */
async function echo(name: string): Promise<number> {
  return listen(
    createServer((req, res) => {
      let body = 0;
      req.on('data', (c: Buffer) => (body += c.length));
      req.on('end', () => {
        if (req.url?.startsWith('/big')) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          for (let i = 0; i < 64; i++) res.write(Buffer.alloc(1024, 97));
          return res.end();
        }
        res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
        res.end(JSON.stringify({ name, url: req.url, headers: req.headers, body }));
      });
    }),
  );
}
async function deadPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const ing = (annotations: Record<string, string>, spec: Ingress['spec']): Ingress => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z', annotations }, spec,
});
const svc = (name: string, p = '/', pathType: 'Prefix' | 'Exact' = 'Prefix') => ({ path: p, pathType, backend: { service: { name, port: { number: 80 } } } });

let proxyPort = 0;
let proxy: ProxyServer;
let a = 0;
let b = 0;
let metrics = new IngressMetrics();

function snapshot(ingresses: Ingress[], states: Record<string, string[] | BackendState['ok']>, tlsHosts: string[] = []): Snapshot {
  const table = new RouteTable(ingresses);
  const backends = new Map<string, LiveBackend>();
  for (const ref of table.backends.values()) {
    const s = states[ref.service];
    const state: BackendState = Array.isArray(s) ? { ok: true, ref, addresses: s } : { ok: false, ref, reason: 'ServiceNotFound', message: `service default/${ref.service} not found` };
    backends.set(ref.key, { state, next: 0 });
  }
  return { table, backends, tlsHosts: new Set(tlsHosts) };
}

function get(path: string, host = 'app.test', extra: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: proxyPort, path, method: extra.method ?? 'GET', headers: { host, ...extra.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(extra.body);
  });
}
const json = (r: { body: Buffer }) => JSON.parse(r.body.toString()) as { name: string; url: string; headers: Record<string, string>; body: number };

beforeAll(async () => {
  a = await echo('a');
  b = await echo('b');
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
});

// Every behaviour twice: behind Node's http server alone, and behind the lean front (which hands
// bodies and upgrades to Node mid-connection).
describe.each(['node', 'lean'] as const)('ProxyServer (%s front)', (front) => {
  beforeAll(async () => {
    metrics = new IngressMetrics();
    const log = createLogger('ingress-test', { level: 'silent' });
    proxy = new ProxyServer(snapshot([], {}), { logger: log, metrics });
    const http = createServer((req, res) => proxy.handle(req, res, 'http'));
    http.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head, 'http'));
    if (front === 'lean') new Http1Front(http, (req, res) => proxy.handle(req, res, 'http'), { keepAliveTimeoutMs: 5_000 });
    proxyPort = await listen(http);
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('routes, balances over endpoints and sets the forwarding headers', async () => {
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ host: 'app.test', http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${a}`, `127.0.0.1:${b}`] }));
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(json(await get('/x?y=1')).name);
    expect([...names].sort()).toEqual(['a', 'b']);
    const r = await get('/x?y=1', 'app.test:8080', { headers: { 'x-forwarded-for': '10.0.0.9' } });
    const seen = json(r);
    expect(seen.url).toBe('/x?y=1');
    expect(seen.headers.host).toBe('app.test:8080');
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('app.test:8080');
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(r.headers['x-request-id']).toBe(seen.headers['x-request-id']);
  });

  it('404 without a route, 503 naming a missing Service', async () => {
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ host: 'app.test', http: { paths: [svc('gone', '/gone'), svc('web', '/web')] } }] })], { web: [`127.0.0.1:${a}`] }));
    expect((await get('/', 'other.test')).status).toBe(404);
    const r = await get('/gone');
    expect(r.status).toBe(503);
    expect(r.body.toString()).toContain('default/gone');
    expect((await get('/web')).status).toBe(200);
  });

  it('retries a refused connection on another endpoint, then passes the dead one over', async () => {
    const dead = await deadPort();
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${dead}`, `127.0.0.1:${a}`] }));
    for (let i = 0; i < 6; i++) expect((await get('/')).status).toBe(200);
    // The first refusal is retried; after it the dead endpoint is passed over (fail timeout), so no more retries.
    expect(metrics.retries.get({ ingress: 'default/web', host: '*', path: '/' })).toBe(1);
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${dead}`] }));
    expect((await get('/')).status).toBe(502);
  });

  it('retries a refused connection on up to two other endpoints: two dead before a live one still give a 200, three a 502, and the next request reaches the live one', async () => {
    const dead1 = await deadPort();
    const dead2 = await deadPort();
    const dead3 = await deadPort();
    const labels = { ingress: 'default/web', host: 'once.test', path: '/' };
    const errors = () => metrics.upstreamErrors.get({ ...labels, service: 'default/web:80', error: 'ECONNREFUSED' });
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ host: 'once.test', http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${dead1}`, `127.0.0.1:${dead2}`, `127.0.0.1:${a}`] }));
    expect((await get('/', 'once.test')).status).toBe(200);
    expect(metrics.retries.get(labels)).toBe(2);
    expect(errors()).toBe(2);
    // Three dead endpoints (the two above are still passed over, so fresh ones), then the live one.
    const dead4 = await deadPort();
    const dead5 = await deadPort();
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ host: 'once.test', http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${dead3}`, `127.0.0.1:${dead4}`, `127.0.0.1:${dead5}`, `127.0.0.1:${a}`] }));
    const r = await get('/', 'once.test');
    expect(r.status).toBe(502);
    expect(r.body.toString()).toContain('ECONNREFUSED');
    expect(metrics.retries.get(labels)).toBe(4);
    expect(errors()).toBe(5);
    // Every refusal passed its endpoint over: the next request goes to the live one at once.
    expect((await get('/', 'once.test')).status).toBe(200);
    expect(metrics.retries.get(labels)).toBe(4);
    expect(metrics.requestCount(labels, 'default/web:80', '5xx')).toBe(1);
    expect(metrics.requestCount(labels, 'default/web:80', '2xx')).toBe(2);
  });

  it('tells onEndpointFailed about an endpoint it passes over, and takes such reports from elsewhere (the worker pool shares them)', async () => {
    const dead = await deadPort();
    const reported: string[] = [];
    const m = new IngressMetrics();
    const log = createLogger('ingress-test', { level: 'silent' });
    const own = new ProxyServer(snapshot([], {}), { logger: log, metrics: m, onEndpointFailed: (address, until) => { if (until > Date.now()) reported.push(address); } });
    const other = new ProxyServer(snapshot([], {}), { logger: log, metrics: m });
    const serve = async (p: ProxyServer) => listen(createServer((req, res) => p.handle(req, res, 'http')));
    const ownPort = await serve(own);
    const otherPort = await serve(other);
    const snap = () => snapshot([ing({}, { rules: [{ host: 'shared.test', http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${dead}`, `127.0.0.1:${a}`] });
    own.setSnapshot(snap());
    other.setSnapshot(snap());
    const labels = { ingress: 'default/web', host: 'shared.test', path: '/' };
    const at = (port: number) => new Promise<number>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path: '/', headers: { host: 'shared.test' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
      r.on('error', reject);
      r.end();
    });
    expect(await at(ownPort)).toBe(200); // refused, retried on the live one
    expect(reported).toEqual([`127.0.0.1:${dead}`]);
    expect(m.retries.get(labels)).toBe(1);
    other.endpointFailed(`127.0.0.1:${dead}`, Date.now() + 5_000);
    expect(await at(otherPort)).toBe(200); // straight to the live one: no second retry
    expect(m.retries.get(labels)).toBe(1);
    await Promise.all([own.close(), other.close()]);
  });

  it('streams request and response bodies, limits them by annotation', async () => {
    proxy.setSnapshot(snapshot([ing({ 'nginx.ingress.kubernetes.io/proxy-body-size': '1k' }, { rules: [{ http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${a}`] }));
    expect(json(await get('/up', 'h', { method: 'POST', body: Buffer.alloc(1000) })).body).toBe(1000);
    expect((await get('/up', 'h', { method: 'POST', body: Buffer.alloc(2000) })).status).toBe(413);
    // The client's keep-alive connection survives a proxied body.
    expect(json(await get('/up', 'h', { method: 'POST', body: Buffer.alloc(10) })).body).toBe(10);
    expect(json(await get('/up', 'h', { method: 'POST', body: Buffer.alloc(10), headers: { 'transfer-encoding': 'chunked' } })).body).toBe(10);
    expect((await get('/up', 'h', { method: 'POST', body: Buffer.alloc(5000), headers: { 'transfer-encoding': 'chunked' } })).status).toBe(413);
    const big = await get('/big');
    expect(big.body.length).toBe(64 * 1024);
  });

  it('passes chunked and close-delimited responses through (re-framed for the client), hop-by-hop headers dropped', async () => {
    const rawBackend = createNetServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (d) => {
        if (d.toString().startsWith('GET /chunked')) {
          socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: x-secret\r\nx-secret: 1\r\nx-kept: 2\r\n\r\n3\r\nabc\r\n');
          setTimeout(() => socket.write('4\r\ndefg\r\n0\r\n\r\n'), 20);
        } else socket.end('HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close');
      });
    });
    servers.push(rawBackend as unknown as Server);
    await new Promise<void>((r) => rawBackend.listen(0, '127.0.0.1', () => r()));
    const port = (rawBackend.address() as AddressInfo).port;
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ host: 'raw.test', http: { paths: [svc('raw')] } }] })], { raw: [`127.0.0.1:${port}`] }));
    const chunked = await get('/chunked', 'raw.test');
    expect(chunked.body.toString()).toBe('abcdefg');
    expect(chunked.headers['x-kept']).toBe('2');
    expect(chunked.headers['x-secret']).toBeUndefined();
    expect(chunked.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    const untilClose = await get('/close', 'raw.test');
    expect(untilClose.body.toString()).toBe('until close');
  });

  it('rewrite-target replaces the matched prefix', async () => {
    proxy.setSnapshot(snapshot([ing({ 'nginx.ingress.kubernetes.io/rewrite-target': '/' }, { rules: [{ http: { paths: [svc('web', '/api')] } }] })], { web: [`127.0.0.1:${a}`] }));
    expect(json(await get('/api/users?id=1')).url).toBe('/users?id=1');
    expect(json(await get('/api')).url).toBe('/');
  });

  it('redirects HTTP to HTTPS for TLS hosts unless ssl-redirect is false', async () => {
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ host: 'secure.test', http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${a}`] }, ['secure.test']));
    const r = await get('/p?q', 'secure.test');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://secure.test/p?q');
    proxy.setSnapshot(snapshot([ing({ 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }, { rules: [{ host: 'secure.test', http: { paths: [svc('web')] } }] })], { web: [`127.0.0.1:${a}`] }, ['secure.test']));
    expect((await get('/p', 'secure.test')).status).toBe(200);
  });

  it('cancels the upstream request when the client goes away mid-response', async () => {
    let upstreamClosed = false;
    const slow = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk');
      req.socket.on('close', () => (upstreamClosed = true));
    });
    const slowPort = await listen(slow);
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ http: { paths: [svc('slow')] } }] })], { slow: [`127.0.0.1:${slowPort}`] }));
    await new Promise<void>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port: proxyPort, path: '/hang', headers: { host: 'h' }, agent: false }, (res) => {
        res.once('data', () => {
          r.destroy();
          resolve();
        });
      });
      r.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
      r.end();
    });
    const deadline = Date.now() + 5_000;
    while (!upstreamClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(upstreamClosed).toBe(true);
  });

  it('passes an Upgrade through on a raw socket', async () => {
    // A backend that answers 101 and then echoes bytes back, as a WebSocket server would after its handshake.
    const up = createServer();
    up.on('upgrade', (req, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: Upgrade\r\nx-saw-forwarded: ${req.headers['x-forwarded-for']}\r\n\r\n`);
      socket.pipe(socket);
    });
    const upPort = await listen(up);
    proxy.setSnapshot(snapshot([ing({}, { rules: [{ http: { paths: [svc('ws')] } }] })], { ws: [`127.0.0.1:${upPort}`] }));
    const sock = connect(proxyPort, '127.0.0.1');
    const got = await new Promise<string>((resolve) => {
      let text = '';
      sock.on('data', (d) => {
        const first = !text.includes('\r\n\r\n');
        text += d.toString();
        // Speak the upgraded protocol once the 101 is in.
        if (first && text.includes('\r\n\r\n')) sock.write('ping!');
        if (text.includes('ping!')) resolve(text);
      });
      sock.write('GET /chat HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    });
    sock.destroy();
    expect(got).toContain('101 Switching Protocols');
    expect(got).toContain('x-saw-forwarded: 127.0.0.1');
    expect(got).toContain('ping!');
  });
});
