/**
 * A lean HTTP/1.1 server front for the proxy's common case, on the sockets
 * a Node http or https server accepts.
 *
 * Why: profiled under wrk with small responses, Node's http server was most
 * of the proxy's CPU per request: llhttp's callbacks into JS, an
 * IncomingMessage and a ServerResponse (two streams with their event
 * machinery), header objects built twice, and a response head assembled by
 * _http_outgoing. A proxy needs far less for a body-less request: find the
 * blank line, check and split the head, and write one head string plus the
 * body on the socket.
 *
 * What it serves: HTTP/1.1 requests in origin form without a body (no
 * Transfer-Encoding, no or a zero Content-Length), without Upgrade or
 * Expect — every GET and HEAD a browser or wrk sends. Anything else (a
 * body, HTTP/1.0, an upgrade, obs-folded or malformed lines, a head over
 * 16 KiB) hands the connection, with the bytes read so far, to the Node
 * server it came from, for the rest of the connection's life: bodies,
 * WebSockets, 100-continue and the 400s for bad requests keep Node's
 * well-trodden code. A connection is handed over only between requests.
 *
 * Requests on one connection are answered in order; a pipelined request
 * waits in the buffer until the one before it has ended.
 */
import { STATUS_CODES, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { fieldValueOf } from './http-syntax.js';

/** What the front hands the proxy for a request (the parts of IncomingMessage it reads). */
export interface FrontRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Names and values as sent, flat. */
  rawHeaders: string[];
  socket: Socket;
  /** Always true here: the front serves no request with a body. */
  readonly readableEnded: boolean;
  resume(): void;
}

/** Serves one request; the response is the front's own. */
export type FrontHandler = (req: FrontRequest, res: FrontResponse) => void;

