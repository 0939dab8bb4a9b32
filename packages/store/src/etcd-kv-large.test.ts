import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdKv, GrpcStatus } from './etcd-kv.js';

// Protobuf by hand, only what a RangeResponse needs: varints and length-delimited fields.
const varint = (n: number): Buffer => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
};
const field = (tag: number, body: Buffer): Buffer => Buffer.concat([varint(tag), varint(body.length), body]);
const keyValue = (key: string, value: Buffer, rev: number): Buffer =>
  Buffer.concat([field(0x0a, Buffer.from(key)), varint(0x18), varint(rev), field(0x2a, value)]);
/** A RangeResponse of `count` keys with values of `size` bytes, framed as gRPC sends it. */
function rangeAnswer(count: number, size: number): { frame: Buffer; values: Buffer[] } {
  const values = Array.from({ length: count }, (_, i) => Buffer.alloc(size, 97 + (i % 26)));
  const header = field(0x0a, Buffer.concat([varint(0x18), varint(1234)]));
  const message = Buffer.concat([header, ...values.map((v, i) => field(0x12, keyValue(`/k/${i}`, v, i + 1)))]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return { frame: Buffer.concat([prefix, message]), values };
}

/** A cleartext HTTP/2 server answering every call with `send`'s DATA, in chunks of 16 KiB a turn apart, then status OK. */
async function fakeEtcd(send: () => Buffer): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('end', async () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const data = send();
      for (let at = 0; at < data.length; at += 16 * 1024) {
        stream.write(data.subarray(at, at + 16 * 1024));
        await new Promise((r) => setImmediate(r));
      }
      stream.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('EtcdKv: a large answer', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  it('is gathered from its many chunks into one message, every value intact', async () => {
    const { frame, values } = rangeAnswer(300, 3000); // ~900 KB: well past the size gathered as it arrives
    const etcd = await fakeEtcd(() => frame);
    const kv = new EtcdKv({ endpoints: [etcd.url] });
    cleanup.push(async () => kv.close(), etcd.close);
    const res = await kv.range({ key: Buffer.from('/k/') });
    expect(res.header.revision).toBe('1234');
    expect(res.kvs).toHaveLength(300);
    res.kvs.forEach((got, i) => {
      expect(got.key.toString()).toBe(`/k/${i}`);
      expect(got.mod_revision).toBe(String(i + 1));
      expect(got.value.equals(values[i]!)).toBe(true);
    });
  });

  it('cut short of the length its frame header gives is an error, not a message', async () => {
    const { frame } = rangeAnswer(300, 3000);
    const etcd = await fakeEtcd(() => frame.subarray(0, frame.length - 5000));
    const kv = new EtcdKv({ endpoints: [etcd.url] });
    cleanup.push(async () => kv.close(), etcd.close);
    const err = await kv.range({ key: Buffer.from('/k/') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: GrpcStatus.INTERNAL });
    expect(String((err as Error).message)).toMatch(/etcd sent \d+ bytes for a message of \d+/);
  });

  it('longer than its frame header says is an error too', async () => {
    const { frame } = rangeAnswer(300, 3000);
    const etcd = await fakeEtcd(() => Buffer.concat([frame, Buffer.alloc(100)]));
    const kv = new EtcdKv({ endpoints: [etcd.url] });
    cleanup.push(async () => kv.close(), etcd.close);
    const err = await kv.range({ key: Buffer.from('/k/') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: GrpcStatus.INTERNAL });
    expect(String((err as Error).message)).toMatch(/etcd sent \d+ bytes for a message of \d+/);
  });
});
