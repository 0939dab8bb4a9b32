/**
 * The data plane: an HTTP(S) reverse proxy. Each request is matched
 * against the current Snapshot (swapped whole by the controller, so a
 * request sees one consistent table from start to end and nothing is
 * reopened), sent to the next ready endpoint of its backend over a
 * keep-alive pool (upstream-client.ts), and streamed both ways without
 * buffering.
 *
 * Failures: no route → 404; a Service missing, without the port, or
 * without ready endpoints → 503 naming it; a connect error or a reset
 * before any response byte, when no request body byte was read, is retried
 * on another endpoint (up to twice), and an endpoint that failed to
 * connect is passed over for a few seconds; other upstream errors → 502, a
 * read timeout → 504. WebSocket (any `Upgrade`) requests are piped on a raw socket.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from '@flotilla/observability';
import { rewritePath } from './annotations.js';
import type { BackendState } from './backends.js';
import type { AccessEntry } from './access-log.js';
import type { IngressMetrics, RouteMeter } from './metrics.js';
import { requestHost, requestPath, type Route, type RouteTable } from './route-table.js';
import { UpstreamPool, type UpstreamError, type UpstreamExchange, type UpstreamHandler } from './upstream-client.js';

/** A backend as the data plane holds it: its state plus a round-robin cursor. */
export interface LiveBackend {
  state: BackendState;
  next: number;
}

/** What the proxy routes with; replaced whole on every change. */
export interface Snapshot {
  table: RouteTable;
  backends: ReadonlyMap<string, LiveBackend>;
  /** Hosts (lower case, wildcards as `*.x`) with a TLS section: HTTP requests to them are redirected unless ssl-redirect is false. */
  tlsHosts: ReadonlySet<string>;
}

/**
 * What handle() reads of a request: Node's IncomingMessage, or a body-less
 * request of the lean front (http1-front.ts).
 */
export interface ProxyRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly socket: { readonly remoteAddress?: string | undefined };
  readonly readableEnded: boolean;
  resume(): unknown;
}

/** What handle() does with a response: Node's ServerResponse, or the lean front's. */
export interface ProxyResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  readonly statusCode: number;
  writeHead(status: number, headers: Record<string, string> | string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): unknown;
  destroy(): unknown;
  cork(): void;
  uncork(): void;
  once(event: 'close' | 'drain', fn: () => void): unknown;
}

/** Options of the data plane. */
export interface ProxyOptions {
  logger: Logger;
  metrics: IngressMetrics;
  /**
   * One access-log line per request: a writer (createAccessLog().write),
   * true for `logger.info(entry, 'access')`, false for none. Default true.
   */
  accessLog?: boolean | ((entry: AccessEntry) => void);
  /** The keep-alive connections to backends; a pool of this proxy's own when unset. */
  pool?: UpstreamPool;
  /**
   * Connect timeout to an endpoint, ms. Default 1000: endpoints are on the
   * local pod network, and a pod that is gone answers nothing (its address
   * fails only after the ARP timeout, seconds later), so a short timeout and
   * one retry elsewhere beat waiting.
   */
  connectTimeoutMs?: number;
  /** Told each endpoint this proxy starts passing over, and until when (the worker pool shares them). */
  onEndpointFailed?: (address: string, until: number) => void;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'http2-settings']);
/**
 * Attempts per request on connect-level errors before any response byte:
 * the first and up to two more, each on another endpoint (ingress-nginx's
 * proxy-next-upstream-tries 3). Issue 9 asks for at least one retry; with
 * only one, the rolling-update test failed a request when two old pods
 * stopped at once while still listed (the agents' drain wait had timed
 * out): both attempts were reset.
 */
const MAX_ATTEMPTS = 3;
/** How long an endpoint that failed to connect is passed over (nginx: fail_timeout 10 s; shorter here, as endpoints churn fast). */
const FAIL_TIMEOUT_MS = 5_000;
/** Errors where the backend never saw (or never answered) the request: safe to try another endpoint. */
const RETRIABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'CONNECT_TIMEOUT', 'UPSTREAM_CLOSED']);
/** A path a rewrite may produce: visible ASCII only (no spaces or CR/LF that would break the request line). */
const PATH_CHARS = /^[\x21-\x7e]+$/;

const idPrefix = randomBytes(8).toString('hex');
let idSeq = 0;
/** A 32-hex-digit request id: a per-process random prefix and a counter (cheaper than 16 random bytes per request). */
function newRequestId(): string {
  idSeq = (idSeq + 1) >>> 0;
  return idPrefix + idSeq.toString(16).padStart(16, '0');
}