/** The largest request head served here; a larger one goes to Node (which answers 431). */
const MAX_HEAD = 16 * 1024;
/** Bytes of pipelined requests buffered while one is answered, before reading pauses. */
const MAX_PIPELINED = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: no control characters but tab (as Node's checkInvalidHeaderChar). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Origin-form targets: visible ASCII, starting with a slash. */
const TARGET = /^\/[\x21-\x7e]*$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

let dateSecond = 0;
let dateLine = '';
/** `date: …\r\n`, formatted once a second (as Node's utcDate cache). */
function dateHeader(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** A response written straight to the socket: the subset of ServerResponse the proxy uses. */
export class FrontResponse {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  /** The head, held until the first body write so both leave in one write. */
  private head: string | undefined;
  private chunked = false;
  private noBody = false;
  /** @internal Told when the client goes away before the response ended. */
  onClose: (() => void) | undefined;
  /** @internal Told once the socket drains after a write returned false. */
  onDrain: (() => void) | undefined;

  constructor(
    private readonly conn: FrontConnection,
    private readonly isHead: boolean,
  ) {}

  get destroyed(): boolean {
    return this.conn.socket.destroyed;
  }

  /**
   * Sets the status and headers (an object, or flat `[name, value, …]` as
   * Node's writeHead takes them). Throws, as Node does, on a value with
   * control characters.
   */
  writeHead(status: number, headers: Readonly<Record<string, string>> | readonly string[]): this {
    if (this.headersSent) throw new Error('headers already sent');
    let lines = '';
    let length = false;
    let date = false;
    const add = (name: string, value: string) => {
      if (BAD_VALUE.test(value) || !TOKEN.test(name)) throw Object.assign(new TypeError(`invalid header ${JSON.stringify(name)}`), { code: 'ERR_INVALID_CHAR' });
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      lines += `${name}: ${value}\r\n`;
    };
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) add(headers[i]!, headers[i + 1]!);
    else for (const name in headers) add(name, (headers as Record<string, string>)[name]!);
    this.noBody = this.isHead || status === 204 || status === 304 || status < 200;
    // As Node's ServerResponse: a body of unknown length is sent chunked (the client speaks HTTP/1.1).
    if (!length && !this.noBody) {
      this.chunked = true;
      lines += 'transfer-encoding: chunked\r\n';
    }
    if (!date) lines += dateHeader();
    lines += this.conn.closing() ? 'connection: close\r\n' : 'connection: keep-alive\r\nkeep-alive: timeout=75\r\n';
    this.statusCode = status;
    this.head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n${lines}\r\n`;
    this.headersSent = true;
    return this;
  }

  /** Writes body bytes; false when the socket's buffer is full (wait for onDrain). */
  write(chunk: Buffer): boolean {
    const s = this.conn.socket;
    if (this.writableEnded || s.destroyed) return false;
    if (this.head === undefined && !this.headersSent) this.writeHead(200, []);
    if (this.noBody) return true;
    if (this.chunked) {
      if (chunk.length === 0) return true;
      s.cork();
      this.flushHead(s);
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      const ok = s.write('\r\n', 'latin1');
      s.uncork();
      return ok;
    }
    if (this.head !== undefined) {
      s.cork();
      this.flushHead(s);
      const ok = s.write(chunk);
      s.uncork();
      return ok;
    }
    return s.write(chunk);
  }

  /** Ends the response (with a last chunk of body). */
  end(chunk?: Buffer): this {
    if (this.writableEnded) return this;
    const s = this.conn.socket;
    if (!this.headersSent) this.writeHead(200, { 'content-length': String(chunk?.length ?? 0) });
    this.writableEnded = true;
    if (!s.destroyed) {
      const body = this.noBody ? undefined : chunk;
      if (this.head !== undefined && !this.chunked) {
        // The common case: head and body in one write (one syscall, one TLS record).
        const head = this.head;
        this.head = undefined;
        if (body === undefined || body.length === 0) s.write(head, 'latin1');
        else if (body.length <= 4096) {
          const buf = Buffer.allocUnsafe(head.length + body.length);
          buf.write(head, 0, 'latin1');
          body.copy(buf, head.length);
          s.write(buf);
        } else {
          s.cork();
          s.write(head, 'latin1');
          s.write(body);
          s.uncork();
        }
      } else {
        s.cork();
        this.flushHead(s);
        if (this.chunked) {
          if (body !== undefined && body.length > 0) {
            s.write(`${body.length.toString(16)}\r\n`, 'latin1');
            s.write(body);
            s.write('\r\n', 'latin1');
          }
          s.write(LAST_CHUNK);
        } else if (body !== undefined && body.length > 0) s.write(body);
        s.uncork();
      }
    }
    this.writableFinished = true;
    this.onClose = undefined;
    this.onDrain = undefined;
    this.conn.ended(this);
    return this;
  }

  /** Holds writes until uncork() (the socket's). */
  cork(): void {
    this.conn.socket.cork();
  }

  uncork(): void {
    this.conn.socket.uncork();
  }

  /** Closes the client connection (a response that cannot be completed). */
  destroy(): void {
    this.conn.socket.destroy();
  }

  /** The proxy's two events: `close` (client gone before the end) and `drain`. */
  once(event: 'close' | 'drain', fn: () => void): this {
    if (event === 'close') this.onClose = fn;
    else this.onDrain = fn;
    return this;
  }

  private flushHead(s: Socket): void {
    if (this.head === undefined) return;
    s.write(this.head, 'latin1');
    this.head = undefined;
  }
}

const noop = () => undefined;
const ended: FrontRequest['resume'] = noop;

/** One client connection while the front serves it. */
class FrontConnection {
  /** Bytes read and not yet parsed (a partial head or pipelined requests). */
  private buf: Buffer | undefined;
  private current: FrontResponse | undefined;
  private closeAfter = false;
  private clientEnded = false;
  private readonly onData = (d: Buffer) => this.data(d);
  private readonly onEnd = () => this.end();
  private readonly onSocketClose = () => this.closed();
  private readonly onSocketDrain = () => {
    const fn = this.current?.onDrain;
    if (fn) {
      this.current!.onDrain = undefined;
      fn();
    }
  };

  constructor(
    readonly front: Http1Front,
    readonly socket: Socket,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onSocketClose);
    socket.on('drain', this.onSocketDrain);
    socket.on('error', noop); // 'close' follows
    socket.setTimeout(front.keepAliveTimeoutMs);
    socket.on('timeout', () => {
      if (!this.current) socket.destroy();
    });
  }

  /** Whether this connection closes after the current response. */
  closing(): boolean {
    return this.closeAfter || this.clientEnded || this.front.draining;
  }

  /** Ends an idle connection (the server drains). */
  closeIfIdle(): void {
    if (!this.current) this.socket.end();
  }

  private data(d: Buffer): void {
    this.buf = this.buf === undefined ? d : Buffer.concat([this.buf, d]);
    if (this.current) {
      if (this.buf.length > MAX_PIPELINED) this.socket.pause();
      return;
    }
    this.next();
  }

  /** Serves what the buffer holds, one request at a time. */
  private next(): void {
    while (this.buf !== undefined && !this.current && !this.socket.destroyed) {
      const buf = this.buf;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (buf.length > MAX_HEAD) return this.handOver();
        return;
      }
      const req = parseHead(buf.toString('latin1', 0, end), this.socket);
      if (!req) return this.handOver();
      this.buf = end + 4 === buf.length ? undefined : buf.subarray(end + 4);
      const conn = req.headers.connection;
      if (conn !== undefined && /(?:^|[\s,])close(?:$|[\s,])/i.test(conn)) this.closeAfter = true;
      const res = new FrontResponse(this, req.method === 'HEAD');
      this.current = res;
      try {
        this.front.handler(req, res);
      } catch (err) {
        this.front.onError(err);
        this.socket.destroy();
        return;
      }
    }
    if (this.buf === undefined && this.socket.isPaused()) this.socket.resume();
  }

  /** @internal The current response ended: close, or go on with the next request. */
  ended(res: FrontResponse): void {
    if (this.current !== res) return;
    this.current = undefined;
    if (this.closing()) {
      this.socket.end();
      return;
    }
    if (this.buf !== undefined) {
      if (this.socket.isPaused()) this.socket.resume();
      // Not from inside the proxy's end(): let its bookkeeping finish first.
      process.nextTick(() => this.next());
    }
  }

  /** Gives the connection and the bytes read so far to the Node server. */
  private handOver(): void {
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onSocketClose);
    s.off('drain', this.onSocketDrain);
    s.off('error', noop);
    s.removeAllListeners('timeout');
    s.setTimeout(0);
    this.front.forget(this);
    // Paused so nothing is emitted before Node's listeners are on; Node's 'data' listener then resumes it.
    s.pause();
    if (this.buf !== undefined) s.unshift(this.buf);
    this.buf = undefined;
    this.front.fallback(s);
    s.resume();
  }

  /**
   * The client closed its side. As Node's http server (no half-open
   * connections): a response in flight is abandoned, which tells the proxy
   * to cancel its upstream request, as nginx does when a client goes away.
   */
  private end(): void {
    this.clientEnded = true;
    if (this.current) this.socket.destroy();
    else this.socket.end();
  }

  private closed(): void {
    this.front.forget(this);
    const res = this.current;
    this.current = undefined;
    const fn = res?.onClose;
    if (res && fn) {
      res.onClose = undefined;
      fn();
    }
  }
}

/**
 * Parses a request head (without its blank line) into a request the front
 * serves, or undefined for one to leave to Node.
 */
export function parseHead(text: string, socket: Socket): FrontRequest | undefined {
  const eol = text.indexOf('\r\n');
  const line = eol < 0 ? text : text.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 <= sp1 || line.length - sp2 !== 9 || !line.endsWith('HTTP/1.1')) return undefined;
  const method = line.slice(0, sp1);
  const url = line.slice(sp1 + 1, sp2);
  if (!TOKEN.test(method) || !TARGET.test(url)) return undefined;
  const rawHeaders: string[] = [];
  const headers: IncomingHttpHeaders = {};
  if (eol >= 0) {
    for (let pos = eol + 2; pos <= text.length; ) {
      let end = text.indexOf('\r\n', pos);
      if (end < 0) end = text.length;
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon > end) return undefined; // also obs-fold (a leading space) and bare LF
      const name = text.slice(pos, colon);
      const value = fieldValueOf(text, colon, end);
      pos = end + 2;
      if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return undefined;
      rawHeaders.push(name, value);
      // Only the names the proxy or this parser looks at are lower-cased (by length first).
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'host') {
            if (headers.host !== undefined) return undefined;
            headers.host = value;
          }
          break;
        case 6:
          if (name.toLowerCase() === 'expect') return undefined;
          break;
        case 7:
          if (name.toLowerCase() === 'upgrade') return undefined;
          break;
        case 10:
          if (name.toLowerCase() === 'connection') headers.connection = headers.connection === undefined ? value : `${headers.connection}, ${value}`;
          break;
        case 12:
          if (name.toLowerCase() === 'x-request-id' && headers['x-request-id'] === undefined) headers['x-request-id'] = value;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (value !== '0' || headers['content-length'] !== undefined) return undefined;
            headers['content-length'] = value;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') return undefined;
          break;
      }
    }
  }
  return { method, url, headers, rawHeaders, socket, readableEnded: true, resume: ended };
}

/** Options of the front. */
export interface Http1FrontOptions {
  /** Idle keep-alive time of a client connection, ms. */
  keepAliveTimeoutMs: number;
  /** Told about a handler that threw (the connection is closed). */
  onError?: (err: unknown) => void;
}

/**
 * Takes over the connections of a Node http server (`connection`) or https
 * server (`secureConnection`): serves the common requests itself and hands
 * the rest, connection and all, to the server's own listener.
 */
export class Http1Front {
  readonly keepAliveTimeoutMs: number;
  draining = false;
  readonly onError: (err: unknown) => void;
  private readonly conns = new Set<FrontConnection>();
  private readonly nodeListener: (socket: Socket) => void;

  constructor(
    private readonly server: HttpServer | NetServer,
    readonly handler: FrontHandler,
    o: Http1FrontOptions,
  ) {
    this.keepAliveTimeoutMs = o.keepAliveTimeoutMs;
    this.onError = o.onError ?? noop;
    // An https.Server is a tls.Server whose HTTP listener is on 'secureConnection'.
    const event = 'addContext' in server ? 'secureConnection' : 'connection';
    const listeners = server.listeners(event) as Array<(socket: Socket) => void>;
    if (listeners.length !== 1) throw new Error(`expected one '${event}' listener on the server, found ${listeners.length}`);
    this.nodeListener = listeners[0]!;
    server.removeListener(event, this.nodeListener);
    server.on(event, (socket: Socket) => {
      if (this.draining) return this.fallback(socket);
      this.conns.add(new FrontConnection(this, socket));
    });
  }

  /** Connections the front serves now (tests). */
  get size(): number {
    return this.conns.size;
  }

  /** @internal Gives a socket to the Node server. */
  fallback(socket: Socket): void {
    this.nodeListener.call(this.server, socket);
  }

  /** @internal */
  forget(conn: FrontConnection): void {
    this.conns.delete(conn);
  }

  /** Stops keeping connections alive: idle ones end now, busy ones after their response. */
  closeIdle(): void {
    this.draining = true;
    for (const c of this.conns) c.closeIfIdle();
  }

  /** Closes every connection the front serves. */
  destroyAll(): void {
    for (const c of this.conns) c.socket.destroy();
  }
}
