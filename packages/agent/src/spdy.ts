/**
 * The server half of SPDY/3.1 framing, as much as Kubernetes' port-forward
 * protocol uses (kubectl speaks it through Go's moby/spdystream): streams
 * opened by the client with SYN_STREAM and a header block, answered with
 * SYN_REPLY, DATA with FIN for half-close, RST_STREAM, PING, GOAWAY.
 * Header blocks are zlib-compressed with the SPDY/3 dictionary, one
 * compression context per direction for the whole session. Flow control
 * (WINDOW_UPDATE) is accepted and ignored, as spdystream does.
 *
 * The byte stream comes from anywhere: a raw upgraded socket (SPDY/3.1) or
 * the binary messages of a WebSocket (kubectl 1.32's
 * `SPDY/3.1+portforward.k8s.io` tunnel).
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

// The SPDY/3 header compression dictionary is a constant of the protocol (draft-mbelshe-httpbis-spdy-00, 2.6.10.1);
// spdy-transport ships it, so it is taken from there rather than retyped.
const dictionaries = createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<string, Buffer>;
const DICTIONARY = dictionaries[3]!;

const VERSION = 3;
/** Control frame types. */
export const FRAME = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
const FLAG_FIN = 0x01;
/** RST_STREAM status codes. */
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, CANCEL: 5, INTERNAL_ERROR: 6 } as const;
/** Largest DATA payload sent in one frame. */
const MAX_DATA = 32 * 1024;

/** Encodes a SPDY/3 name/value header block (uncompressed). */
export function encodeHeaderBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(Object.keys(headers).length);
  parts.push(n);
  for (const [k, v] of Object.entries(headers)) {
    for (const s of [k.toLowerCase(), v]) {
      const b = Buffer.from(s);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

/** Decodes an uncompressed header block; several values of one name are NUL-separated on the wire and joined with `,` here. */
export function decodeHeaderBlock(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  const need = (n: number) => {
    if (off + n > buf.length) throw new Error('header block truncated');
  };
  need(4);
  const count = buf.readUInt32BE(off);
  off += 4;
  for (let i = 0; i < count; i++) {
    need(4);
    const nl = buf.readUInt32BE(off);
    off += 4;
    need(nl);
    const name = buf.subarray(off, off + nl).toString('utf8').toLowerCase();
    off += nl;
    need(4);
    const vl = buf.readUInt32BE(off);
    off += 4;
    need(vl);
    out[name] = buf.subarray(off, off + vl).toString('utf8').split('\0').join(',');
    off += vl;
  }
  return out;
}

function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24) | body.length, 4);
  return Buffer.concat([h, body]);
}

function dataFrame(id: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id & 0x7fffffff, 0);
  h.writeUInt32BE(((flags & 0xff) << 24) | body.length, 4);
  return Buffer.concat([h, body]);
}

/** Runs `data` through a zlib stream with a sync flush and returns what came out (the technique of ws's permessage-deflate). */
function zlibFlush(z: Inflate | Deflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const onData = (d: Buffer) => parts.push(d);
    const onError = (err: Error) => reject(err);
    z.on('data', onData);
    z.once('error', onError);
    z.write(data);
    z.flush(zc.Z_SYNC_FLUSH, () => {
      z.off('data', onData);
      z.off('error', onError);
      resolve(Buffer.concat(parts));
    });
  });
}

/** One SPDY stream: a Duplex whose writes become DATA frames and whose end() sends FIN. */
export class SpdyStream extends Duplex {
  /** Set once the peer sent FIN or the stream was reset. */
  remoteClosed = false;

  constructor(
    readonly id: number,
    readonly headers: Record<string, string>,
    private readonly session: SpdySession,
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    // Data is pushed as frames arrive.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (let off = 0; off < chunk.length; off += MAX_DATA) this.session.send(dataFrame(this.id, 0, chunk.subarray(off, off + MAX_DATA)));
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.session.send(dataFrame(this.id, FLAG_FIN, Buffer.alloc(0)));
    done();
  }

