/**
 * A lean etcd KV client for the store's hot path: unary Range and Txn, and
 * the bidirectional Watch stream, over one HTTP/2 (h2c) session, gRPC
 * framing and the hand-written protobuf of etcd-proto.ts. etcd3 (grpc-js +
 * protobufjs) spent ~0.55 ms of CPU per unary call in the apiserver, its
 * largest single cost, and receiving watch events through it cost ~19 us
 * per create (~10 us here); leases and compaction stay on etcd3.
 *
 * One session at a time, to one endpoint; when it fails (refused, reset,
 * no PING answer) the next endpoint is tried, each failed endpoint waiting
 * out a back-off (100 ms doubling to 2 s) before it is dialled again.
 * Recoverable failures (UNAVAILABLE, leader changed, deadline...) are tried
 * once more after 50 ms, as the store's etcd3 fault handling did.
 */
import http2 from 'node:http2';
import type { Logger } from '@flotilla/observability';
import {
  GRPC_FRAME_HEADER,
  decodeRangeResponse,
  decodeTxnResponse,
  decodeWatchResponse,
  encodeRangeFrame,
  encodeTxnFrame,
  encodeWatchRequestFrame,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
  type WatchRequest,
  type WatchResponse,
} from './etcd-proto.js';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAME: string[] = [];
for (const [name, code] of Object.entries(GrpcStatus)) STATUS_NAME[code] = name;

/** The codes etcd3 treated as transient (its RecoverableError classes): retried once, and 503 in the store. */
const RECOVERABLE = new Set<number>([
  GrpcStatus.CANCELLED,
  GrpcStatus.UNKNOWN,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNAVAILABLE,
]);

/**
 * A failed etcd call. The message reads like grpc-js's (`14 UNAVAILABLE:
 * etcdserver: leader changed`), so code matching on messages (etcd-errors.ts)
 * treats it as it treated etcd3's errors.
 */
export class EtcdCallError extends Error {
  /** True for failures worth retrying (connection trouble, etcd busy or between leaders). */
  readonly recoverable: boolean;
  constructor(
    /** The gRPC status code. */
    readonly code: number,
    /** etcd's own text (grpc-message), or what went wrong locally. */
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAME[code] ?? 'UNKNOWN'}: ${details}`);
    this.name = 'EtcdCallError';
    this.recoverable = RECOVERABLE.has(code);
  }
}

/** True when `err` is an EtcdCallError worth retrying (see EtcdCallError.recoverable). */
export function isRecoverableCallError(err: unknown): boolean {
  return err instanceof EtcdCallError && err.recoverable;
}

/**
 * A timer for a deadline on an answer from etcd, run by `expire` unless
 * cancelled first. After a stall of this process (a long GC pause, a starved
 * CPU) the deadline and etcd's answer fall due in the same turn of the event
 * loop, and timers run before sockets are read: the answer already received
 * would be taken for no answer (a call retried, and a create then meets
 * itself; a session dropped under its calls and watches). So when the timer
 * falls due, that turn's I/O goes first; only what is still unanswered after
 * it has missed the deadline.
 */
function deadlineTimer(ms: number, expire: () => void, options: { unref?: boolean } = {}): { cancel(): void } {
  let cancelled = false;
  const timer = setTimeout(() => setImmediate(() => cancelled || expire()), Math.max(0, ms));
  if (options.unref) timer.unref();
  return {
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}

/** How to reach etcd. */
export interface EtcdKvOptions {
  /** Client URLs, `http://host:port` (TLS is not supported). */
  endpoints: string[];
  /** Deadline of each call (sent to etcd as grpc-timeout too). Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Giving up on dialling one endpoint after this long. Default min(requestTimeoutMs, 3000) ms. */
  connectTimeoutMs?: number;
  /** With calls in flight and nothing heard for this long, PING etcd. Default 15,000 ms. */
  keepaliveTimeMs?: number;
  /** A PING unanswered for this long closes the session (its calls fail, the next endpoint is tried). Default 5000 ms. */
  keepaliveTimeoutMs?: number;
  /** Largest response accepted. Default 1 GiB (lists of 10,000+ objects). */
  maxReceiveMessageBytes?: number;
  /** Largest request sent. Default 64 MiB. */
  maxSendMessageBytes?: number;
  /** First reconnect back-off of a failed endpoint; doubles up to maxBackoffMs. Default 100 ms. */
  initialBackoffMs?: number;
  /** Default 2000 ms. */
  maxBackoffMs?: number;
  logger?: Logger;
}

