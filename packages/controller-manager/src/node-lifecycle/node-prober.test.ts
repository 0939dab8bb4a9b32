import { createServer as createH2Server, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeProber, type ProbeState } from './node-prober.js';

/** A liveness server like the agent's: GET /livez?node=NAME answers for `nodes`. */
async function livenessServer(nodes: string[]): Promise<{ server: Http2Server; port: number; sessions: Set<ServerHttp2Session> }> {
  const sessions = new Set<ServerHttp2Session>();
  const server = createH2Server((req, res) => {
    const node = new URL(req.url, 'http://x').searchParams.get('node') ?? '';
    if (!nodes.includes(node)) return void res.writeHead(404).end('{}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node, bootId: 'b1' }));
  });
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, sessions };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startProber(): { prober: NodeProber; changes: Array<[string, ProbeState]> } {
  const changes: Array<[string, ProbeState]> = [];
  const prober = new NodeProber({ intervalMs: 100, timeoutMs: 500, onChange: (n, v) => changes.push([n, v.state]) });
  const ac = new AbortController();
  const running = prober.run(ac.signal);
  cleanups.push(async () => {
    ac.abort();
    await running;
  });
  return { prober, changes };
}

describe('NodeProber', () => {
  it('connects, checks the node name once, and keeps the last answer fresh with PINGs', async () => {
    const { server, port, sessions } = await livenessServer(['n1']);
    cleanups.push(() => new Promise((r) => server.close(r)));
    const { prober } = startProber();
    prober.setEndpoint('n1', `127.0.0.1:${port}`);
    await waitFor(() => (prober.view('n1')?.state === 'alive' ? true : undefined), { what: 'n1 alive' });
    const first = prober.view('n1')!.lastAnswer!;
    expect(prober.view('n1')).toMatchObject({ everAnswered: true, bootId: 'b1' });
    await waitFor(() => (prober.view('n1')!.lastAnswer! > first ? true : undefined), { what: 'a PING answered' });
    expect(sessions.size).toBe(1);
    // Reconnect: a new session (the agent re-checks its status on it).
    prober.reconnect('n1');
    await waitFor(() => (sessions.size === 1 && prober.view('n1')?.state === 'alive' ? true : undefined), { what: 'a new session' });
    cleanups.push(() => [...sessions].forEach((s) => s.destroy()));
  });

  it('an address answering for another node is wrong-node, never alive', async () => {
    const { server, port } = await livenessServer(['someone-else']);
    cleanups.push(() => new Promise((r) => server.close(r)));
    const { prober } = startProber();
    prober.setEndpoint('n1', `127.0.0.1:${port}`);
    await waitFor(() => (prober.view('n1')?.state === 'wrong-node' ? true : undefined), { what: 'wrong-node' });
    expect(prober.view('n1')!.everAnswered).toBe(false);
  });

  it('tells an agent that died (its port refuses) from a host that is silent (accepts, never answers)', async () => {
    const live = await livenessServer(['dead']);
    const { prober, changes } = startProber();
    prober.setEndpoint('dead', `127.0.0.1:${live.port}`);
    await waitFor(() => (prober.view('dead')?.state === 'alive' ? true : undefined), { what: 'alive' });
    // The process dies: the kernel closes its sockets, the port refuses.
    for (const s of live.sessions) s.destroy();
    await new Promise((r) => live.server.close(r));
    await waitFor(() => (prober.view('dead')?.state === 'refused' ? true : undefined), { what: 'refused' });
    expect(changes).toContainEqual(['dead', 'refused']);

    // A black hole: TCP accepted by a server that never speaks HTTP/2.
    const sockets = new Set<Socket>();
    const hole: Server = createTcpServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => hole.close(r));
    });
    prober.setEndpoint('mute', `127.0.0.1:${(hole.address() as AddressInfo).port}`);
    await waitFor(() => (prober.view('mute')?.state === 'silent' ? true : undefined), { what: 'silent' });
    expect(prober.view('mute')!.everAnswered).toBe(false);
    prober.forget('mute');
    expect(prober.view('mute')).toBeUndefined();
    expect(prober.counts()).toMatchObject({ refused: 1 });
  });
});
