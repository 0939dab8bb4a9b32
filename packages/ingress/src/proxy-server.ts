/**
 * The data plane: an HTTP(S) reverse proxy on undici. Each request is
 * matched against the current Snapshot (swapped whole by the controller, so
 * a request sees one consistent table from start to end and nothing is
 * reopened), sent to the next ready endpoint of its backend over a
 * keep-alive pool, and streamed both ways without buffering.
 *
 * Failures: no route → 404; a Service missing, without the port, or
 * without ready endpoints → 503 naming it; a connect error or a reset
 * before any response byte, when no request body byte was read, is retried
 * once on another endpoint, and an endpoint that failed to
 * connect is passed over for a few seconds; other upstream errors → 502, a
 * read timeout → 504. WebSocket (any `Upgrade`) requests are piped on a raw socket.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '@flotilla/observability';
import { rewritePath } from './annotations.js';
import type { BackendState } from './backends.js';
import type { AccessEntry } from './access-log.js';
import type { IngressMetrics, RouteMeter } from './metrics.js';
import { requestHost, requestPath, type Route, type RouteTable } from './route-table.js';

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

/** Options of the data plane. */
export interface ProxyOptions {
  logger: Logger;
  metrics: IngressMetrics;
  /**
   * One access-log line per request: a writer (createAccessLog().write),
   * true for `logger.info(entry, 'access')`, false for none. Default true.
   */
  accessLog?: boolean | ((entry: AccessEntry) => void);
  /** The undici dispatcher to backends; a keep-alive Agent when unset. */
  dispatcher?: Dispatcher;
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
 * Attempts per request on connect-level errors: the first and one retry on
 * another endpoint, as issue 9 specifies. (ingress-nginx allows 3; with the
 * fail timeout below a second dead endpoint is rare, and a request that
 * failed twice is better answered 502 at once than after a third wait.)
 */
const MAX_ATTEMPTS = 2;
/** How long an endpoint that failed to connect is passed over (nginx: fail_timeout 10 s; shorter here, as endpoints churn fast). */
const FAIL_TIMEOUT_MS = 5_000;
/** Errors where the backend never saw (or never answered) the request: safe to try another endpoint. */
const RETRIABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

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

async function* readBody(req: IncomingMessage, limit: number | undefined, tooLarge: { hit: boolean }): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of req) {
    seen += (chunk as Buffer).length;
    if (limit !== undefined && seen > limit) {
      tooLarge.hit = true;
      throw new Error('request body too large');
    }
    yield chunk as Buffer;
  }
}