/** Per-endpoint dialling state. */
interface Endpoint {
  url: string;
  /** Not dialled again before this time (ms since epoch). */
  retryAt: number;
  backoffMs: number;
  /** Why it last failed, repeated while it backs off. */
  lastError: string;
}

/** One HTTP/2 session to one endpoint. */
interface Session {
  endpoint: Endpoint;
  h2: http2.ClientHttp2Session;
  /** Calls in flight on it. */
  active: number;
  /** When anything was last received (ms). */
  heardAt: number;
  pinging: boolean;
  lastPingAt: number;
  /** Streams opened on it: HTTP/2 stream ids run out at 2^31. */
  streams: number;
}

/** A session is replaced (gracefully) after this many streams, well before HTTP/2's odd stream ids run out. */
const MAX_STREAMS_PER_SESSION = 1_000_000_000;

const RANGE_PATH = '/etcdserverpb.KV/Range';
const TXN_PATH = '/etcdserverpb.KV/Txn';
const WATCH_PATH = '/etcdserverpb.Watch/Watch';
// A watch stream has no deadline (as etcd3 opened it).
const WATCH_HEADERS: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': WATCH_PATH, 'content-type': 'application/grpc', te: 'trailers' };

const HTTP2_WINDOW = 16 * 1024 * 1024;
/** A response at least this large is gathered into a buffer of its size as it arrives (see send). */
const LARGE_MESSAGE = 256 * 1024;
const REQUEST_OPTIONS: http2.ClientSessionRequestOptions = { endStream: false };

/** An open etcd Watch stream (see EtcdKv.openWatch). */
export interface EtcdWatchStream {
  /** Sends a WatchRequest (create or cancel); ignored once the stream has ended. */
  write(req: WatchRequest): void;
  /** Ends the stream from this side; no callback follows. */
  cancel(): void;
}

/** Callbacks of a Watch stream, called from the session's I/O. */
export interface EtcdWatchHandlers {
  /** One WatchResponse, in the order etcd sent them. */
  onResponse(res: WatchResponse): void;
  /** The stream ended on etcd's side or the connection's (once; never after cancel()). */
  onEnd(err: EtcdCallError): void;
}

/**
 * etcd's KV service for Range and Txn, and its Watch service. Calls made before the first
 * connection or while reconnecting wait for the dial (bounded by their
 * deadline); with every endpoint down and backing off they fail at once
 * with UNAVAILABLE, as gRPC does without wait-for-ready.
 */
export class EtcdKv {
  private readonly endpoints: Endpoint[];
  private readonly timeoutMs: number;
  private readonly rangeHeaders: http2.OutgoingHttpHeaders;
  private readonly txnHeaders: http2.OutgoingHttpHeaders;
  private readonly connectTimeoutMs: number;
  private readonly keepaliveTimeMs: number;
  private readonly keepaliveTimeoutMs: number;
  private readonly maxReceive: number;
  private readonly maxSend: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger | undefined;
  /** The endpoint to dial next. */
  private next = 0;
  private session: Session | undefined;
  private dialling: Promise<Session> | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Calls made and calls retried (for tests and metrics). */
  readonly stats = { calls: 0, retries: 0, sessions: 0 };

