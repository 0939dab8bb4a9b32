/**
 * A lean HTTP/1.1 client for the ingress's plain-HTTP upstreams, on raw
 * `net` sockets with a keep-alive pool per endpoint.
 *
 * Why not undici: profiled under wrk, undici's per-request machinery (a
 * Request object, handler wrappers, its wasm llhttp with a JS callback per
 * header, the kQueue/resume loop) was most of the proxy's JS time. A proxy
 * needs much less: write one request head string, parse one response head,
 * frame the body by Content-Length or chunked encoding, and stream the bytes
 * through. One request at a time per connection (no pipelining).
 *
 * Semantics the proxy relies on:
 * - the request body streams from the client's IncomingMessage only once
 *   the upstream socket is connected, so a connect failure leaves it unread
 *   (the proxy may retry elsewhere);
 * - a reused keep-alive connection that fails before any response byte,
 *   with no request-body byte read, is retried once on a fresh connection to
 *   the same endpoint, silently: the endpoint closed an idle connection as we
 *   wrote to it (the keep-alive race), which says nothing about its health;
 * - errors carry a `code`: the socket's (`ECONNREFUSED`, `ECONNRESET`, …) or
 *   one of UpstreamErrorCode; the handler hears exactly one of onEnd/onError.
 */
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { fieldValueOf } from './http-syntax.js';

/** Error codes of this client (beside the socket's own errno codes). */
export type UpstreamErrorCode =
  | 'CONNECT_TIMEOUT'
  | 'HEADERS_TIMEOUT'
  | 'BODY_TIMEOUT'
  /** The endpoint closed the connection before the response was complete. */
  | 'UPSTREAM_CLOSED'
  /** Not a valid HTTP/1.x response. */
  | 'BAD_RESPONSE'
  /** A streamed (chunked) request body passed the route's limit. */
  | 'BODY_TOO_LARGE'
  /** The request body's client went away. */
  | 'CLIENT_CLOSED'
  /** Aborted by the caller. */
  | 'ABORTED';

/** An error with the code the proxy counts and decides retries by. */
export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One request to an endpoint. */
export interface UpstreamRequest {
  /** `ip:port`, `[v6]:port`. */
  address: string;
  /**
   * The request line and headers, each line ending in CRLF, with the blank
   * line: framing headers included (`content-length`, or `transfer-encoding:
   * chunked` when `body` is sent chunked).
   */
  head: string;
  /** HEAD responses have no body whatever their headers say. */
  isHead: boolean;
  /** The request body, streamed once connected; undefined for none. */
  body?: Readable | undefined;
  /** Encode `body` chunked (the client sent it without a length). */
  chunked?: boolean;
  /** With `chunked`: bytes allowed before failing with BODY_TOO_LARGE. */
  bodyLimit?: number | undefined;
  /** Idle time allowed waiting for the response head and between body reads, ms. */
  readTimeoutMs: number;
}

/** What the client tells about a response. */
export interface UpstreamHandler {
  /**
   * The response head (1xx interim responses are skipped). `headers` is flat
   * (`[name, value, name, value…]`, names as sent) without hop-by-hop headers,
   * ready for `res.writeHead(status, headers)`.
   */
  onHead(status: number, headers: string[], contentLength: number, hasRequestId: boolean): void;
  /** A body chunk (the handler's to keep); false pauses reading until resume(). */
  onData(chunk: Buffer): boolean;
  /** The response is complete. */
  onEnd(): void;
  /** The exchange failed; `responseStarted` says whether onHead was called. */
  onError(err: UpstreamError | NodeJS.ErrnoException, responseStarted: boolean): void;
}

/** The caller's hold on an exchange in flight. */
export interface UpstreamExchange {
  /** Ends the exchange now (the client went away); the handler hears onError once, if it has not ended. */
  abort(code?: string): void;
  /** Resumes reading after onData returned false. */
  resume(): void;
  /** Whether any byte of the request body was read (a retry elsewhere is then unsafe). */
  readonly bodyRead: boolean;
}

/** Options of the pool. */
export interface UpstreamPoolOptions {
  /** Connect timeout, ms. */
  connectTimeoutMs: number;
  /** How long an idle connection is kept when the endpoint gives no `Keep-Alive: timeout=` hint, ms. Default 30 s. */
  idleTimeoutMs?: number;
  /** Idle connections kept per endpoint. Default 256. */
  maxIdlePerEndpoint?: number;
}