/** The reverse proxy; attach handle() and handleUpgrade() to http/https servers. */
export class ProxyServer {
  private snapshot: Snapshot;
  private readonly log: Logger;
  private readonly writeAccess: ((entry: AccessEntry) => void) | undefined;
  private readonly metrics: IngressMetrics;
  /** Each route's meter, found once per route object (a snapshot's routes live as long as it does). */
  private readonly meters = new WeakMap<Route, RouteMeter>();
  private readonly noRoute: RouteMeter;
  private readonly dispatcher: Dispatcher;
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
    this.dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, pipelining: 1, connect: { timeout: options.connectTimeoutMs ?? 1_000 } });
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
    await this.dispatcher.close();
  }

  /**
   * Picks the next endpoint round-robin, skipping those tried already for
   * this request and those that failed to connect within FAIL_TIMEOUT_MS
   * (nginx's max_fails=1 fail_timeout), unless nothing else is left.
   */
  private pick(b: LiveBackend, avoid: ReadonlySet<string>): string | undefined {
    if (!b.state.ok) return undefined;
    const list = b.state.addresses;
    if (list.length === 0) return undefined;
    if (b.next > 1e9) b.next = 0;
    const now = Date.now();
    let fallback: string | undefined;
    for (let i = 0; i < list.length; i++) {
      const a = list[b.next++ % list.length]!;
      if (avoid.has(a)) continue;
      const until = this.failedUntil.get(a);
      if (until !== undefined && until > now) {
        fallback ??= a;
        continue;
      }
      return a;
    }
    return fallback ?? (avoid.size < list.length ? undefined : list[b.next++ % list.length]);
  }

  /** The meter of a route (requests by status class, latency). */
  private meterOf(route: Route): RouteMeter {
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
  private markFailed(address: string): void {
    const until = Date.now() + FAIL_TIMEOUT_MS;
    this.failedUntil.set(address, until);
    this.onEndpointFailed?.(address, until);
    if (this.failedUntil.size > 4096) {
      const now = Date.now();
      for (const [a, t] of this.failedUntil) if (t <= now) this.failedUntil.delete(a);
    }
  }

  /** Serves one request (the `request` event of an http or https server). */
  handle(req: IncomingMessage, res: ServerResponse, proto: 'http' | 'https'): void {
    const start = performance.now();
    const snap = this.snapshot;
    const host = requestHost(req.headers.host);
    const url = req.url ?? '/';
    const route = snap.table.match(host, requestPath(url));
    const reqId = (req.headers['x-request-id'] as string | undefined) || newRequestId();
    let upstream: string | undefined;
    let upstreamError: string | undefined;
    let bytes = 0;

    const done = (status: number) => {
      const ms = performance.now() - start;
      (route ? this.meterOf(route) : this.noRoute).record(status, ms / 1e3);
      this.writeAccess?.({
        requestId: reqId, remote: req.socket.remoteAddress, proto, method: req.method, host, uri: url, status, bytes,
        durationMs: Math.round(ms * 1e3) / 1e3, ingress: route?.ingress, service: route?.backend.key, upstream, upstreamError,
      });
    };
    const reply = (status: number, body: string, headers: Record<string, string> = {}) => {
      if (!res.headersSent) {
        const buf = Buffer.from(body);
        bytes = buf.length;
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(buf.length), 'x-request-id': reqId, ...headers });
        res.end(req.method === 'HEAD' ? undefined : buf);
      } else res.destroy();
      done(status);
    };

    if (!route) return reply(404, 'default backend - 404\n');
    if (proto === 'http' && route.options.sslRedirect && snap.tlsHosts.size > 0 && tlsHostMatches(snap.tlsHosts, host)) {
      req.resume();
      return reply(308, '', { location: `https://${req.headers.host ?? host}${url}` });
    }
    const backend = snap.backends.get(route.backend.key);
    if (!backend || !backend.state.ok) {
      req.resume();
      return reply(503, `503 Service Unavailable: ${backend && !backend.state.ok ? backend.state.message : `service ${route.backend.namespace}/${route.backend.service} unknown`}\n`);
    }
    const limit = route.options.bodyLimit;
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    if (limit !== undefined && declared !== undefined && declared > limit) {
      // Read and drop the body so the client sees the answer (closing early makes it a reset).
      req.resume();
      return reply(413, '413 Request Entity Too Large\n');
    }
    const hasBody = (declared !== undefined && declared > 0) || req.headers['transfer-encoding'] !== undefined;
    // A chunked body is counted as it streams (readBody stops it past the limit).
    const tooLarge = { hit: false };
    const streamLimit = hasBody && declared === undefined ? limit : undefined;
    const headers = this.upstreamHeaders(req, proto, reqId);
    const path = route.options.rewriteTarget ? rewritePath(route.options.rewriteTarget, route.path, route.pathType, url) : url;

    const tried = new Set<string>();
    const attempt = (tries: number) => {
      // A retry reads the newest snapshot: the endpoint that failed has often left it by then.
      const live = tries === 0 ? backend : (this.snapshot.backends.get(route.backend.key) ?? backend);
      const target = this.pick(live, tried);
      if (!target) return reply(503, `503 Service Unavailable: service ${route.backend.namespace}/${route.backend.service} has no ready endpoints\n`);
      upstream = target;
      tried.add(target);
      let started = false;
      let finished = false;
      /** The body length the backend declared (-1: unknown), to tell the last chunk. */
      let expected = -1;
      let corked = false;
      const uncork = () => {
        if (!corked) return;
        corked = false;
        res.uncork();
      };
      let upstreamCtl: Dispatcher.DispatchController | undefined;
      // A client that goes away at any point (before or after the answer started) cancels the
      // upstream request; otherwise a write to the dead response pauses undici forever.
      const onClientGone = () => {
        if (!finished && !res.writableFinished) upstreamCtl?.abort(new Error('client closed the connection'));
      };
      const onDrain = () => upstreamCtl?.resume();
      res.once('close', onClientGone);
      res.on('drain', onDrain);
      const settle = () => {
        finished = true;
        res.off('close', onClientGone);
        res.off('drain', onDrain);
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (controller) => {
          upstreamCtl = controller;
          if (res.destroyed) controller.abort(new Error('client closed the connection'));
        },
        onResponseStart: (controller, statusCode, resHeaders) => {
          if (statusCode < 200) return; // 1xx informational: not forwarded
          started = true;
          if (res.destroyed) return controller.abort(new Error('client closed the connection'));
          const out: IncomingHttpHeaders = {};
          for (const k in resHeaders) if (!HOP_BY_HOP.has(k)) out[k] = resHeaders[k];
          out['x-request-id'] ??= reqId;
          const cl = resHeaders['content-length'];
          if (typeof cl === 'string') expected = Number(cl);
          res.writeHead(statusCode, out as Record<string, string | string[]>);
        },
        onResponseData: (controller, chunk) => {
          bytes += chunk.length;
          if (res.destroyed) return controller.abort(new Error('client closed the connection'));
          // More of the body to come: hold the writes until the reads the loop has ready are in,
          // so a large body goes out in a few writev(2) instead of one write per upstream read.
          if (!corked && bytes !== expected) {
            corked = true;
            res.cork();
            setImmediate(uncork);
          }
          if (!res.write(chunk)) controller.pause();
        },
        onResponseEnd: () => {
          settle();
          uncork();
          res.end();
          try {
            done(res.statusCode);
          } catch (err) {
            // Never let bookkeeping throw into undici: the request would stay open in its pool.
            this.log.warn({ err }, 'access log or metrics failed');
          }
        },
        onResponseError: (_controller, err) => {
          settle();
          uncork();
          const code = errCode(err);
          this.log.debug({ err, upstream: target, started }, 'upstream attempt failed');
          upstreamError = code;
          this.metrics.upstreamErrors.inc({ ...routeLabels(route), service: route.backend.key, error: code });
          if (res.destroyed) return done(499); // the client left first: nothing to answer, no retry
          if (started) {
            res.destroy();
            return done(res.statusCode);
          }
          if (tooLarge.hit) return reply(413, '413 Request Entity Too Large\n', { connection: 'close' });
          // Refused, timed out, or reset before any response byte (a pod stopping closes what it
          // accepted): nginx's max_fails counts all of these. With one retry per request, passing
          // the endpoint over at once is what keeps a rollout from failing requests.
          if (RETRIABLE.has(code)) this.markFailed(target);
          if (tries + 1 < MAX_ATTEMPTS && RETRIABLE.has(code) && (!hasBody || !req.readableDidRead)) {
            this.metrics.retries.inc(routeLabels(route));
            return attempt(tries + 1);
          }
          if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return reply(504, '504 Gateway Timeout\n');
          reply(502, `502 Bad Gateway: ${code}\n`);
        },
      };
      this.dispatcher.dispatch(
        {
          origin: `http://${target}`,
          path,
          method: req.method as Dispatcher.HttpMethod,
          headers,
          // Not `req` itself: undici destroys a stream body when done, and destroying an
          // IncomingMessage closes the client's keep-alive connection. A generator reads
          // only when undici pulls, so an unread body still allows a retry.
          body: hasBody ? (readBody(req, streamLimit, tooLarge) as unknown as Readable) : null, // undici takes async iterables; its types lag
          headersTimeout: route.options.readTimeoutMs,
          bodyTimeout: route.options.readTimeoutMs,
        },
        handler,
      );
    };
    attempt(0);
  }

  /** The headers sent upstream: hop-by-hop ones dropped, X-Forwarded-* and X-Request-Id set. */
  private upstreamHeaders(req: IncomingMessage, proto: string, reqId: string): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const raw = req.rawHeaders;
    let connectionTokens: string[] | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      if (k === 'connection') connectionTokens = raw[i + 1]!.toLowerCase().split(',').map((s) => s.trim());
      if (HOP_BY_HOP.has(k) || k === 'expect' || k.startsWith('x-forwarded-') || k === 'x-request-id' || k === 'x-real-ip') continue;
      const v = raw[i + 1]!;
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    for (const t of connectionTokens ?? []) delete out[t];
    const remote = req.socket.remoteAddress ?? '';
    const prior = req.headers['x-forwarded-for'];
    out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${remote}` : remote;
    out['x-real-ip'] = remote;
    out['x-forwarded-proto'] = proto;
    out['x-forwarded-host'] = req.headers.host ?? '';
    out['x-request-id'] = reqId;
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
    const target = backend ? this.pick(backend, new Set()) : undefined;
    if (!target) return fail(503, 'Service Unavailable');
    const reqId = (req.headers['x-request-id'] as string | undefined) || newRequestId();
    const headers = this.upstreamHeaders(req, proto, reqId);
    // Upgrade and Connection are exactly what must pass through here.
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade ?? 'websocket';
    const path = route.options.rewriteTarget ? rewritePath(route.options.rewriteTarget, route.path, route.pathType, url) : url;
    const colon = target.lastIndexOf(':');
    const upstream: Socket = connect({ host: target.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(target.slice(colon + 1)) });
    upstream.setNoDelay(true);
    upstream.once('connect', () => {
      let head1 = `${req.method} ${path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) head1 += `${k}: ${one}\r\n`;
      upstream.write(`${head1}\r\n`);
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

/** Exposed for tests: the route a request would take on a snapshot. */
export function routeFor(s: Snapshot, hostHeader: string, url: string): Route | undefined {
  return s.table.match(requestHost(hostHeader), requestPath(url));
}
