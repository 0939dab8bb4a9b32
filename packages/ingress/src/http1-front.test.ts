/** The lean HTTP/1.1 front on real loopback sockets: what it serves itself, and what it hands to Node's server. */
import { createServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Front, parseHead, type FrontRequest, type FrontResponse } from './http1-front.js';
import { selfSignedPair } from './tls-store.js';

/** Who answered: the front's handler says `front`, Node's request listener `node`. */
function answer(who: string, req: { method?: string | undefined; url?: string | undefined; headers: Record<string, unknown> }, res: FrontResponse | import('node:http').ServerResponse, body?: string): void {
  const text = body ?? JSON.stringify({ who, method: req.method, url: req.url, host: req.headers.host });
  const buf = Buffer.from(text);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(buf.length) });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

let server: Server;
let port = 0;
let front: Http1Front;
let tlsServer: Server;
let tlsPort = 0;

function nodeListener(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  let n = 0;
  req.on('data', (c: Buffer) => (n += c.length));
  req.on('end', () => answer('node', req, res, JSON.stringify({ who: 'node', method: req.method, url: req.url, body: n })));
}
function frontHandler(req: FrontRequest, res: FrontResponse): void {
  if (req.url.startsWith('/chunked')) {
    res.writeHead(200, ['content-type', 'text/plain']);
    res.write(Buffer.from('abc'));
    setTimeout(() => res.end(Buffer.from('def')), 10);
    return;
  }
  if (req.url.startsWith('/slow')) {
    setTimeout(() => answer('front', req, res), 30);
    return;
  }
  answer('front', req, res);
}