/** Response headers never forwarded (RFC 9110 §7.6.1), lower case. */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate']);
/** 1 at the lengths of the header names parsing looks at (hop-by-hop ones, content-length, x-request-id): others are passed on without lower-casing. */
const SPECIAL_LENGTHS = new Uint8Array(32);
for (const n of [...HOP_BY_HOP_RESPONSE, 'content-length', 'x-request-id']) SPECIAL_LENGTHS[n.length] = 1;
/** The largest response head accepted (Node's default max header size is 16 KiB; nginx's proxy_buffer_size is smaller). */
const MAX_HEAD = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const CHUNK_END = Buffer.from('0\r\n\r\n');
const CRLF = '\r\n';
/** How often idle connections past their time are closed, ms. */
const SWEEP_MS = 250;

const enum Phase {
  Connecting,
  Head,
  Body,
  Done,
}
const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}
const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

/** A pooled connection to one endpoint: permanent listeners that feed whatever exchange owns it. */
class Conn {
  readonly socket: Socket;
  ex: Exchange | undefined;
  /** Requests begun on this connection (> 0: it was reused, or is in use). */
  uses = 0;
  /** When an idle connection is closed (ms since the epoch); 0 while in use. */
  idleUntil = 0;
  /** The socket's current idle timeout, so an unchanged one is not set again (each set allocates a timer). */
  timeoutMs: number;
  /** Set once the connection may not carry another request. */
  dead = false;
  connected = false;

  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    if (this.ex) this.ex.data((buf as Buffer).subarray(0, n));
    else this.socket.destroy(); // bytes on an idle connection: nothing can be trusted on it now
    return true;
  };

  constructor(
    readonly pool: UpstreamPool,
    readonly address: string,
    host: string,
    port: number,
    connectTimeoutMs: number,
  ) {
    // Reads land in the pool's one buffer and come straight to onRead: no Buffer allocated per
    // read, no Readable push/'data'/maybeReadMore turn. Safe as every read is consumed (parsed,
    // or copied for the handler) before the next one, which may be another socket's.
    this.socket = connect({ host, port, noDelay: true, onread: { buffer: pool.readBuffer, callback: this.onRead } });
    this.socket.setTimeout(connectTimeoutMs);
    this.timeoutMs = connectTimeoutMs;
    this.socket.on('connect', () => {
      this.connected = true;
      this.ex?.connected();
    });

    this.socket.on('end', () => {
      this.dead = true;
      if (this.ex) this.ex.eof();
      else this.socket.destroy();
    });
    this.socket.on('timeout', () => this.ex?.timeout());
    this.socket.on('error', (err) => {
      this.dead = true;
      this.ex?.fail(err as NodeJS.ErrnoException);
    });
    this.socket.on('close', () => {
      this.dead = true;
      this.pool.forget(this);
      this.ex?.fail(new UpstreamError('UPSTREAM_CLOSED', `upstream ${this.address} closed the connection`));
    });
    this.socket.on('drain', () => this.ex?.drained());
  }
}

/** One request and its response on a connection. */
class Exchange implements UpstreamExchange {
  conn!: Conn;
  phase = Phase.Connecting;
  bodyRead = false;
  private framing = Framing.None;
  private remaining = 0;
  private chunkState = Chunk.Size;
  /** The chunk-size or trailer line read so far. */
  private line = '';
  private headBuf: Buffer | undefined;
  /** The request body has been written out in full. */
  private requestDone = false;
  private keepAlive = true;
  private keepAliveHintMs = -1;
  private readonly onBodyData = (chunk: Buffer) => this.bodyData(chunk);
  private readonly onBodyEnd = () => this.bodyEnd();
  private readonly onBodyGone = () => this.fail(new UpstreamError('CLIENT_CLOSED', 'the client closed the connection while sending the request body'));
  private bodySeen = 0;
  private listening = false;