  /** Aborts the stream on both sides (RST_STREAM). */
  reset(code: number = RST.CANCEL): void {
    if (!this.destroyed) this.session.resetStream(this.id, code);
    this.destroy();
  }
}

/**
 * A server-side SPDY/3.1 session over a byte transport. Feed it the bytes
 * that arrive with `receive`; it calls `write` with bytes to send. Emits
 * `stream` (a SpdyStream with its headers, already answered with
 * SYN_REPLY) and `close`.
 */
export class SpdySession extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate = createInflate({ dictionary: DICTIONARY });
  private readonly deflate = createDeflate({ dictionary: DICTIONARY });
  /** Frames are handled one at a time: header blocks share one decompression context. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly write: (bytes: Buffer) => void) {
    super();
    this.inflate.on('error', (err) => this.fail(err));
    this.deflate.on('error', (err) => this.fail(err));
  }

  /** Bytes from the peer. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      this.chain = this.chain.then(() => this.handle(frame)).catch((err: unknown) => this.fail(err as Error));
    }
  }

  /** Sends raw frame bytes (no-op once closed). */
  send(bytes: Buffer): void {
    if (!this.closed) this.write(bytes);
  }

  /** Sends RST_STREAM for a stream. */
  resetStream(id: number, code: number): void {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(id & 0x7fffffff, 0);
    body.writeUInt32BE(code, 4);
    this.send(controlFrame(FRAME.RST_STREAM, 0, body));
    this.streams.delete(id);
  }

  /** Ends the session: every stream is destroyed, GOAWAY is sent if the transport is still up. */
  close(sendGoaway = true): void {
    if (this.closed) return;
    if (sendGoaway) {
      const body = Buffer.alloc(8);
      body.writeUInt32BE(Math.max(0, ...this.streams.keys()) & 0x7fffffff, 0);
      this.send(controlFrame(FRAME.GOAWAY, 0, body));
    }
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.emit('close');
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.emit('error', err);
    this.close(true);
  }

  private async handle(frame: Buffer): Promise<void> {
    if (this.closed) return;
    const flags = frame[4]!;
    const body = frame.subarray(8);
    if ((frame[0]! & 0x80) === 0) {
      const id = frame.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return this.resetStream(id, RST.INVALID_STREAM);
      if (body.length) s.push(Buffer.from(body));
      if (flags & FLAG_FIN) this.remoteFin(s);
      return;
    }
    const version = frame.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) throw new Error(`unsupported SPDY version ${version}`);
    const type = frame.readUInt16BE(2);
    switch (type) {
      case FRAME.SYN_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(await zlibFlush(this.inflate, body.subarray(10)));
        if (id % 2 === 0 || this.streams.has(id)) return this.resetStream(id, RST.PROTOCOL_ERROR);
        const s = new SpdyStream(id, headers, this);
        this.streams.set(id, s);
        s.on('close', () => this.streams.delete(id));
        // spdystream's CreateStream waits for this reply.
        const block = await zlibFlush(this.deflate, encodeHeaderBlock({}));
        const idBuf = Buffer.alloc(4);
        idBuf.writeUInt32BE(id);
        this.send(controlFrame(FRAME.SYN_REPLY, 0, Buffer.concat([idBuf, block])));
        if (flags & FLAG_FIN) this.remoteFin(s);
        this.emit('stream', s);
        return;
      }
      case FRAME.HEADERS:
      case FRAME.SYN_REPLY:
        // Keep the decompression context in step even though the content is not needed.
        await zlibFlush(this.inflate, body.subarray(4));
        return;
      case FRAME.RST_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const s = this.streams.get(id);
        if (s) {
          s.remoteClosed = true;
          this.streams.delete(id);
          s.destroy();
        }
        return;
      }
      case FRAME.PING:
        this.send(controlFrame(FRAME.PING, 0, Buffer.from(body)));
        return;
      case FRAME.GOAWAY:
        this.close(false);
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and unknown types: nothing to do.
        return;
    }
  }

  private remoteFin(s: SpdyStream): void {
    s.remoteClosed = true;
    s.push(null);
  }
}
