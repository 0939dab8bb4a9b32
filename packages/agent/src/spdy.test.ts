import { createRequire } from 'node:module';
import { constants as zc, createDeflate, createInflate } from 'node:zlib';
import { waitFor } from '@flotilla/client/testing';
import { describe, expect, it } from 'vitest';
import { decodeHeaderBlock, encodeHeaderBlock, FRAME, SpdySession, type SpdyStream } from './spdy.js';

const DICTIONARY = (createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<string, Buffer>)[3]!;

/** Compresses with a client-side context, as Go's spdystream does. */
function compressor() {
  const z = createDeflate({ dictionary: DICTIONARY });
  return (b: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      const on = (d: Buffer) => parts.push(d);
      z.on('data', on);
      z.write(b);
      z.flush(zc.Z_SYNC_FLUSH, () => {
        z.off('data', on);
        resolve(Buffer.concat(parts));
      });
    });
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE((flags << 24) | body.length, 4);
  return Buffer.concat([h, body]);
}

function data(id: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h.writeUInt32BE((flags << 24) | body.length, 4);
  return Buffer.concat([h, body]);
}

describe('SPDY/3 framing', () => {
  it('encodes and decodes header blocks (names lower-cased, repeated values NUL-joined on the wire)', () => {
    const block = encodeHeaderBlock({ StreamType: 'data', port: '8080' });
    expect(decodeHeaderBlock(block)).toEqual({ streamtype: 'data', port: '8080' });
    expect(() => decodeHeaderBlock(block.subarray(0, 10))).toThrow(/truncated/);
  });

  it('accepts client streams, replies, carries data both ways with FIN, answers PING', async () => {
    const out: Buffer[] = [];
    const session = new SpdySession((b) => out.push(b));
    const streams: SpdyStream[] = [];
    session.on('stream', (s: SpdyStream) => streams.push(s));
    const compress = compressor();
    const syn = async (id: number, headers: Record<string, string>) => {
      const head = Buffer.alloc(10);
      head.writeUInt32BE(id, 0);
      return control(FRAME.SYN_STREAM, 0, Buffer.concat([head, await compress(encodeHeaderBlock(headers))]));
    };
    // Two frames in one chunk, split oddly: the session must reassemble them.
    const both = Buffer.concat([await syn(1, { streamtype: 'error', port: '80', requestid: '0' }), await syn(3, { streamtype: 'data', port: '80', requestid: '0' })]);
    session.receive(both.subarray(0, 7));
    session.receive(both.subarray(7));
    await waitFor(() => streams.length === 2 && out.length === 2);
    expect(streams.map((s) => [s.id, s.headers.streamtype])).toEqual([[1, 'error'], [3, 'data']]);
    // Each stream got a SYN_REPLY whose (compressed) header block inflates to an empty block.
    const replies = out.filter((b) => b[0] === 0x80 && b.readUInt16BE(2) === FRAME.SYN_REPLY);
    expect(replies.map((b) => b.readUInt32BE(8))).toEqual([1, 3]);
    const inflate = createInflate({ dictionary: DICTIONARY });
    const first = await new Promise<Buffer>((resolve) => {
      inflate.once('data', resolve);
      inflate.write(replies[0]!.subarray(12));
      inflate.flush(zc.Z_SYNC_FLUSH);
    });
    expect(decodeHeaderBlock(first)).toEqual({});

    const got: Buffer[] = [];
    streams[1]!.on('data', (d: Buffer) => got.push(d));
    const ended = new Promise((r) => streams[1]!.on('end', r));
    session.receive(data(3, 0, Buffer.from('GET / ')));
    session.receive(data(3, 1, Buffer.from('HTTP/1.0')));
    await ended;
    expect(Buffer.concat(got).toString()).toBe('GET / HTTP/1.0');

    out.length = 0;
    streams[1]!.end(Buffer.from('answer'));
    await waitFor(() => out.length === 2);
    expect(out.map((b) => [b.readUInt32BE(0), b[4], b.subarray(8).toString()])).toEqual([[3, 0, 'answer'], [3, 1, '']]);

    out.length = 0;
    const ping = Buffer.alloc(4);
    ping.writeUInt32BE(7);
    session.receive(control(FRAME.PING, 0, ping));
    await waitFor(() => out.length === 1);
    expect(out[0]!.readUInt16BE(2)).toBe(FRAME.PING);
    expect(out[0]!.readUInt32BE(8)).toBe(7);
    session.close();
  });
});