  constructor(
    readonly pool: UpstreamPool,
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  /** Runs the exchange on `conn` (connected or connecting). */
  attach(conn: Conn): void {
    this.conn = conn;
    conn.ex = this;
    conn.uses++;
    conn.idleUntil = 0;
    if (conn.connected) this.connected();
  }

  connected(): void {
    if (this.phase !== Phase.Connecting) return;
    this.phase = Phase.Head;
    const { socket } = this.conn;
    // The read timeout runs from here; an idle connection kept it armed (a 'timeout' with no exchange is ignored).
    if (this.conn.timeoutMs !== this.req.readTimeoutMs) {
      socket.setTimeout(this.req.readTimeoutMs);
      this.conn.timeoutMs = this.req.readTimeoutMs;
    }
    const body = this.req.body;
    if (!body) {
      this.requestDone = true;
      socket.write(this.req.head, 'latin1');
      return;
    }
    socket.cork();
    socket.write(this.req.head, 'latin1');
    this.listening = true;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyGone);
    body.on('aborted', this.onBodyGone);
    body.resume();
    // The head goes out with the first body bytes when they are ready already.
    process.nextTick(() => socket.uncork());
  }

  private bodyData(chunk: Buffer): void {
    this.bodyRead = true;
    this.bodySeen += chunk.length;
    if (this.req.chunked && this.req.bodyLimit !== undefined && this.bodySeen > this.req.bodyLimit) {
      return this.fail(new UpstreamError('BODY_TOO_LARGE', 'request body too large'));
    }
    const { socket } = this.conn;
    let ok: boolean;
    if (this.req.chunked) {
      socket.cork();
      socket.write(chunk.length.toString(16) + CRLF, 'latin1');
      socket.write(chunk);
      ok = socket.write(CRLF, 'latin1');
      socket.uncork();
    } else ok = socket.write(chunk);
    if (!ok) this.req.body!.pause();
  }

  private bodyEnd(): void {
    this.detachBody();
    this.requestDone = true;
    if (this.req.chunked) this.conn.socket.write(CHUNK_END);
  }

  drained(): void {
    if (this.listening) this.req.body!.resume();
  }