const routeLabels = (route: Route) => ({ ingress: route.ingress, host: route.host || '*', path: route.path || '(default)' });
const errCode = (err: unknown): string => {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code ?? 'UNKNOWN';
};

function tlsHostMatches(hosts: ReadonlySet<string>, host: string): boolean {
  if (hosts.has(host)) return true;
  const dot = host.indexOf('.');
  return dot > 0 && hosts.has(`*.${host.slice(dot + 1)}`);
}

/** The reverse proxy; attach handle() and handleUpgrade() to http/https servers. */
export class ProxyServer {
  private snapshot: Snapshot;
  /** @internal */
  readonly log: Logger;
  /** @internal */
  readonly writeAccess: ((entry: AccessEntry) => void) | undefined;
  /** @internal */
  readonly metrics: IngressMetrics;
  /** Each route's meter, found once per route object (a snapshot's routes live as long as it does). */
  private readonly meters = new WeakMap<Route, RouteMeter>();
  /** @internal */
  readonly noRoute: RouteMeter;
  /** @internal */
  readonly pool: UpstreamPool;
  /** Endpoints that refused or timed out a connection, until when they are passed over. */
  private readonly failedUntil = new Map<string, number>();
  private readonly onEndpointFailed: ((address: string, until: number) => void) | undefined;

  constructor(initial: Snapshot, options: ProxyOptions) {
    this.snapshot = initial;
    this.log = options.logger;
    const access = options.accessLog ?? true;
    this.writeAccess = typeof access === 'function' ? access : access ? (e) => this.log.info(e, 'access') : undefined;
    this.metrics = options.metrics;
    this.onEndpointFailed = options.onEndpointFailed;
    this.noRoute = this.metrics.meter({ ingress: '', host: '', path: '' }, '', false);
    this.pool = options.pool ?? new UpstreamPool({ connectTimeoutMs: options.connectTimeoutMs ?? 1_000 });
  }

  /** Swaps the routing snapshot; requests in flight keep the one they started with. */
  setSnapshot(s: Snapshot): void {
    this.snapshot = s;
  }

  /** The current snapshot (tests, status). */
  current(): Snapshot {
    return this.snapshot;
  }

  /** Closes the backend pools. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /**
   * Picks the next endpoint round-robin, skipping the one this request tried
   * already and those that failed within FAIL_TIMEOUT_MS (nginx's
   * max_fails=1 fail_timeout), unless nothing else is left.
   */
  /** @internal */
  pick(b: LiveBackend, avoid: string | undefined): string | undefined {
    if (!b.state.ok) return undefined;
    const list = b.state.addresses;
    if (list.length === 0) return undefined;
    if (b.next > 1e9) b.next = 0;
    // The common case: no failures to skip.
    if (avoid === undefined && this.failedUntil.size === 0) return list[b.next++ % list.length];
    const now = Date.now();
    let fallback: string | undefined;
    for (let i = 0; i < list.length; i++) {
      const a = list[b.next++ % list.length]!;
      if (a === avoid) continue;
      const until = this.failedUntil.get(a);
      if (until !== undefined && until > now) {
        fallback ??= a;
        continue;
      }
      return a;
    }
    // Only the endpoint tried already is left: that one again (a single endpoint gets its retry too).
    return fallback ?? (list.length === 1 ? list[0] : undefined);
  }

  /** The meter of a route (requests by status class, latency). */
  /** @internal */
  meterOf(route: Route): RouteMeter {
    let m = this.meters.get(route);
    if (!m) {
      m = this.metrics.meter(routeLabels(route), route.backend.key);
      this.meters.set(route, m);
    }
    return m;
  }

  /**
   * Passes `address` over until `until` (ms since the epoch): a failure another
   * worker process saw, so each worker need not find a stopped pod itself.
   */
  endpointFailed(address: string, until: number): void {
    if ((this.failedUntil.get(address) ?? 0) < until) this.failedUntil.set(address, until);
  }

  /** Remembers a failure before any response byte, so the next requests avoid the endpoint for a while. */
  /** @internal */
  markFailed(address: string): void {
    const until = Date.now() + FAIL_TIMEOUT_MS;
    this.failedUntil.set(address, until);
    this.onEndpointFailed?.(address, until);
    if (this.failedUntil.size > 4096) {
      const now = Date.now();
      for (const [a, t] of this.failedUntil) if (t <= now) this.failedUntil.delete(a);
    }
  }