  constructor(options: EtcdKvOptions) {
    if (!options.endpoints?.length) throw new Error('EtcdKv needs at least one etcd endpoint');
    this.endpoints = options.endpoints.map((url) => {
      const u = new URL(url.includes('://') ? url : `http://${url}`);
      if (u.protocol !== 'http:') throw new Error(`EtcdKv supports http:// endpoints only, got ${url}`);
      return { url: u.origin, retryAt: 0, backoffMs: 0, lastError: '' };
    });
    this.timeoutMs = options.requestTimeoutMs ?? 5000;
    // gRPC allows at most 8 digits per unit.
    const grpcTimeout = this.timeoutMs < 1e8 ? `${Math.max(1, Math.ceil(this.timeoutMs))}m` : `${Math.ceil(this.timeoutMs / 1000)}S`;
    // Built once: http2 copies them per request.
    const headers = (path: string) => ({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': grpcTimeout });
    this.rangeHeaders = headers(RANGE_PATH);
    this.txnHeaders = headers(TXN_PATH);
    this.connectTimeoutMs = options.connectTimeoutMs ?? Math.min(this.timeoutMs, 3000);
    this.keepaliveTimeMs = options.keepaliveTimeMs ?? 15_000;
    this.keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 5000;
    this.maxReceive = options.maxReceiveMessageBytes ?? 1024 * 1024 * 1024;
    this.maxSend = options.maxSendMessageBytes ?? 64 * 1024 * 1024;
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
    this.log = options.logger;
    // Spread several clients of one cluster over its members.
    this.next = Math.floor(Math.random() * this.endpoints.length);
  }

  /** The endpoint of the open session, if any (for logs and tests). */
  get connectedEndpoint(): string | undefined {
    const s = this.session;
    return s && !s.h2.closed && !s.h2.destroyed ? s.endpoint.url : undefined;
  }

  /** etcd's KV.Range. */
  range(req: RangeRequest): Promise<RangeResponse> {
    return this.call(this.rangeHeaders, encodeRangeFrame(req), decodeRangeResponse);
  }

  /** etcd's KV.Txn. */
  txn(req: TxnRequest): Promise<TxnResponse> {
    return this.call(this.txnHeaders, encodeTxnFrame(req), decodeTxnResponse);
  }

  /**
   * Opens etcd's bidirectional Watch stream on the session, dialling one
   * first if needed (bounded by the request timeout). While it is open the
   * session counts as busy, so a silent etcd under a quiet watch is PINGed
   * and, unanswered, dropped: the stream then ends with UNAVAILABLE.
   */
  openWatch(handlers: EtcdWatchHandlers): Promise<EtcdWatchStream> {
    const s = this.session;
    if (s && !s.h2.closed && !s.h2.destroyed) {
      try {
        return Promise.resolve(this.startWatch(s, handlers));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.connect(Date.now() + this.timeoutMs).then((session) => this.startWatch(session, handlers));
  }

  /** Closes the session; calls in flight fail with CANCELLED, later calls are refused. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    const s = this.session;
    this.session = undefined;
    s?.h2.destroy();
  }

  private async call<T>(headers: http2.OutgoingHttpHeaders, frame: Buffer, decode: (msg: Buffer) => T): Promise<T> {
    if (frame.length - GRPC_FRAME_HEADER > this.maxSend) {
      throw new EtcdCallError(GrpcStatus.RESOURCE_EXHAUSTED, `request of ${frame.length - GRPC_FRAME_HEADER} bytes exceeds the limit of ${this.maxSend}`);
    }
    this.stats.calls++;
    try {
      return await this.attempt(headers, frame, decode);
    } catch (err) {
      if (!isRecoverableCallError(err) || this.closed) throw err;
      // One quick retry, on a fresh connection when the failure was the connection's.
      this.stats.retries++;
      await new Promise((r) => setTimeout(r, 50));
      return this.attempt(headers, frame, decode);
    }
  }

  private attempt<T>(headers: http2.OutgoingHttpHeaders, frame: Buffer, decode: (msg: Buffer) => T): Promise<T> {
    const s = this.session;
    if (s && !s.h2.closed && !s.h2.destroyed) return this.send(s, headers, frame, decode, Date.now() + this.timeoutMs);
    const deadline = Date.now() + this.timeoutMs;
    return this.connect(deadline).then((session) => this.send(session, headers, frame, decode, deadline));
  }

  // ------------------------------------------------------------ connections

  /** The open session, dialling endpoints in turn until one answers; shared by every caller waiting. */
  private connect(deadline: number): Promise<Session> {
    if (this.closed) return Promise.reject(new EtcdCallError(GrpcStatus.CANCELLED, 'etcd client is closed'));
    const s = this.session;
    if (s && !s.h2.closed && !s.h2.destroyed) return Promise.resolve(s);
    this.dialling ??= this.dialAny().finally(() => {
      this.dialling = undefined;
    });
    const dial = this.dialling;
    const wait = deadline - Date.now();
    if (wait <= 0) return Promise.reject(new EtcdCallError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded while connecting to etcd'));
    // A caller's deadline may end before the dial does.
    return new Promise<Session>((resolve, reject) => {
      const timer = deadlineTimer(wait, () => reject(new EtcdCallError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded while connecting to etcd')));
      dial.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (e: unknown) => {
          timer.cancel();
          reject(e);
        },
      );
    });
  }

  private async dialAny(): Promise<Session> {
    const errors: string[] = [];
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      if (this.closed) throw new EtcdCallError(GrpcStatus.CANCELLED, 'etcd client is closed');
      const ep = this.endpoints[(this.next + i) % n]!;
      if (ep.retryAt > Date.now()) {
        errors.push(`${ep.url}: ${ep.lastError} (backing off)`);
        continue;
      }
      try {
        const s = await this.dial(ep);
        this.next = (this.next + i) % n;
        return s;
      } catch (err) {
        this.failed(ep, (err as Error).message);
        errors.push(`${ep.url}: ${(err as Error).message}`);
      }
    }
    throw new EtcdCallError(GrpcStatus.UNAVAILABLE, `No connection established to etcd (${errors.join('; ')})`);
  }

  private failed(ep: Endpoint, why: string): void {
    ep.lastError = why;
    ep.backoffMs = ep.backoffMs ? Math.min(ep.backoffMs * 2, this.maxBackoffMs) : this.initialBackoffMs;
    ep.retryAt = Date.now() + ep.backoffMs;
  }

  private dial(ep: Endpoint): Promise<Session> {
    return new Promise<Session>((resolve, reject) => {
      const h2 = http2.connect(ep.url, {
        settings: { initialWindowSize: HTTP2_WINDOW, enablePush: false },
        // Large responses are buffered per stream until complete.
        maxSessionMemory: 256,
      });
      let settled = false;
      const timer = deadlineTimer(this.connectTimeoutMs, () => {
        if (settled) return;
        settled = true;
        h2.destroy();
        reject(new Error(`no answer within ${this.connectTimeoutMs} ms`));
      });
      // 'on', not 'once': a second error after the first must not go unhandled.
      h2.on('error', (err) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        h2.destroy();
        reject(err);
      });
      // 'remoteSettings' proves an HTTP/2 server answers, not just a socket.
      h2.once('remoteSettings', () => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (this.closed) {
          h2.destroy();
          reject(new EtcdCallError(GrpcStatus.CANCELLED, 'etcd client is closed'));
          return;
        }
        h2.setLocalWindowSize(HTTP2_WINDOW);
        const s: Session = { endpoint: ep, h2, active: 0, heardAt: Date.now(), pinging: false, lastPingAt: 0, streams: 0 };
        this.adopt(s);
        resolve(s);
      });
    });
  }

  /** Makes `s` the current session and watches for its end. */
  private adopt(s: Session): void {
    const { h2, endpoint } = s;
    this.session = s;
    this.stats.sessions++;
    endpoint.backoffMs = 0;
    endpoint.retryAt = 0;
    // The session must not keep the process alive on its own.
    h2.unref();
    const drop = (why: string, failedEndpoint: boolean) => {
      if (this.session !== s) return;
      this.session = undefined;
      if (failedEndpoint) this.failed(endpoint, why);
      // The next dial starts with the next endpoint: this one just failed us.
      this.next = (this.endpoints.indexOf(endpoint) + 1) % this.endpoints.length;
      if (!this.closed) this.log?.warn({ endpoint: endpoint.url, reason: why }, 'etcd connection lost');
    };
    h2.on('error', (err) => drop(err.message, true));
    h2.on('goaway', (code) => drop(`GOAWAY ${code}`, code !== http2.constants.NGHTTP2_NO_ERROR));
    h2.on('close', () => drop('closed', true));
    h2.on('frameError', (type, code) => drop(`frame error ${type}/${code}`, true));
    this.keepaliveTimer ??= setInterval(() => this.keepalive(), Math.max(100, Math.min(this.keepaliveTimeMs, 1000)));
    this.keepaliveTimer.unref();
  }

  /** Stops sending new calls on `s`; its calls in flight finish, the next call dials afresh. */
  private retire(s: Session): void {
    if (this.session === s) this.session = undefined;
    s.h2.close();
  }

  /** With calls waiting and etcd silent for keepaliveTimeMs, a PING; no answer in keepaliveTimeoutMs ends the session. */
  private keepalive(): void {
    const s = this.session;
    if (!s || s.active === 0 || s.pinging) return;
    const now = Date.now();
    if (now - s.heardAt < this.keepaliveTimeMs) return;
    this.ping(s);
  }

  private ping(s: Session): void {
    const now = Date.now();
    // etcd (grpc-go) sends GOAWAY to a client that PINGs more often than every 5 s.
    if (s.pinging || now - s.lastPingAt < 5000 || s.h2.destroyed) return;
    s.pinging = true;
    s.lastPingAt = now;
    const timer = deadlineTimer(this.keepaliveTimeoutMs, () => {
      if (!s.pinging) return;
      this.log?.warn({ endpoint: s.endpoint.url, timeoutMs: this.keepaliveTimeoutMs }, 'etcd did not answer a PING; reconnecting');
      s.h2.destroy(new Error(`etcd did not answer a PING within ${this.keepaliveTimeoutMs} ms`));
    }, { unref: true });
    const sent = s.h2.ping((err) => {
      s.pinging = false;
      timer.cancel();
      if (!err) s.heardAt = Date.now();
    });
    if (!sent) {
      s.pinging = false;
      timer.cancel();
    }
  }

  // ---------------------------------------------------------------- watches

  private startWatch(s: Session, handlers: EtcdWatchHandlers): EtcdWatchStream {
    const stream = this.openStream(s, WATCH_HEADERS);
    let ended = false;
    let status: number | undefined;
    let message = '';
    const stop = () => {
      if (ended) return false;
      ended = true;
      s.active--;
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      return true;
    };
    const end = (err: EtcdCallError) => {
      if (stop()) handlers.onEnd(err);
    };
    const readStatus = (headers: http2.IncomingHttpHeaders) => {
      const got = grpcStatusOf(headers);
      if (!got) return;
      status = got.status;
      if (got.message) message = got.message;
    };
    const frames = new FrameReader(this.maxReceive);
    const deliver = (msg: Buffer): boolean => {
      let res: WatchResponse;
      try {
        res = decodeWatchResponse(msg);
      } catch (err) {
        end(new EtcdCallError(GrpcStatus.INTERNAL, (err as Error).message));
        return false;
      }
      handlers.onResponse(res);
      // The handler may have cancelled the stream.
      return !ended;
    };
    stream.on('response', (headers) => {
      s.heardAt = Date.now();
      const code = headers[':status'];
      if (code !== 200) {
        end(new EtcdCallError(httpToGrpc(Number(code)), `etcd answered HTTP ${code}`));
        return;
      }
      readStatus(headers); // a trailers-only answer: the stream is refused
    });
    stream.on('data', (chunk: Buffer) => {
      s.heardAt = Date.now();
      if (ended) return;
      try {
        frames.push(chunk, deliver);
      } catch (err) {
        end(err instanceof EtcdCallError ? err : new EtcdCallError(GrpcStatus.INTERNAL, (err as Error).message));
      }
    });
    stream.on('trailers', (headers) => {
      s.heardAt = Date.now();
      readStatus(headers);
    });
    stream.on('error', () => {
      // Reported on 'close'.
    });
    stream.on('close', () => {
      if (ended) return;
      if (status !== undefined && status !== GrpcStatus.OK) {
        end(new EtcdCallError(status, message || `etcd ended the watch stream with status ${status}`));
        return;
      }
      const why = status === GrpcStatus.OK ? 'etcd ended the watch stream' : s.h2.destroyed || s.h2.closed ? 'connection to etcd lost' : `watch stream reset (code ${stream.rstCode})`;
      end(new EtcdCallError(GrpcStatus.UNAVAILABLE, why));
    });
    return {
      write: (req) => {
        if (!ended) stream.write(encodeWatchRequestFrame(req));
      },
      cancel: () => {
        stop();
      },
    };
  }

  // ------------------------------------------------------------------ calls

  /** A new stream on the session, counted busy until its caller's end; a session near its stream limit is retired. */
  private openStream(s: Session, headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = s.h2.request(headers, REQUEST_OPTIONS);
    } catch (err) {
      throw new EtcdCallError(GrpcStatus.UNAVAILABLE, `etcd connection unusable: ${(err as Error).message}`);
    }
    s.active++;
    if (++s.streams >= MAX_STREAMS_PER_SESSION) this.retire(s);
    return stream;
  }

  private send<T>(s: Session, headers: http2.OutgoingHttpHeaders, frame: Buffer, decode: (msg: Buffer) => T, deadline: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.openStream(s, headers);
      } catch (err) {
        reject(err);
        return;
      }
      let done = false;
      let status: number | undefined;
      let message = '';
      // Usually one DATA chunk holds the whole message; more are gathered. A large one (a range of 10,000 pods is
      // 31 MB) is copied into a buffer of its size, known from the frame header, as its chunks arrive: copied at the
      // end in one go, it held the event loop for tens of milliseconds, and its chunks and the copy were both held.
      let first: Buffer | undefined;
      let chunks: Buffer[] | undefined;
      let whole: Buffer | undefined;
      let received = 0;
      const finish = (err: EtcdCallError | undefined, value?: T) => {
        if (done) return;
        done = true;
        s.active--;
        timer.cancel();
        if (err) {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(err);
        } else resolve(value as T);
      };
      const sentAt = Date.now();
      let answeredAt = 0;
      const timer = deadlineTimer(deadline - sentAt, () => {
        // Where the time went, for the one who must find out why etcd was late: no answer at all, or an answer cut short.
        this.log?.warn(
          { call: headers[':path'], ms: Date.now() - sentAt, answeredAfterMs: answeredAt ? answeredAt - sentAt : undefined, bytes: received, sessionCalls: s.active, sessionSilentMs: Date.now() - s.heardAt },
          'etcd call missed its deadline',
        );
        finish(new EtcdCallError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded'));
        // A silent etcd may be a dead one: check the connection now rather than in keepaliveTimeMs.
        this.ping(s);
      });
      const readStatus = (headers: http2.IncomingHttpHeaders) => {
        const got = grpcStatusOf(headers);
        if (!got) return;
        status = got.status;
        if (got.message) message = got.message;
      };
      stream.on('response', (headers) => {
        s.heardAt = answeredAt = Date.now();
        const code = headers[':status'];
        if (code !== 200) {
          finish(new EtcdCallError(httpToGrpc(Number(code)), `etcd answered HTTP ${code}`));
          return;
        }
        readStatus(headers); // trailers-only answers carry the status here
      });
      stream.on('data', (chunk: Buffer) => {
        const at = received;
        received += chunk.length;
        if (received > this.maxReceive + GRPC_FRAME_HEADER) {
          finish(new EtcdCallError(GrpcStatus.RESOURCE_EXHAUSTED, `response larger than the limit of ${this.maxReceive} bytes`));
          return;
        }
        if (whole) {
          // More than the header said is caught by the length check at the end.
          if (received <= whole.length) chunk.copy(whole, at);
          return;
        }
        if (first) {
          (chunks ??= [first]).push(chunk);
          return;
        }
        first = chunk;
        const size = chunk.length >= GRPC_FRAME_HEADER ? GRPC_FRAME_HEADER + chunk.readUInt32BE(1) : 0;
        if (size >= LARGE_MESSAGE && size > chunk.length && size <= this.maxReceive + GRPC_FRAME_HEADER) {
          whole = Buffer.allocUnsafeSlow(size);
          chunk.copy(whole, 0);
          first = undefined;
        }
      });
      stream.on('trailers', (headers) => {
        s.heardAt = Date.now();
        readStatus(headers);
      });
      stream.on('error', () => {
        // Reported on 'close' with the stream's RST code.
      });
      stream.on('close', () => {
        if (done) return;
        if (status === undefined) {
          const rst = stream.rstCode;
          const why = rst === http2.constants.NGHTTP2_REFUSED_STREAM ? 'stream refused' : s.h2.destroyed || s.h2.closed ? 'connection to etcd lost' : `stream reset (code ${rst})`;
          finish(new EtcdCallError(GrpcStatus.UNAVAILABLE, why));
          return;
        }
        if (status !== GrpcStatus.OK) {
          finish(new EtcdCallError(status, message || `etcd answered status ${status}`));
          return;
        }
        if (whole && received !== whole.length) {
          finish(new EtcdCallError(GrpcStatus.INTERNAL, `etcd sent ${received - GRPC_FRAME_HEADER} bytes for a message of ${whole.length - GRPC_FRAME_HEADER}`));
          return;
        }
        const body = whole ?? (chunks ? Buffer.concat(chunks, received) : first);
        if (!body || body.length < GRPC_FRAME_HEADER) {
          finish(new EtcdCallError(GrpcStatus.INTERNAL, 'etcd answered OK without a message'));
          return;
        }
        if (body[0] !== 0) {
          finish(new EtcdCallError(GrpcStatus.INTERNAL, 'etcd sent a compressed message, which was not asked for'));
          return;
        }
        const len = body.readUInt32BE(1);
        if (len + GRPC_FRAME_HEADER !== body.length) {
          finish(new EtcdCallError(GrpcStatus.INTERNAL, `etcd sent ${body.length - GRPC_FRAME_HEADER} bytes for a message of ${len}`));
          return;
        }
        let value: T;
        try {
          value = decode(body.subarray(GRPC_FRAME_HEADER));
        } catch (err) {
          finish(new EtcdCallError(GrpcStatus.INTERNAL, (err as Error).message));
          return;
        }
        finish(undefined, value);
      });
      stream.end(frame);
    });
  }
}