  private detachBody(): void {
    if (!this.listening) return;
    this.listening = false;
    const body = this.req.body!;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyGone);
    body.off('aborted', this.onBodyGone);
    // Not flowing without a listener (bytes would be lost): a retry elsewhere reads them.
    if (!body.readableEnded) body.pause();
  }

  /** Bytes from the endpoint. */
  data(d: Buffer): void {
    if (this.phase === Phase.Head) {
      if (this.headBuf) d = Buffer.concat([this.headBuf, d]);
      this.headBuf = undefined;
      for (;;) {
        const end = d.indexOf(CRLFCRLF);
        if (end < 0) {
          if (d.length > MAX_HEAD) return this.fail(new UpstreamError('BAD_RESPONSE', 'response head too large'));
          // Kept past this read: a copy (the read buffer is the pool's).
          this.headBuf = Buffer.from(d);
          return;
        }
        const interim = this.parseHead(d.toString('latin1', 0, end));
        if ((this.phase as Phase) === Phase.Done) return; // failed or aborted
        d = d.subarray(end + 4);
        if (!interim) break;
        if (d.length === 0) return;
      }
      if (this.framing === Framing.None) {
        if (d.length > 0) this.keepAlive = false; // bytes after a body-less response: do not trust the connection
        return this.finish();
      }
      if (d.length === 0) return;
    }
    if (this.phase === Phase.Body) this.body(d);
    else if (this.phase !== Phase.Done) this.fail(new UpstreamError('BAD_RESPONSE', 'bytes before the request was sent'));
  }

  /** Parses a response head (without its blank line); true for an interim (1xx) response to skip. */
  private parseHead(text: string): boolean {
    let eol = text.indexOf(CRLF);
    if (eol < 0) eol = text.length;
    const status = text.slice(0, eol);
    // `HTTP/1.1 200 OK`
    if (status.length < 12 || !status.startsWith('HTTP/1.') || status.charCodeAt(8) !== 32 || (status.length > 12 && status.charCodeAt(12) !== 32)) {
      return this.badHead(`bad status line ${JSON.stringify(status.slice(0, 40))}`);
    }
    const code = Number(status.slice(9, 12));
    if (!(code >= 100 && code <= 999)) return this.badHead(`bad status line ${JSON.stringify(status.slice(0, 40))}`);
    if (code < 200) {
      if (code === 101) return this.badHead('101 Switching Protocols to a request that asked for no upgrade');
      return true;
    }
    const http10 = status.charCodeAt(7) === 48; // 'HTTP/1.0'
    let keepAlive = !http10;
    let length = -1;
    let chunked = false;
    let hasRequestId = false;
    let dropTokens: string[] | undefined;
    const out: string[] = [];
    // One pass over the lines; only names as long as one of the few that matter are lower-cased.
    for (let pos = eol + 2; pos < text.length; ) {
      let end = text.indexOf(CRLF, pos);
      if (end < 0) end = text.length;
      const first = text.charCodeAt(pos);
      if (first === 32 || first === 9) {
        // obs-fold: a continuation of the previous value (RFC 9112 §5.2 allows replacing it with a space).
        if (out.length === 0) return this.badHead('continuation line without a header');
        out[out.length - 1] += ` ${text.slice(pos, end).trim()}`;
        pos = end + 2;
        continue;
      }
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon > end) return this.badHead(`bad header line ${JSON.stringify(text.slice(pos, Math.min(end, pos + 40)))}`);
      const name = text.slice(pos, colon);
      const value = fieldValueOf(text, colon, end);
      pos = end + 2;
      if (SPECIAL_LENGTHS[name.length] === 1) {
        const lower = name.toLowerCase();
        if (HOP_BY_HOP_RESPONSE.has(lower)) {
          if (lower === 'connection') {
            // Nearly every response says just this: nothing to split.
            if (value.length === 10 && !http10 && value.toLowerCase() === 'keep-alive') continue;
            const v = value.toLowerCase();
            if (v.includes('close')) keepAlive = false;
            else if (http10 && v.includes('keep-alive')) keepAlive = true;
            for (const t of v.split(',')) {
              const tok = t.trim();
              if (tok && tok !== 'close' && tok !== 'keep-alive') (dropTokens ??= []).push(tok);
            }
          } else if (lower === 'transfer-encoding') {
            // Chunked must be the last coding (RFC 9112 §6.3); anything else is read until close.
            chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
            if (!chunked) keepAlive = false;
          } else if (lower === 'keep-alive') {
            const m = /timeout=(\d+)/i.exec(value);
            if (m) this.keepAliveHintMs = Number(m[1]) * 1000;
          }
          continue;
        }
        if (lower === 'content-length') {
          const n = Number(value);
          if (!/^\d+$/.test(value) || (length >= 0 && n !== length)) return this.badHead(`bad content-length ${JSON.stringify(value.slice(0, 40))}`);
          length = n;
        } else if (lower === 'x-request-id') hasRequestId = true;
      }
      out.push(name, value);
    }
    if (dropTokens) {
      for (let i = out.length - 2; i >= 0; i -= 2) if (dropTokens.includes(out[i]!.toLowerCase())) out.splice(i, 2);
    }
    this.keepAlive = keepAlive;
    if (this.req.isHead || code === 204 || code === 304) this.framing = Framing.None;
    else if (chunked) {
      this.framing = Framing.Chunked;
      // With chunked coding a Content-Length is wrong and must go (RFC 9112 §6.3).
      if (length >= 0) {
        for (let i = out.length - 2; i >= 0; i -= 2) if (out[i]!.toLowerCase() === 'content-length') out.splice(i, 2);
        length = -1;
      }
    } else if (length >= 0) {
      this.framing = length === 0 ? Framing.None : Framing.Length;
      this.remaining = length;
    } else {
      this.framing = Framing.UntilClose;
      this.keepAlive = false;
    }
    this.phase = Phase.Body;
    this.handler.onHead(code, out, length, hasRequestId);
    return false;
  }

  private badHead(message: string): boolean {
    this.fail(new UpstreamError('BAD_RESPONSE', message));
    return false;
  }

  /** Body bytes, framed by the response's headers. */
  private body(d: Buffer): void {
    switch (this.framing) {
      case Framing.Length: {
        if (d.length >= this.remaining) {
          if (d.length > this.remaining) {
            this.keepAlive = false; // more than the length: the connection is out of step
            d = d.subarray(0, this.remaining);
          }
          this.remaining = 0;
          if (d.length > 0) this.deliver(d);
          if (this.phase === Phase.Body) this.finish();
          return;
        }
        this.remaining -= d.length;
        this.deliver(d);
        return;
      }
      case Framing.UntilClose:
        this.deliver(d);
        return;
      case Framing.Chunked:
        this.chunks(d);
        return;
      default:
        this.keepAlive = false;
    }
  }

  /** Decodes chunked coding, handing the chunks' data on. */
  private chunks(d: Buffer): void {
    let i = 0;
    while (i < d.length && this.phase === Phase.Body) {
      switch (this.chunkState) {
        case Chunk.Size:
        case Chunk.Trailer: {
          const nl = d.indexOf(10, i);
          const end = nl < 0 ? d.length : nl;
          this.line += d.toString('latin1', i, end);
          if (this.line.length > 4096) return this.fail(new UpstreamError('BAD_RESPONSE', 'chunk header too long'));
          if (nl < 0) return;
          i = nl + 1;
          const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
          this.line = '';
          if (this.chunkState === Chunk.Trailer) {
            if (line === '') return this.finishChunked(d, i);
            continue; // trailers are dropped
          }
          const semi = line.indexOf(';');
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.fail(new UpstreamError('BAD_RESPONSE', `bad chunk size ${JSON.stringify(hex.slice(0, 20))}`));
          this.remaining = parseInt(hex, 16);
          this.chunkState = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
          break;
        }
        case Chunk.Data: {
          const n = Math.min(this.remaining, d.length - i);
          this.remaining -= n;
          const part = d.subarray(i, i + n);
          i += n;
          if (this.remaining === 0) this.chunkState = Chunk.DataEnd;
          this.deliver(part);
          break;
        }
        case Chunk.DataEnd: {
          // The CRLF after a chunk's data.
          const c = d[i++]!;
          if (c === 10) this.chunkState = Chunk.Size;
          else if (c !== 13) return this.fail(new UpstreamError('BAD_RESPONSE', 'chunk data not followed by CRLF'));
          break;
        }
      }
    }
  }

  private finishChunked(d: Buffer, i: number): void {
    if (i < d.length) this.keepAlive = false;
    this.finish();
  }

  private deliver(chunk: Buffer): void {
    // The handler's own copy: the read buffer is overwritten by the next read.
    if (!this.handler.onData(Buffer.from(chunk))) this.conn.socket.pause();
  }

  resume(): void {
    if (this.phase !== Phase.Done) this.conn.socket.resume();
  }

  /** The response is complete. */
  private finish(): void {
    this.phase = Phase.Done;
    if (this.requestDone) this.release();
    else {
      // A request body still going out (the endpoint answered early): the connection cannot be
      // reused, and the rest of the body is read and dropped so the client's connection moves on.
      this.detachBody();
      this.req.body?.resume();
      this.conn.dead = true;
      this.conn.ex = undefined;
      this.conn.socket.destroy();
    }
    this.handler.onEnd();
  }

  private release(): void {
    const conn = this.conn;
    conn.ex = undefined;
    if (!this.keepAlive || conn.dead) {
      conn.dead = true;
      conn.socket.destroy();
      return;
    }
    this.pool.idle(conn, this.keepAliveHintMs);
  }

  /** The endpoint closed its side. */
  eof(): void {
    if (this.phase === Phase.Body && this.framing === Framing.UntilClose) return this.finish();
    this.fail(new UpstreamError('UPSTREAM_CLOSED', `upstream ${this.conn.address} closed the connection before the response was complete`));
  }

  timeout(): void {
    if (this.phase === Phase.Connecting) return this.fail(new UpstreamError('CONNECT_TIMEOUT', `connecting to ${this.conn.address} timed out`));
    if (this.phase === Phase.Head) return this.fail(new UpstreamError('HEADERS_TIMEOUT', `no response head from ${this.conn.address} within ${this.req.readTimeoutMs} ms`));
    this.fail(new UpstreamError('BODY_TIMEOUT', `no response body bytes from ${this.conn.address} within ${this.req.readTimeoutMs} ms`));
  }

  abort(code = 'ABORTED'): void {
    this.fail(new UpstreamError(code, 'aborted'));
  }

  /** Ends the exchange with an error (once); the connection is closed. */
  fail(err: UpstreamError | NodeJS.ErrnoException): void {
    if (this.phase === Phase.Done) return;
    const started = this.phase === Phase.Body;
    const wasWaiting = this.phase === Phase.Head && this.headBuf === undefined;
    this.phase = Phase.Done;
    this.detachBody();
    const conn = this.conn;
    if (conn) {
      conn.dead = true;
      conn.ex = undefined;
      conn.socket.destroy();
    }
    // A reused connection the endpoint had closed as we wrote: once more on a fresh one.
    const code = (err as { code?: string }).code;
    if (conn && conn.uses > 1 && wasWaiting && !this.bodyRead && (code === 'UPSTREAM_CLOSED' || code === 'ECONNRESET' || code === 'EPIPE')) {
      this.pool.retryFresh(this);
      return;
    }
    this.handler.onError(err, started);
  }
}

