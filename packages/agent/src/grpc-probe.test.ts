import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcProbe, healthCheckRequest, healthCheckStatus } from './grpc-probe.js';

/** A minimal grpc.health.v1 server over plaintext HTTP/2 answering `status` for every service. */
function healthServer(status: (service: string) => number): Promise<{ server: Http2Server; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const msg = body.subarray(5);
      const service = msg.length > 2 ? msg.subarray(2, 2 + msg[1]!).toString() : '';
      seen.push(`${req.url} ${req.headers['content-type']} ${service}`);
      const reply = Buffer.from([0, 0, 0, 0, 2, 0x08, status(service)]);
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0' });
      res.end(reply);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, seen })));
}

const servers: Http2Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

describe('gRPC health probe', () => {
  it('frames the request and reads the status', () => {
    expect([...healthCheckRequest('')]).toEqual([0, 0, 0, 0, 0]);
    expect([...healthCheckRequest('db')]).toEqual([0, 0, 0, 0, 4, 0x0a, 2, 0x64, 0x62]);
    expect(healthCheckStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 1]))).toBe(1);
    expect(healthCheckStatus(Buffer.from([0, 0, 0, 0, 0]))).toBe(0);
  });

  it('is healthy only when the service answers SERVING', async () => {
    const { server, port, seen } = await healthServer((s) => (s === 'down' ? 2 : 1));
    servers.push(server);
    expect(await grpcProbe('127.0.0.1', port, '', 2000)).toEqual({ ok: true, message: '' });
    expect(await grpcProbe('127.0.0.1', port, 'down', 2000)).toEqual({ ok: false, message: 'service unhealthy (responded with "NOT_SERVING")' });
    expect(seen).toEqual(['/grpc.health.v1.Health/Check application/grpc ', '/grpc.health.v1.Health/Check application/grpc down']);
  });

  it('fails when nothing listens', async () => {
    const { server, port } = await healthServer(() => 1);
    await new Promise((r) => server.close(r));
    const r = await grpcProbe('127.0.0.1', port, '', 2000);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/failed to connect service "127\.0\.0\.1:\d+"/);
  });
});