beforeAll(async () => {
  server = createServer(nodeListener);
  front = new Http1Front(server, frontHandler, { keepAliveTimeoutMs: 5_000 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
  const pair = await selfSignedPair('front.test', ['front.test']);
  tlsServer = createHttpsServer({ ...pair }, nodeListener) as unknown as Server;
  new Http1Front(tlsServer, frontHandler, { keepAliveTimeoutMs: 5_000 });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r()));
  tlsPort = (tlsServer.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of [server, tlsServer]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** Sends raw bytes on one connection and collects what comes back until `done` says so. */
function raw(bytes: string, done: (text: string) => boolean, tls = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock: Socket = tls ? tlsConnect({ port: tlsPort, host: '127.0.0.1', rejectUnauthorized: false }) : connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer; got ${JSON.stringify(text)}`));
    }, 5_000);
    sock.on(tls ? 'secureConnect' : 'connect', () => sock.write(bytes));
    sock.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(text);
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    sock.on('error', () => undefined);
  });
}
const count = (text: string, s: string) => text.split(s).length - 1;

describe('parseHead', () => {
  const sock = {} as Socket;
  it('takes body-less HTTP/1.1 requests in origin form', () => {
    const r = parseHead('GET /a?b=1 HTTP/1.1\r\nHost: x.test\r\nX-Request-Id: abc\r\nAccept:  */* \r\nContent-Length: 0', sock)!;
    expect(r.method).toBe('GET');
    expect(r.url).toBe('/a?b=1');
    expect(r.headers).toEqual({ host: 'x.test', 'x-request-id': 'abc', 'content-length': '0' });
    expect(r.rawHeaders).toEqual(['Host', 'x.test', 'X-Request-Id', 'abc', 'Accept', '*/*', 'Content-Length', '0']);
    expect(parseHead('GET / HTTP/1.1', sock)!.headers).toEqual({});
  });
  it.each([
    ['a body', 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5'],
    ['chunked', 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nhost: x'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0'],
    ['an absolute URI', 'GET http://x/ HTTP/1.1\r\nhost: x'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nhost: x'],
    ['an upgrade', 'GET / HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade'],
    ['expect', 'PUT / HTTP/1.1\r\nhost: x\r\nexpect: 100-continue'],
    ['two hosts', 'GET / HTTP/1.1\r\nhost: x\r\nhost: y'],
    ['obs-fold', 'GET / HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n 2'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nhost : x'],
    ['a control character', 'GET / HTTP/1.1\r\nhost: x\r\nx-a: 1\u0000'],
    ['a bare LF', 'GET / HTTP/1.1\nhost: x'],
    ['a lower-case method token with a slash', 'G/T / HTTP/1.1'],
  ])('leaves %s to Node', (_what, head) => {
    expect(parseHead(head, sock)).toBeUndefined();
  });
});

describe('Http1Front', () => {
  it('serves keep-alive requests itself, several on one connection, pipelined ones in order', async () => {
    const text = await raw('GET /slow/1 HTTP/1.1\r\nhost: a\r\n\r\nGET /2 HTTP/1.1\r\nhost: a\r\n\r\nHEAD /3 HTTP/1.1\r\nhost: a\r\n\r\n', (t) => count(t, 'HTTP/1.1 200') === 3);
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(3);
    expect(text.indexOf('/slow/1')).toBeLessThan(text.indexOf('"/2"'));
    expect(text).not.toContain('"/3"'); // HEAD: no body
    expect(text).toContain('"who":"front"');
    expect(text).toMatch(/date: \w{3}, \d\d \w{3} \d{4}/);
    expect(text).toContain('connection: keep-alive');
  });

  it('sends a body of unknown length chunked', async () => {
    const text = await raw('GET /chunked HTTP/1.1\r\nhost: a\r\n\r\n', (t) => t.endsWith('0\r\n\r\n'));
    expect(text).toContain('transfer-encoding: chunked');
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toBe('3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n');
  });

  it('closes after a response to `connection: close`', async () => {
    const text = await raw('GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n', () => false);
    expect(text).toContain('connection: close');
    expect(text).toContain('"who":"front"');
  });

  it('hands a connection to Node for a body, mid-connection, and Node serves the rest', async () => {
    const text = await raw('GET /first HTTP/1.1\r\nhost: a\r\n\r\nPOST /up HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhelloGET /after HTTP/1.1\r\nhost: a\r\n\r\n', (t) => count(t, 'HTTP/1.1 200') === 3);
    const whos = [...text.matchAll(/"who":"(\w+)"/g)].map((m) => m[1]);
    expect(whos).toEqual(['front', 'node', 'node']);
    expect(text).toContain('"body":5');
  });

  it('hands HTTP/1.0 and chunked bodies to Node, and Node answers 400 to garbage', async () => {
    expect(await raw('GET /old HTTP/1.0\r\nhost: a\r\n\r\n', () => false)).toContain('"who":"node"');
    const chunked = await raw('POST /c HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', (t) => t.includes('}'));
    expect(chunked).toContain('"body":3');
    expect(await raw('GARBAGE\r\n\r\n', () => false)).toMatch(/^HTTP\/1\.1 400/);
  });

  it('does the same over TLS', async () => {
    const text = await raw('GET /t1 HTTP/1.1\r\nhost: a\r\n\r\nPOST /t2 HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\nhi', (t) => count(t, 'HTTP/1.1 200') === 2, true);
    expect([...text.matchAll(/"who":"(\w+)"/g)].map((m) => m[1])).toEqual(['front', 'node']);
    const viaClient = await new Promise<string>((resolve, reject) => {
      const r = httpsRequest({ host: '127.0.0.1', port: tlsPort, path: '/c', rejectUnauthorized: false, headers: { host: 'front.test' } }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve(s));
      });
      r.on('error', reject);
      r.end();
    });
    expect(JSON.parse(viaClient)).toMatchObject({ who: 'front', host: 'front.test' });
  });

  it('works with Node\'s own HTTP client over a keep-alive agent', async () => {
    const get = (path: string, body?: string) =>
      new Promise<{ who: string }>((resolve, reject) => {
        const r = request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET' }, (res) => {
          let s = '';
          res.on('data', (d: Buffer) => (s += d.toString()));
          res.on('end', () => resolve(JSON.parse(s) as { who: string }));
        });
        r.on('error', reject);
        r.end(body);
      });
    expect((await get('/a')).who).toBe('front');
    expect((await get('/b', 'x')).who).toBe('node');
    expect((await get('/c')).who).toMatch(/front|node/);
  });

  it('ends idle connections when the server drains', async () => {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /x HTTP/1.1\r\nhost: a\r\n\r\n');
    await new Promise<void>((r) => sock.once('data', () => r()));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    expect(front.size).toBeGreaterThan(0);
    front.closeIdle();
    await closed;
    front.draining = false;
  });
});