/** Keep-alive connections to the endpoints, by `ip:port`. */
export class UpstreamPool {
  /** @internal Where every connection's reads land (consumed before the next read). */
  readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  private readonly free = new Map<string, Conn[]>();
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxIdle: number;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(o: UpstreamPoolOptions) {
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.idleTimeoutMs = o.idleTimeoutMs ?? 30_000;
    this.maxIdle = o.maxIdlePerEndpoint ?? 256;
  }

  /** Sends a request; the handler hears the response. */
  request(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange {
    const ex = new Exchange(this, req, handler);
    if (this.closed) {
      process.nextTick(() => ex.fail(new UpstreamError('ABORTED', 'the upstream pool is closed')));
      return ex;
    }
    ex.attach(this.take(req.address) ?? this.open(req.address));
    return ex;
  }

  /** Idle connections held now (tests). */
  idleCount(address?: string): number {
    if (address !== undefined) return this.free.get(address)?.length ?? 0;
    let n = 0;
    for (const l of this.free.values()) n += l.length;
    return n;
  }

  /** Closes every idle connection; connections in use close when their exchange ends. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const list of this.free.values()) for (const c of list) c.socket.destroy();
    this.free.clear();
  }

  /** @internal An exchange on a stale reused connection: again on a fresh one. */
  retryFresh(ex: Exchange): void {
    ex.phase = Phase.Connecting;
    ex.attach(this.open(ex.req.address));
  }

  /** @internal A connection whose exchange ended cleanly. */
  idle(conn: Conn, hintMs: number): void {
    const list = this.free.get(conn.address) ?? [];
    if (this.closed || list.length >= this.maxIdle) {
      conn.dead = true;
      conn.socket.destroy();
      return;
    }
    if (list.length === 0) this.free.set(conn.address, list);
    list.push(conn);
    // Close before the endpoint does (its hint less a second), else at our own limit; one sweep
    // timer for the pool rather than a timer per connection and request.
    const ms = hintMs > 0 ? Math.min(Math.max(hintMs - 1_000, 500), this.idleTimeoutMs) : this.idleTimeoutMs;
    conn.idleUntil = Date.now() + ms;
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /** Closes the idle connections past their time. */
  private sweep(): void {
    const now = Date.now();
    for (const list of this.free.values()) {
      // Oldest first: the list is used from its end.
      for (const c of list) if (c.idleUntil <= now) c.socket.destroy();
    }
    if (this.free.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** @internal A connection that closed: out of the idle list. */
  forget(conn: Conn): void {
    const list = this.free.get(conn.address);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.free.delete(conn.address);
  }

  /** The most recently used idle connection (warm, least likely to be closed by the endpoint). */
  private take(address: string): Conn | undefined {
    const list = this.free.get(address);
    if (!list) return undefined;
    while (list.length > 0) {
      const c = list.pop()!;
      if (!c.dead && !c.socket.destroyed) {
        if (list.length === 0) this.free.delete(address);
        return c;
      }
    }
    this.free.delete(address);
    return undefined;
  }

  private open(address: string): Conn {
    const colon = address.lastIndexOf(':');
    let host = address.slice(0, colon);
    if (host.startsWith('[')) host = host.slice(1, -1);
    return new Conn(this, address, host, Number(address.slice(colon + 1)), this.connectTimeoutMs);
  }
}