  /** Serves one request (the `request` event of an http or https server). */
  handle(req: ProxyRequest, res: ProxyResponse, proto: 'http' | 'https'): void {
    const start = performance.now();
    const snap = this.snapshot;
    const hostHeader = req.headers.host;
    const host = requestHost(hostHeader);
    const url = req.url ?? '/';
    const route = snap.table.match(host, requestPath(url));
    const p = new Proxied(this, req, res, proto, start, host, url, route, (req.headers['x-request-id'] as string | undefined) || newRequestId());

    if (!route) return p.reply(404, 'default backend - 404\n');
    if (proto === 'http' && route.options.sslRedirect && snap.tlsHosts.size > 0 && tlsHostMatches(snap.tlsHosts, host)) {
      req.resume();
      return p.reply(308, '', { location: `https://${hostHeader ?? host}${url}` });
    }
    const backend = snap.backends.get(route.backend.key);
    if (!backend || !backend.state.ok) {
      req.resume();
      return p.reply(503, `503 Service Unavailable: ${backend && !backend.state.ok ? backend.state.message : `service ${route.backend.namespace}/${route.backend.service} unknown`}\n`);
    }
    const limit = route.options.bodyLimit;
    const cl = req.headers['content-length'];
    const declared = cl !== undefined ? Number(cl) : undefined;
    if (limit !== undefined && declared !== undefined && declared > limit) {
      // Read and drop the body so the client sees the answer (closing early makes it a reset).
      req.resume();
      return p.reply(413, '413 Request Entity Too Large\n');
    }
    const chunked = declared === undefined && req.headers['transfer-encoding'] !== undefined;
    const hasBody = chunked || (declared !== undefined && declared > 0);
    const path = route.options.rewriteTarget ? rewritePath(route.options.rewriteTarget, route.path, route.pathType, url) : url;
    if (path !== url && !PATH_CHARS.test(path)) {
      req.resume();
      return p.reply(500, '500 Internal Server Error: the rewrite-target annotation makes an invalid path\n');
    }
    // The request head, built once for every attempt (the framing header last: a chunked body is re-encoded).
    p.head = `${req.method} ${path} HTTP/1.1\r\n${this.upstreamHeaderLines(req, proto, p.reqId)}${chunked ? 'transfer-encoding: chunked\r\n' : ''}\r\n`;
    p.hasBody = hasBody;
    p.chunked = chunked;
    // A client that goes away at any point (before or after the answer started) cancels the
    // upstream exchange; otherwise the upstream connection would wait on a dead response.
    res.once('close', () => p.clientClosed());
    p.attempt(backend);
  }

  /**
   * The header lines sent upstream (each ending in CRLF): the client's, less
   * hop-by-hop ones, those its Connection header names, `Expect`, and any
   * X-Forwarded-*, X-Real-IP and X-Request-Id it sent; then ours.
   */
  private upstreamHeaderLines(req: ProxyRequest, proto: string, reqId: string): string {
    const raw = req.rawHeaders;
    let out = '';
    let connection: string | undefined;
    let forwardedFor: string | undefined;
    let sawHost = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const k = name.toLowerCase(); // V8 returns the same string when it is lower case already
      if (HOP_BY_HOP.has(k) || k === 'expect' || k === 'x-real-ip' || k === 'x-request-id') {
        if (k === 'connection') connection = connection === undefined ? raw[i + 1]! : `${connection}, ${raw[i + 1]!}`;
        continue;
      }
      if (k.startsWith('x-forwarded-')) {
        if (k === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? raw[i + 1]! : `${forwardedFor}, ${raw[i + 1]!}`;
        continue;
      }
      if (k === 'host') sawHost = true;
      out += `${name}: ${raw[i + 1]!}\r\n`;
    }
    // Headers the client's Connection header names are hop-by-hop too (rare: filter then).
    if (connection !== undefined) {
      const tokens = connection.toLowerCase().split(',').map((t) => t.trim()).filter((t) => t && t !== 'close' && t !== 'keep-alive');
      if (tokens.length > 0) out = out.split('\r\n').filter((line) => line && !tokens.includes(line.slice(0, line.indexOf(':')).toLowerCase())).map((l) => `${l}\r\n`).join('');
    }
    const remote = req.socket.remoteAddress ?? '';
    const hostValue = req.headers.host ?? '';
    if (!sawHost) out += `host: ${hostValue}\r\n`;
    out += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ${remote}` : remote}\r\nx-real-ip: ${remote}\r\nx-forwarded-proto: ${proto}\r\nx-forwarded-host: ${hostValue}\r\nx-request-id: ${reqId}\r\n`;
    return out;
  }

