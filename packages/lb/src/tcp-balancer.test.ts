import { createServer, connect, type Server, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpBalancer } from './tcp-balancer.js';

/** A TCP server on loopback that answers every line with its name. */
async function namedServer(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.on('data', () => s.write(`${name}\n`)).on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Opens a connection through the balancer, sends a line, returns the answer (or the error). */
function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.once('connect', () => s.write('hi\n'));
    s.once('data', (d: string) => {
      resolve(d.trim());
      s.destroy();
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed without an answer')));
  });
}

describe('TcpBalancer', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('spreads connections over the backends and skips one that refuses, losing no connection', async () => {
    const a = await namedServer('a');
    const b = await namedServer('b');
    cleanup.push(() => void a.server.close(), () => void b.server.close());
    const lb = new TcpBalancer({ listen: { host: '127.0.0.1', port: 0 }, backends: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }], healthPath: '' });
    const port = await lb.start();
    cleanup.push(() => lb.close());

    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(await ask(port));
    expect([...seen].sort()).toEqual(['a', 'b']);

    // b goes away: every new connection still gets an answer, from a.
    await new Promise<void>((r) => b.server.close(() => r()));
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(port)));
    expect(new Set(answers)).toEqual(new Set(['a']));
    expect(lb.healthy()).toEqual([`127.0.0.1:${a.port}`]);
  });

  it('closes a client whose connection no backend accepts', async () => {
    const gone = await namedServer('gone');
    await new Promise<void>((r) => gone.server.close(() => r()));
    const lb = new TcpBalancer({ listen: { host: '127.0.0.1', port: 0 }, backends: [{ host: '127.0.0.1', port: gone.port }], healthPath: '' });
    const port = await lb.start();
    cleanup.push(() => lb.close());
    await expect(ask(port)).rejects.toThrow(/closed without an answer|ECONNRESET/);
  });
});
