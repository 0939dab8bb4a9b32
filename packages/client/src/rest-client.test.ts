import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkError, RestClient } from './rest-client.js';
import { waitFor } from './testing/wait-for.js';

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

// Each test's server and client, closed after it.
let server: Server | undefined;
let client: RestClient | undefined;
afterEach(async () => {
  await client?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server!.close(r));
  }
  server = undefined;
  client = undefined;
});

describe('RestClient on a connection closed before the answer', () => {
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

describe('RestClient connections', () => {
  it('a slow server does not make it dial: requests past `connections` wait in the client, and a watch still opens on a connection of its own', async () => {
    const held: (() => void)[] = [];
    const sockets = new Set<unknown>();
    server = createServer((req, res) => {
      sockets.add(req.socket);
      req.resume();
      if (req.url?.includes('watch=1')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`${JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'w' } } })}\n`);
        return; // the watch stays open
      }
      held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: req.url } })));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new RestClient({ server: url }, { connections: 4 });

    const gets = Array.from({ length: 20 }, (_, i) => client!.request<{ metadata: { name: string } }>({ method: 'GET', path: `/api/v1/namespaces/default/pods/p${i}` }));
    await waitFor(() => held.length === 4, { what: 'four requests at the server' });
    // Every request connection is busy, and the client opened no more.
    expect(sockets.size).toBe(4);

    const watch = client.resource('pods').watch('default')[Symbol.asyncIterator]();
    const first = await watch.next();
    expect(first.value?.object?.metadata?.name).toBe('w');
    expect(sockets.size).toBe(5);

    // The server answers as it can; the waiting requests go over the same four connections.
    let answered = 0;
    await waitFor(() => {
      answered += held.length;
      held.splice(0).forEach((answer) => answer());
      return answered === 20;
    }, { what: 'every request answered' });
    expect((await Promise.all(gets)).map((g) => g.metadata.name)).toEqual(Array.from({ length: 20 }, (_, i) => `/api/v1/namespaces/default/pods/p${i}`));
    expect(sockets.size).toBe(5);
    await watch.return?.();
  });
});


describe('RestClient.withSignal', () => {
  it('aborts the requests and watches made through it when its signal aborts, and only those', async () => {
    const seen: string[] = [];
    const held: (() => void)[] = [];
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      if (req.url?.includes('watch=1')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return; // a watch with nothing to say
      }
      // Every other request waits for an answer that comes only when the test says (an apiserver that stopped answering).
      held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n' } })));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    client = new RestClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    const stop = new AbortController();
    const view = client.withSignal(stop.signal);

    const nodes = view.resource('nodes');
    const get = nodes.get(undefined, 'n');
    const patch = nodes.patch(undefined, 'n', { metadata: { labels: { a: 'b' } } });
    const bind = view.bind('default', 'p', 'n');
    // A signal of the caller's own still works beside the view's.
    const own = new AbortController();
    const create = nodes.create({ metadata: { name: 'm' } }, { signal: own.signal });
    const events = nodes.watch(undefined, { signal: new AbortController().signal })[Symbol.asyncIterator]();
    const watched = events.next();
    const direct = client.resource('nodes').get(undefined, 'n');
    await waitFor(() => seen.length === 6, { what: 'six requests at the server' });

    own.abort();
    await expect(create).rejects.toMatchObject({ name: 'AbortError' });
    stop.abort();
    await expect(get).rejects.toMatchObject({ name: 'AbortError' });
    await expect(patch).rejects.toMatchObject({ name: 'AbortError' });
    await expect(bind).rejects.toMatchObject({ name: 'AbortError' });
    // The watch ends quietly, as when its own signal aborts.
    await expect(watched).resolves.toMatchObject({ done: true });
    // A request made after the stop does not go out.
    await expect(nodes.list()).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toHaveLength(6);
    // The client's own requests are untouched.
    held.forEach((answer) => answer());
    await expect(direct).resolves.toMatchObject({ metadata: { name: 'n' } });
  });
});

describe('RestClient requests sharing one signal', () => {
  it('put one abort listener on it however many are in flight, and still end every one when it aborts', async () => {
    const held: (() => void)[] = [];
    let seen = 0;
    server = createServer((req, res) => {
      seen++;
      req.resume();
      if (req.url?.includes('watch=1')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return;
      }
      held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n' } })));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    client = new RestClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    const nodes = client.resource('nodes');

    // Requests answered and a watch ended by the signal, as before.
    const done = new AbortController();
    const answered = Array.from({ length: 10 }, () => nodes.get(undefined, 'n', { signal: done.signal }));
    await waitFor(() => held.length === 10, { what: 'ten requests at the server' });
    held.splice(0).forEach((answer) => answer());
    await Promise.all(answered);
    const events = nodes.watch(undefined, { signal: done.signal })[Symbol.asyncIterator]();
    const watched = events.next();
    await waitFor(() => seen === 11, { what: 'the watch at the server' });
    done.abort();
    await expect(watched).resolves.toMatchObject({ done: true });

    // Node's EventTarget scans a signal's listeners on every add and remove: one per request in flight made each request cost them all.
    const stop = new AbortController();
    const requests = Array.from({ length: 20 }, (_, i) => nodes.get(undefined, `n${i}`, { signal: stop.signal }));
    const watches = Array.from({ length: 5 }, () => nodes.watch(undefined, { signal: stop.signal })[Symbol.asyncIterator]().next());
    await waitFor(() => seen === 36, { what: 'twenty requests and five watches at the server' });
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(1);

    stop.abort();
    for (const r of requests) await expect(r).rejects.toMatchObject({ name: 'AbortError' });
    for (const w of watches) await expect(w).resolves.toMatchObject({ done: true });
  });
});
