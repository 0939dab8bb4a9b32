import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkError, RestClient } from './rest-client.js';

// A server that closes the connection, without a word, on the requests `drop` picks.
async function serve(drop: (req: IncomingMessage, n: number) => boolean): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    if (drop(req, seen.length)) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('RestClient on a connection closed before the answer', () => {
  let server: Server | undefined;
  let client: RestClient | undefined;
  afterEach(async () => {
    await client?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('sends a GET once more (the LIST of 150,000 pods failed this way after 0.1 s in a scale run)', async () => {
    const s = await serve((_req, n) => n === 1);
    server = s.server;
    client = new RestClient({ server: s.url });
    const list = await client.request<{ kind: string }>({ method: 'GET', path: '/api/v1/namespaces' });
    expect(list.kind).toBe('NamespaceList');
    expect(s.seen).toEqual(['GET /api/v1/namespaces', 'GET /api/v1/namespaces']);
  });

  it('gives up after the second try', async () => {
    const s = await serve(() => true);
    server = s.server;
    client = new RestClient({ server: s.url });
    await expect(client.request({ method: 'GET', path: '/api/v1/namespaces' })).rejects.toBeInstanceOf(NetworkError);
    expect(s.seen).toHaveLength(2);
  });

  it('does not send a write again: the server may have applied it before the connection went', async () => {
    const s = await serve((_req, n) => n === 1);
    server = s.server;
    client = new RestClient({ server: s.url });
    await expect(client.request({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: 'x' } } })).rejects.toThrow(/POST \/api\/v1\/namespaces: other side closed/);
    expect(s.seen).toEqual(['POST /api/v1/namespaces']);
  });
});