/** The grpc-status (and decoded grpc-message, '' when none) of response headers or trailers; undefined without one. */
function grpcStatusOf(headers: http2.IncomingHttpHeaders): { status: number; message: string } | undefined {
  const st = headers['grpc-status'];
  if (st === undefined) return undefined;
  const m = headers['grpc-message'];
  return { status: Number(st), message: typeof m === 'string' && m ? decodeGrpcMessage(m) : '' };
}

/** Reads gRPC frames (flag byte, 4-byte length, message) from a stream's DATA chunks, however they are cut. */
export class FrameReader {
  private parts: Buffer[] = [];
  private have = 0;
  /** Bytes needed (from the start of parts) before the next frame can be read. */
  private need = 0;

  constructor(private readonly maxMessage: number) {}

  /**
   * Feeds a chunk; calls `deliver` with each complete message, in order,
   * until it returns false. Throws EtcdCallError on a compressed or
   * oversized frame.
   */
  push(chunk: Buffer, deliver: (message: Buffer) => boolean): void {
    if (this.have > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return;
      chunk = Buffer.concat(this.parts, this.have);
      this.parts = [];
      this.have = 0;
    }
    let pos = 0;
    for (;;) {
      const left = chunk.length - pos;
      if (left < GRPC_FRAME_HEADER) {
        this.need = GRPC_FRAME_HEADER;
        break;
      }
      if (chunk[pos] !== 0) throw new EtcdCallError(GrpcStatus.INTERNAL, 'etcd sent a compressed message, which was not asked for');
      const len = chunk.readUInt32BE(pos + 1);
      if (len > this.maxMessage) throw new EtcdCallError(GrpcStatus.RESOURCE_EXHAUSTED, `watch response larger than the limit of ${this.maxMessage} bytes`);
      const total = GRPC_FRAME_HEADER + len;
      if (left < total) {
        this.need = total;
        break;
      }
      // A message that shares its chunk is copied: events' values are kept (read cache, watch history), and a view would keep the whole chunk alive.
      const message = pos === 0 && total === chunk.length ? chunk.subarray(GRPC_FRAME_HEADER) : Buffer.from(chunk.subarray(pos + GRPC_FRAME_HEADER, pos + total));
      pos += total;
      if (!deliver(message)) return;
    }
    if (pos < chunk.length) {
      this.parts = [chunk.subarray(pos)];
      this.have = chunk.length - pos;
    }
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(m: string): string {
  if (!m.includes('%')) return m;
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

/** The gRPC spec's mapping of HTTP statuses from a non-gRPC answer. */
function httpToGrpc(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}
