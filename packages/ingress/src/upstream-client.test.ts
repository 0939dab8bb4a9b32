/** The upstream client against real loopback servers: framing, keep-alive reuse, the stale-connection retry, errors. */
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { UpstreamPool, type UpstreamRequest } from './upstream-client.js';

const servers: Array<Server | NetServer> = [];
const sockets = new Set<Socket>();
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise((r) => s.close(r));
});

async function listen(s: Server | NetServer): Promise<string> {
  servers.push(s);
  s.on('connection', (c: Socket) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** A server that answers each request head it reads with `answer(n, socket)` (n counts requests per connection). */
function raw(answer: (n: number, socket: Socket, head: string) => void): Promise<string> {
  return listen(
    createNetServer((socket) => {
      let buf = '';
      let n = 0;
      socket.on('data', (d) => {
        buf += d.toString('latin1');
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
          const head = buf.slice(0, end);
          buf = buf.slice(end + 4);
          answer(++n, socket, head);
        }
      });
      socket.on('error', () => undefined);
    }),
  );
}

interface Got {
  status: number;
  headers: string[];
  body: string;
  error?: string;
  started?: boolean;
}

function send(pool: UpstreamPool, address: string, o: Partial<UpstreamRequest> & { path?: string; method?: string; extra?: string } = {}, pauseEvery = 0): Promise<Got> {
  const method = o.method ?? 'GET';
  const head = o.head ?? `${method} ${o.path ?? '/'} HTTP/1.1\r\nhost: t\r\n${o.extra ?? ''}\r\n`;
  return new Promise((resolve) => {
    const got: Got = { status: 0, headers: [], body: '' };
    let reads = 0;
    const ex = pool.request(
      { address, head, isHead: method === 'HEAD', readTimeoutMs: o.readTimeoutMs ?? 5_000, body: o.body, chunked: o.chunked, bodyLimit: o.bodyLimit },
      {
        onHead: (status, headers) => {
          got.status = status;
          got.headers = headers;
        },
        onData: (chunk) => {
          got.body += chunk.toString('latin1');
          if (pauseEvery && ++reads % pauseEvery === 0) {
            setTimeout(() => ex.resume(), 5);
            return false;
          }
          return true;
        },
        onEnd: () => resolve(got),
        onError: (err, started) => resolve({ ...got, error: (err as { code?: string }).code, started }),
      },
    );
  });
}

describe('UpstreamPool', () => {
  it('frames by Content-Length and reuses the connection', async () => {
    let connections = 0;
    const server = createServer((req, res) => res.end(`hello ${req.url}`));
    server.on('connection', () => connections++);
    const address = await listen(server);
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    for (let i = 0; i < 3; i++) {
      const r = await send(pool, address, { path: `/${i}` });
      expect(r.status).toBe(200);
      expect(r.body).toBe(`hello /${i}`);
    }
    expect(connections).toBe(1);
    expect(pool.idleCount(address)).toBe(1);
    await pool.close();
    expect(pool.idleCount()).toBe(0);
  });

  it('decodes chunked bodies split anywhere, drops trailers and hop-by-hop headers (and those Connection names)', async () => {
    const response = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: x-private\r\nX-Private: 1\r\nKeep-Alive: timeout=30\r\nX-Kept: yes\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer-A: b\r\n\r\n';
    const address = await raw((_n, socket) => {
      // One byte per write: every parser state sees a split.
      let i = 0;
      const step = () => {
        if (i < response.length) socket.write(response[i++]!, () => setImmediate(step));
      };
      step();
    });
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    const r = await send(pool, address);
    expect(r.body).toBe('hello, world');
    expect(r.headers).toEqual(['X-Kept', 'yes']);
    expect(pool.idleCount(address)).toBe(1);
    // The same connection serves the next request.
    expect((await send(pool, address)).body).toBe('hello, world');
    await pool.close();
  });

  it('reads a body without length until close, and does not reuse that connection', async () => {
    const address = await raw((_n, socket) => socket.end('HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it'));
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    const r = await send(pool, address);
    expect(r.body).toBe('all of it');
    expect(pool.idleCount(address)).toBe(0);
  });

  it('HEAD, 204 and 304 have no body whatever their headers say; 1xx interim responses are skipped', async () => {
    const address = await raw((_n, socket, head) => {
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n');
      else if (head.startsWith('GET /204')) socket.write('HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n');
      else if (head.startsWith('GET /304')) socket.write('HTTP/1.1 304 Not Modified\r\n\r\n');
      else socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok');
    });
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    const head = await send(pool, address, { method: 'HEAD' });
    expect([head.status, head.body, head.headers]).toEqual([200, '', ['content-length', '100']]);
    expect((await send(pool, address, { path: '/204' })).status).toBe(204);
    expect((await send(pool, address, { path: '/304' })).status).toBe(304);
    const interim = await send(pool, address);
    expect([interim.status, interim.body]).toEqual([201, 'ok']);
    // All on one connection: each body-less answer left it in step.
    expect(pool.idleCount(address)).toBe(1);
    await pool.close();
  });

  it('retries once on a fresh connection when a reused one was closed by the endpoint, silently', async () => {
    let connections = 0;
    const address = await listen(
      createNetServer((socket) => {
        connections++;
        let n = 0;
        socket.on('data', () => {
          // The second request on a connection finds it closed (the keep-alive race).
          if (++n === 2) return socket.destroy();
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        });
      }),
    );
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    expect((await send(pool, address)).body).toBe('ok');
    const r = await send(pool, address);
    expect(r.error).toBeUndefined();
    expect(r.body).toBe('ok');
    expect(connections).toBe(2);
    await pool.close();
  });

  it('closes an idle connection before the endpoint would (Keep-Alive timeout hint less a second)', async () => {
    const address = await raw((_n, socket) => socket.write('HTTP/1.1 200 OK\r\nkeep-alive: timeout=2\r\ncontent-length: 0\r\n\r\n'));
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    expect((await send(pool, address)).status).toBe(200);
    expect(pool.idleCount(address)).toBe(1);
    // Waits for the condition with a deadline (no timing assertion: only that it happens).
    const deadline = Date.now() + 5_000;
    while (pool.idleCount(address) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pool.idleCount(address)).toBe(0);
  });

  it('reports refused connections, head timeouts, early closes and garbage with their codes', async () => {
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    const dead = createNetServer();
    const deadAddress = await listen(dead);
    await new Promise((r) => dead.close(r));
    servers.splice(servers.indexOf(dead), 1);
    expect(await send(pool, deadAddress)).toMatchObject({ error: 'ECONNREFUSED', started: false });

    const silent = await raw(() => undefined);
    expect(await send(pool, silent, { readTimeoutMs: 200 })).toMatchObject({ error: 'HEADERS_TIMEOUT', started: false });

    const half = await raw((_n, socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc'));
    expect(await send(pool, half)).toMatchObject({ error: 'UPSTREAM_CLOSED', started: true, body: 'abc' });

    const closes = await raw((_n, socket) => socket.end());
    expect(await send(pool, closes)).toMatchObject({ error: 'UPSTREAM_CLOSED', started: false });

    const garbage = await raw((_n, socket) => socket.write('SSH-2.0-OpenSSH\r\n\r\n'));
    expect(await send(pool, garbage)).toMatchObject({ error: 'BAD_RESPONSE', started: false });
    await pool.close();
  });

  it('streams request bodies by length and chunked, limits a chunked one, and honours backpressure both ways', async () => {
    const address = await listen(
      createServer((req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => {
          if (req.url === '/big') {
            res.writeHead(200, { 'content-type': 'application/octet-stream' });
            for (let i = 0; i < 256; i++) res.write(Buffer.alloc(1024, 97));
            return res.end();
          }
          res.end(`${req.headers['transfer-encoding'] ?? 'length'} ${n}`);
        });
      }),
    );
    const pool = new UpstreamPool({ connectTimeoutMs: 1_000 });
    const body = (parts: number) => {
      const p = new PassThrough();
      let i = 0;
      const step = () => (i++ < parts ? p.write(Buffer.alloc(1000, 98), () => setImmediate(step)) : p.end());
      step();
      return p;
    };
    expect((await send(pool, address, { method: 'POST', extra: 'content-length: 3000\r\n', body: body(3) })).body).toBe('length 3000');
    expect((await send(pool, address, { method: 'POST', extra: 'transfer-encoding: chunked\r\n', body: body(4), chunked: true })).body).toBe('chunked 4000');
    expect(await send(pool, address, { method: 'POST', extra: 'transfer-encoding: chunked\r\n', body: body(4), chunked: true, bodyLimit: 2500 })).toMatchObject({ error: 'BODY_TOO_LARGE' });
    const big = await send(pool, address, { path: '/big' }, 3);
    expect(big.body.length).toBe(256 * 1024);
    await pool.close();
  });
});