  /** Pipes an `Upgrade` request (WebSocket) to an endpoint on a raw socket; the backend's answer decides. */
  handleUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, proto: 'http' | 'https'): void {
    // Hold what the client sends until the upstream socket is there to take it (pipe resumes).
    client.pause();
    const snap = this.snapshot;
    const host = requestHost(req.headers.host);
    const url = req.url ?? '/';
    const route = snap.table.match(host, requestPath(url));
    const fail = (status: number, text: string) => {
      client.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${text.length + 1}\r\nconnection: close\r\n\r\n${text}\n`);
      (route ? this.meterOf(route) : this.noRoute).countStatus(status);
    };
    if (!route) return fail(404, 'Not Found');
    const backend = snap.backends.get(route.backend.key);
    const target = backend ? this.pick(backend, undefined) : undefined;
    if (!target) return fail(503, 'Service Unavailable');
    const reqId = (req.headers['x-request-id'] as string | undefined) || newRequestId();
    // Upgrade and Connection are exactly what must pass through here.
    const lines = `${this.upstreamHeaderLines(req, proto, reqId)}connection: Upgrade\r\nupgrade: ${req.headers.upgrade ?? 'websocket'}\r\n`;
    const path = route.options.rewriteTarget ? rewritePath(route.options.rewriteTarget, route.path, route.pathType, url) : url;
    const colon = target.lastIndexOf(':');
    const upstream: Socket = connect({ host: target.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(target.slice(colon + 1)) });
    upstream.setNoDelay(true);
    upstream.once('connect', () => {
      upstream.write(`${req.method} ${path} HTTP/1.1\r\n${lines}\r\n`, 'latin1');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      this.meterOf(route).countStatus(101);
      this.writeAccess?.({ requestId: reqId, remote: req.socket.remoteAddress, proto, method: req.method, host, uri: url, status: 101, bytes: 0, durationMs: 0, ingress: route.ingress, service: route.backend.key, upstream: target, upstreamError: undefined });
    });
    upstream.once('error', (err) => {
      if (!upstream.readyState || upstream.connecting) fail(502, 'Bad Gateway');
      else client.destroy();
      this.log.debug({ err, upstream: target }, 'upgrade upstream error');
    });
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }
}

/** Calls uncork() of a Proxied (setImmediate's argument: no closure per request). */
const uncorkLater = (p: Proxied) => p.uncork();

/**
 * One request on its way through the proxy, and the upstream handler of its
 * attempts: one object per request rather than a dozen closures.
 */
class Proxied implements UpstreamHandler {
  /** The request head sent upstream. */
  head = '';
  hasBody = false;
  chunked = false;
  private upstream: string | undefined;
  private upstreamError: string | undefined;
  private bytes = 0;
  private exchange: UpstreamExchange | undefined;
  private finished = false;
  private started = false;
  /** The body length the backend declared (-1: unknown), to tell the last chunk. */
  private expected = -1;
  private corked = false;
  private draining = false;
  private onDrain: (() => void) | undefined;
  private previous: string | undefined;
  private tries = 0;
  /** The backend of the first attempt (a retry takes the newest snapshot's, if it still has one). */
  private first: LiveBackend | undefined;

  constructor(
    private readonly proxy: ProxyServer,
    private readonly req: ProxyRequest,
    private readonly res: ProxyResponse,
    private readonly proto: 'http' | 'https',
    private readonly start: number,
    private readonly host: string,
    private readonly url: string,
    private readonly route: Route | undefined,
    readonly reqId: string,
  ) {}

  /** Meters the request and writes its access-log line. */
  done(status: number): void {
    const ms = performance.now() - this.start;
    const { proxy, route, req } = this;
    (route ? proxy.meterOf(route) : proxy.noRoute).record(status, ms / 1e3);
    proxy.writeAccess?.({
      requestId: this.reqId, remote: req.socket.remoteAddress, proto: this.proto, method: req.method, host: this.host, uri: this.url, status, bytes: this.bytes,
      durationMs: Math.round(ms * 1e3) / 1e3, ingress: route?.ingress, service: route?.backend.key, upstream: this.upstream, upstreamError: this.upstreamError,
    });
  }

  /** Answers from the proxy itself (or closes the connection if an answer started already). */
  reply(status: number, body: string, headers: Record<string, string> = {}): void {
    const res = this.res;
    if (!res.headersSent) {
      const buf = Buffer.from(body);
      this.bytes = buf.length;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(buf.length), 'x-request-id': this.reqId, ...headers });
      res.end(this.req.method === 'HEAD' ? undefined : buf);
    } else res.destroy();
    this.done(status);
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.res.uncork();
  }

  clientClosed(): void {
    if (!this.finished && !this.res.writableFinished) this.exchange?.abort('CLIENT_CLOSED');
  }

  /** Sends the request to the next endpoint of `live`. */
  attempt(live: LiveBackend): void {
    this.first ??= live;
    const route = this.route!;
    const target = this.proxy.pick(live, this.previous);
    if (!target) return this.reply(503, `503 Service Unavailable: service ${route.backend.namespace}/${route.backend.service} has no ready endpoints\n`);
    this.upstream = target;
    this.previous = target;
    const req = this.req;
    // Only Node's IncomingMessage carries a body: the lean front leaves such requests to Node.
    this.exchange = this.proxy.pool.request(
      { address: target, head: this.head, isHead: req.method === 'HEAD', body: this.hasBody ? (req as unknown as Readable) : undefined, chunked: this.chunked, bodyLimit: this.chunked ? route.options.bodyLimit : undefined, readTimeoutMs: route.options.readTimeoutMs },
      this,
    );
  }

  onHead(statusCode: number, headers: string[], contentLength: number, hasRequestId: boolean): void {
    const res = this.res;
    if (res.destroyed) return this.exchange!.abort('CLIENT_CLOSED');
    if (!hasRequestId) headers.push('x-request-id', this.reqId);
    this.expected = contentLength;
    try {
      res.writeHead(statusCode, headers);
    } catch (err) {
      // A header value Node refuses to send (control characters): the response cannot pass.
      this.proxy.log.debug({ err, upstream: this.upstream }, 'upstream response head not forwardable');
      return this.exchange!.abort('BAD_RESPONSE');
    }
    this.started = true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    this.bytes += chunk.length;
    if (res.destroyed) {
      this.exchange!.abort('CLIENT_CLOSED');
      return false;
    }
    // The last bytes of a body of known length: end() sends them with the head, if that is
    // still held, in one writev(2) (a write() then end() would flush the head alone).
    if (this.bytes === this.expected) {
      res.end(chunk);
      return true;
    }
    // More of the body to come: hold the writes until the reads the loop has ready are in,
    // so a large body goes out in a few writev(2) instead of one write per upstream read.
    if (!this.corked) {
      this.corked = true;
      res.cork();
      setImmediate(uncorkLater, this);
    }
    if (res.write(chunk)) return true;
    if (!this.draining) {
      this.draining = true;
      res.once('drain', (this.onDrain ??= () => {
        this.draining = false;
        this.exchange?.resume();
      }));
    }
    return false;
  }

  onEnd(): void {
    this.finished = true;
    this.uncork();
    if (!this.res.writableEnded) this.res.end();
    try {
      this.done(this.res.statusCode);
    } catch (err) {
      this.proxy.log.warn({ err }, 'access log or metrics failed');
    }
  }

  onError(err: UpstreamError | NodeJS.ErrnoException): void {
    this.finished = true;
    this.uncork();
    const { res, route, proxy } = this;
    const code = errCode(err);
    if (code === 'CLIENT_CLOSED' || res.destroyed) return this.done(499); // the client left first: nothing to answer, no retry
    const target = this.upstream!;
    proxy.log.debug({ err, upstream: target, started: this.started }, 'upstream attempt failed');
    this.upstreamError = code;
    proxy.metrics.upstreamErrors.inc({ ...routeLabels(route!), service: route!.backend.key, error: code });
    if (this.started) {
      res.destroy();
      return this.done(res.statusCode);
    }
    if (code === 'BODY_TOO_LARGE') return this.reply(413, '413 Request Entity Too Large\n', { connection: 'close' });
    // Refused, timed out, or reset before any response byte (a pod stopping closes what it
    // accepted): nginx's max_fails counts all of these. With few retries per request, passing
    // the endpoint over at once is what keeps a rollout from failing requests.
    if (RETRIABLE.has(code)) proxy.markFailed(target);
    if (++this.tries < MAX_ATTEMPTS && RETRIABLE.has(code) && !this.exchange!.bodyRead) {
      proxy.metrics.retries.inc(routeLabels(route!));
      this.finished = false;
      // A retry reads the newest snapshot: the endpoint that failed has often left it by then.
      return this.attempt(proxy.current().backends.get(route!.backend.key) ?? this.first!);
    }
    // Giving up: what is left of the request body is read and dropped.
    if (this.hasBody && !this.req.readableEnded) this.req.resume();
    if (code === 'HEADERS_TIMEOUT' || code === 'BODY_TIMEOUT') return this.reply(504, '504 Gateway Timeout\n');
    this.reply(502, `502 Bad Gateway: ${code}\n`);
  }
}

/** Exposed for tests: the route a request would take on a snapshot. */
export function routeFor(s: Snapshot, hostHeader: string, url: string): Route | undefined {
  return s.table.match(requestHost(hostHeader), requestPath(url));
}
