/**
 * The Flotilla apiserver: a fastify instance that serves the Kubernetes API
 * over a Storage. Routing is by Kubernetes path rules (request-info.ts), not
 * fastify routes, so every path shape and every error is a Status.
 */
import { setMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ApiError, badRequest, findResource as findBuiltinResource, forbidden, internalError, parseLabelSelector, RESOURCES, unauthorized } from '@flotilla/api';
import type { KubeObject, ResourceInfo } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import { METRICS_CONTENT_TYPE, Registry, type Logger } from '@flotilla/observability';
import type { Authenticator, Authorizer, RequestAttributes, UserInfo, Verb } from './auth/types.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { serveEphemeralContainers } from './ephemeral-containers.js';
import { evictPod } from './eviction.js';
import { openApiV3Documents, openApiV3Index, type OpenApiDoc } from './openapi.js';
import { METRICS_GROUP, METRICS_VERSION, metricsResourceList, type MetricsApi } from './metrics-api.js';
import { ApiServerMetrics, requestScope } from './metrics.js';
import { ensureSystemNamespaces } from './namespaces.js';
import type { NodeChannelTls } from './node-client.js';
import { servePodStreams, STREAM_SUBRESOURCES } from './pod-stream-proxy.js';
import { boolParam } from './query-params.js';
import { parseProxyPath, proxyAttributes, serveProxy } from './proxy-subresource.js';
import { parseApiPath, type ResourcePath } from './request-info.js';
import { noSuchSubresource, RestHandlers, type RestRequest, type RestResponse } from './rest-handlers.js';
import { ServiceAllocator } from './service-allocator.js';
import { toTable, wantsTable } from './table.js';
import { defaultWatchTimings, serveWatch, watchParams, type WatchTimings } from './watch.js';

/** Serves `pods/{name}/log`; the agent's log proxy plugs in here. Write the answer with `reply`. */
export type PodLogHandler = (
  target: { namespace: string; name: string; query: Record<string, string | undefined>; user: UserInfo },
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<void>;

/** Options of createApiServer. */
export interface ApiServerOptions {
  storage: Storage;
  authenticator: Authenticator;
  authorizer: Authorizer;
  logger: Logger;
  /** Resources served; every built-in one by default. */
  resources?: readonly ResourceInfo[];
  /** Serve HTTPS with this key pair (PEM); with `clientCa`, TLS client certificates signed by it are asked for (and verified) too. */
  https?: { key: string | Buffer; cert: string | Buffer; clientCa?: string };
  /** Largest accepted request body; 1.5 MiB like Kubernetes. */
  maxBodyBytes?: number;
  /** Watch bookmark interval and timeouts (tests shorten them). */
  watchTimings?: Partial<WatchTimings>;
  /** Metrics registry served on /metrics; a new one by default. */
  registry?: Registry;
  /** What /metrics serves instead of `registry` alone (an apiserver worker serves every worker's, summed). */
  metricsText?: () => Promise<string>;
  /** Handler of `pods/{name}/log`; 404 Status until the agent provides one. */
  podLogHandler?: PodLogHandler;
  /** Serves metrics.k8s.io (kubectl top) from the agents when set. */
  metricsApi?: MetricsApi;
  /** The apiserver → agent channel's credentials; with them `pods/exec|attach|portforward` upgrades are proxied to agents. */
  nodeTls?: NodeChannelTls;
  /** Cluster IPs of Services (--service-cluster-ip-range), 10.96.0.0/16 by default. */
  serviceClusterIPRange?: string;
  /** Node ports of Services (--service-node-port-range), 30000-32767 by default. */
  serviceNodePortRange?: string;
  /** How often the Service allocations are rebuilt from the Services (also once at start). Default 60 s. */
  serviceRepairIntervalMs?: number;
  /** How long a fresh allocation without its Service survives a repair. Default 60 s. */
  serviceAllocationGraceMs?: number;
}

/** Per-request facts, kept on the request for logs and metrics. */
export interface ApiRequestState {
  user?: UserInfo;
  attrs?: Omit<RequestAttributes, 'user'>;
  start: bigint;
  /** Long-running (watch): logged and counted by the watch itself. */
  longRunning?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Flotilla's per-request state (user, attributes, timing). */
    flotilla: ApiRequestState;
  }
}

/** The apiserver: fastify plus what a runner needs. */
export type ApiServer = FastifyInstance & {
  /** The metrics of this server. */
  readonly apiMetrics: ApiServerMetrics;
  /** Cluster IPs and node ports of Services. */
  readonly serviceAllocator: ServiceAllocator;
};

const DEFAULT_MAX_BODY = 1.5 * 1024 * 1024;
const UNAUTHENTICATED_PATHS = new Set(['/healthz', '/readyz', '/livez']);

const VERB_BY_METHOD: Record<string, Verb | undefined> = { POST: 'create', PUT: 'update', PATCH: 'patch' };

/** The Kubernetes verb of a request on a resource path. */
function verbOf(method: string, path: ResourcePath, watch: boolean): Verb | undefined {
  if (method === 'GET' || method === 'HEAD') return path.name === undefined ? (watch ? 'watch' : 'list') : watch ? 'watch' : 'get';
  if (method === 'DELETE') return path.name === undefined ? 'deletecollection' : 'delete';
  return VERB_BY_METHOD[method];
}

/** The path of a request URL, without its query. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The first value of each query parameter, as strings. */
function flatQuery(q: unknown): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (q && typeof q === 'object') {
    for (const [k, v] of Object.entries(q as Record<string, unknown>)) out[k] = Array.isArray(v) ? String(v[0]) : v === undefined ? undefined : String(v);
  }
  return out;
}

/** Requests slower than this are logged at info whatever their verb. */
const SLOW_REQUEST_SECONDS = 1;

/**
 * The level of a request's log line. One info line per read was ~7 % of the
 * CPU of a GET, so successful reads (and a GET's 404, which informers and
 * controllers hit as a matter of course) are debug; writes, other client
 * errors and slow requests stay at info, and server errors are errors.
 * FLOTILLA_LOG_LEVEL=debug (or --log-level debug) brings every line back.
 */
export function requestLogLevel(method: string, code: number, seconds: number): 'debug' | 'info' | 'error' {
  if (code >= 500) return 'error';
  if (seconds > SLOW_REQUEST_SECONDS) return 'info';
  const read = method === 'GET' || method === 'HEAD';
  if (code >= 400) return read && code === 404 ? 'debug' : 'info';
  return read ? 'debug' : 'info';
}

/** Maps fastify's own errors (body parser, limits) to Kubernetes reasons. */
function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  const msg = e?.message ?? 'error';
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e?.statusCode === 413) return new ApiError('RequestEntityTooLarge', 'the request body is too large');
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e?.statusCode === 415) return new ApiError('UnsupportedMediaType', msg);
  if (e?.statusCode === 404) return new ApiError('NotFound', msg);
  if (e?.statusCode === 405) return new ApiError('MethodNotAllowed', msg);
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return badRequest(msg);
  return undefined;
}

/**
 * Connections on /metrics: how many the server accepted, how many of those
 * failed their TLS handshake (mostly a client that gave up waiting for it),
 * and how many are open. A storm of clients dialling shows here first.
 */
function countConnections(server: Server, registry: Registry): void {
  let accepted = 0;
  let tlsFailed = 0;
  let open = 0;
  server.on('connection', (socket: Socket) => {
    accepted++;
    open++;
    socket.once('close', () => open--);
  });
  server.on('tlsClientError', () => tlsFailed++);
  registry.callback('flotilla_apiserver_connections_total', 'TCP connections accepted, and those whose TLS handshake then failed (result="tls_failed").', 'counter', () => [
    [{ result: 'accepted' }, accepted],
    [{ result: 'tls_failed' }, tlsFailed],
  ]);
  registry.callback('flotilla_apiserver_open_connections', 'Client connections open now.', 'gauge', () => [[undefined, open]]);
}

/** What an etcd-backed store counts (EtcdStorage); other stores count nothing. */
interface StorageStats {
  etcdCallStats?: { calls: number; retries: number; sessions: number };
  readStats?: { cacheHits: number; etcdReads: number; cacheLists?: number; etcdLists?: number; lagWaits?: number; lagWaitTimeouts?: number };
}

/** The store's own counts on /metrics: etcd calls (how many a request costs) and where consistent GETs and LISTs were served from. */
function registerStorageMetrics(registry: Registry, storage: unknown): void {
  const st = storage as StorageStats;
  if (st.etcdCallStats) {
    registry.callback('flotilla_etcd_calls_total', 'Unary etcd calls (Range, Txn, ...) made by this apiserver, retries included.', 'counter', () => [[undefined, st.etcdCallStats!.calls]]);
    registry.callback('flotilla_etcd_call_retries_total', 'Unary etcd calls retried after a failure.', 'counter', () => [[undefined, st.etcdCallStats!.retries]]);
    registry.callback('flotilla_etcd_sessions_total', 'HTTP/2 connections opened to etcd members.', 'counter', () => [[undefined, st.etcdCallStats!.sessions]]);
  }
  if (st.readStats) {
    registry.callback('flotilla_storage_consistent_reads_total', 'Consistent GETs by where they were served from: the read cache or etcd.', 'counter', () => [
      [{ from: 'cache' }, st.readStats!.cacheHits],
      [{ from: 'etcd' }, st.readStats!.etcdReads],
    ]);
    if (st.readStats.cacheLists !== undefined) {
      registry.callback('flotilla_storage_consistent_lists_total', 'LISTs (first pages) by where they were served from: the read cache or etcd.', 'counter', () => [
        [{ from: 'cache' }, st.readStats!.cacheLists ?? 0],
        [{ from: 'etcd' }, st.readStats!.etcdLists ?? 0],
      ]);
    }
    if (st.readStats.lagWaits !== undefined) {
      registry.callback(
        'flotilla_storage_read_cache_lag_waits_total',
        'Consistent GETs and LISTs that waited for the read cache to apply this apiserver\'s own writes, by outcome: caught up, or gave up and read etcd.',
        'counter',
        () => [
          [{ outcome: 'caught-up' }, st.readStats!.lagWaits! - (st.readStats!.lagWaitTimeouts ?? 0)],
          [{ outcome: 'gave-up' }, st.readStats!.lagWaitTimeouts ?? 0],
        ],
      );
    }
  }
}

/** Builds the apiserver (not listening). Call `listen()` or use `runApiServer`. */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const { storage, authenticator, authorizer, logger } = options;
  const resources = options.resources ?? RESOURCES;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const timings: WatchTimings = { ...defaultWatchTimings(), ...options.watchTimings };
  const registry = options.registry ?? new Registry();
  const metrics = new ApiServerMetrics(registry);
  registerStorageMetrics(registry, storage);
  const serviceAllocator = new ServiceAllocator(
    storage,
    {
      ...(options.serviceClusterIPRange ? { clusterIPRange: options.serviceClusterIPRange } : {}),
      ...(options.serviceNodePortRange ? { nodePortRange: options.serviceNodePortRange } : {}),
      ...(options.serviceAllocationGraceMs !== undefined ? { recentGraceMs: options.serviceAllocationGraceMs } : {}),
    },
    logger,
  );
  const handlers = new RestHandlers(storage, authorizer, serviceAllocator);
  const shutdown = new AbortController();
  // Every open watch listens for the shutdown: thousands of listeners are the design, not a leak.
  setMaxListeners(0, shutdown.signal);
  const find = (group: string, version: string, plural: string) =>
    options.resources ? resources.find((r) => r.group === group && r.version === version && r.plural === plural) : findBuiltinResource(group, version, plural);

  const app = Fastify({
    loggerInstance: logger as never,
    // One line per request is written by our onResponse hook instead.
    logController: new LogController({ disableRequestLogging: true }),
    // No pino child (with a reqId binding) per request: it cost ~0.5 % of the apiserver's CPU, and
    // our own request line (onResponse below) says which request it was.
    childLoggerFactory: (parent: Logger) => parent,
    bodyLimit: maxBody,
    // Watches are long; never let the server cut a response mid-stream.
    requestTimeout: 0,
    return503OnClosing: true,
    // A client certificate is asked for but optional: token users connect without one, and an unverified one is simply not an identity.
    ...(options.https
      ? { https: { key: options.https.key, cert: options.https.cert, ...(options.https.clientCa ? { ca: options.https.clientCa, requestCert: true, rejectUnauthorized: false } : {}) } }
      : {}),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // A malformed URL (bad percent-encoding) is the client's error, as a Status.
    frameworkErrors: (err: Error, _req: FastifyRequest, reply: FastifyReply) => {
      void reply.code(400).type('application/json').send(badRequest(`malformed request: ${err.message.slice(0, 200)}`).status);
    },
  } as never) as unknown as FastifyInstance;

  app.decorateRequest('flotilla', undefined as unknown as ApiRequestState);
  app.decorate('apiMetrics', metrics);
  app.decorate('serviceAllocator', serviceAllocator);
  countConnections(app.server, registry);

  // Every body arrives raw; decoding happens where the endpoint knows what it expects.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body));

  // Callback-style hooks: an async hook costs fastify a promise and a then() per request.
  app.addHook('onRequest', (req, _reply, done) => {
    req.flotilla = { start: process.hrtime.bigint() };
    if (UNAUTHENTICATED_PATHS.has(pathOf(req.url))) return done();
    const authenticated = (user: UserInfo | undefined) => {
      if (!user) return done(unauthorized());
      req.flotilla.user = user;
      done();
    };
    let user: UserInfo | undefined | Promise<UserInfo | undefined>;
    try {
      user = authenticator.authenticate(req.headers, { socket: req.raw.socket });
    } catch (err) {
      return done(err as Error);
    }
    if (user instanceof Promise) user.then(authenticated, done);
    else authenticated(user);
  });

  const requestLog: Logger = logger;

  app.addHook('onResponse', (req, reply, done) => {
    recordRequest(req, reply);
    done();
  });

  /** The metrics and the log line of a finished request (a watch records its own). */
  const recordRequest = (req: FastifyRequest, reply: FastifyReply): void => {
    const st = req.flotilla;
    if (!st || st.longRunning) return;
    const seconds = Number(process.hrtime.bigint() - st.start) / 1e9;
    const a = st.attrs;
    const verb = a?.verb ?? req.method.toLowerCase();
    metrics.request(verb.toUpperCase(), a?.resource ?? '', a?.subresource ?? '', requestScope(verb, a?.namespace, a?.name), reply.statusCode, seconds);
    const key = a ? [a.namespace, a.name].filter(Boolean).join('/') : undefined;
    const code = reply.statusCode;
    const level = requestLogLevel(req.method, code, seconds);
    // Building the line costs as much as writing it: skip both when the level is off.
    if (!requestLog.isLevelEnabled(level)) return;
    const line = { method: req.method, path: pathOf(req.url), verb, resource: a?.resource, subresource: a?.subresource, key, user: st.user?.name, code, ms: Math.round(seconds * 1000) };
    requestLog[level](line, 'request');
  };

  app.setErrorHandler((err, req, reply) => {
    const apiErr = toApiError(err);
    if (apiErr) {
      void reply.code(apiErr.code).type('application/json').send(apiErr.status);
      return;
    }
    logger.error({ err, method: req.method, path: req.url.split('?')[0] }, 'unexpected error');
    const status = internalError((err as Error)?.message ?? 'unknown').status;
    void reply.code(500).type('application/json').send(status);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    void reply.code(404).type('application/json').send(new ApiError('NotFound', `the server could not find the requested resource (${req.method} ${path.slice(0, 200)})`).status);
  });

  // ---------------------------------------------------------- health and metrics

  const ok = async (_req: FastifyRequest, reply: FastifyReply) => reply.type('text/plain').send('ok');
  app.get('/healthz', ok);
  app.get('/livez', ok);
  app.get('/readyz', async (_req, reply) => {
    try {
      await Promise.race([storage.currentRevision(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref())]);
      return reply.type('text/plain').send('ok');
    } catch {
      return reply.code(503).type('text/plain').send('[-]etcd failed: reason withheld\nreadyz check failed');
    }
  });
  const metricsText = options.metricsText ?? (async () => registry.render());
  app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await metricsText()));
  app.get('/version', async () => versionInfo());
  // An empty OpenAPI v2 document (an empty protobuf message is zero bytes, and
  // `{}` in JSON): kubectl 1.32 reads v3 (below) for explain, patches and to
  // learn that the server validates fields; v2 stays empty so no older code
  // path validates client-side against a partial schema.
  app.get('/openapi/v2', async (req, reply) => {
    if ((req.headers.accept ?? '').includes('protobuf')) return reply.type('application/com.github.proto-openapi.spec.v2@v1.0+protobuf').send(Buffer.alloc(0));
    return reply.type('application/json').send({ swagger: '2.0', info: { title: 'Flotilla', version: versionInfo().gitVersion }, paths: {}, definitions: {} });
  });
  // Built on first use: the kinds served are fixed for the server's life.
  let v3docs: Map<string, OpenApiDoc> | undefined;
  const openApiV3 = () => (v3docs ??= openApiV3Documents(resources, versionInfo().gitVersion));
  app.get('/openapi/v3', async (req, reply) => {
    const json = JSON.stringify(openApiV3Index(openApiV3()));
    const etag = `"${createHash('sha256').update(json).digest('hex').toUpperCase()}"`;
    void reply.header('ETag', etag).header('Cache-Control', 'no-cache, private').header('Vary', 'Accept');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/json').send(json);
  });
  app.get('/openapi/v3/*', async (req, reply) => {
    const [rawPath, search = ''] = req.url.split('?') as [string, string?];
    const path = rawPath.slice('/openapi/v3/'.length).replace(/\/+$/, '');
    const doc = openApiV3().get(path);
    if (!doc) return reply.code(404).type('application/json').send(new ApiError('NotFound', `the server could not find the requested resource (${rawPath.slice(0, 200)})`).status);
    const hash = new URLSearchParams(search).get('hash');
    // As Kubernetes: an old hash is sent on to the current document; a current one may be cached for good.
    if (hash && hash !== doc.hash) return reply.code(301).header('Location', `/openapi/v3/${path}?hash=${doc.hash}`).send();
    const etag = `"${doc.hash}"`;
    void reply.header('ETag', etag).header('Vary', 'Accept');
    if (hash) void reply.header('Cache-Control', 'public, immutable').header('Expires', new Date(Date.now() + 365 * 86_400_000).toUTCString());
    else void reply.header('Cache-Control', 'no-cache, private');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/json').send(doc.json);
  });

  // ---------------------------------------------------------------- the API

  const apiHandler = async (req: FastifyRequest, reply: FastifyReply) => {
    const proxied = parseProxyPath(req.url);
    if (proxied) {
      const attrs = proxyAttributes(proxied, req.method, req.flotilla.user!);
      req.flotilla.attrs = { verb: attrs.verb, group: '', resource: attrs.resource, subresource: 'proxy', name: attrs.name!, ...(attrs.namespace ? { namespace: attrs.namespace } : {}) };
      const out = await serveProxy({ storage, authorizer, logger, ...(options.nodeTls ? { nodeTls: options.nodeTls } : {}) }, proxied, { method: req.method, headers: req.headers, body: req.body, raw: req.raw }, attrs);
      return reply.code(out.status).headers(out.headers).send(out.body);
    }
    const parsed = parseApiPath(req.url);
    if (!parsed) throw new ApiError('NotFound', `the server could not find the requested resource`);
    if (parsed.type !== 'resource') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
      let doc: unknown;
      const metricsGroup = { name: METRICS_GROUP, versions: [{ groupVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, version: METRICS_VERSION }], preferredVersion: { groupVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, version: METRICS_VERSION } };
      if (parsed.type === 'apiVersions') doc = apiVersions();
      else if (parsed.type === 'apiGroupList') {
        const list = apiGroupList(resources) as { groups: unknown[] };
        doc = options.metricsApi ? { ...list, groups: [...list.groups, metricsGroup] } : list;
      } else if (parsed.type === 'apiGroup') doc = options.metricsApi && parsed.group === METRICS_GROUP ? { kind: 'APIGroup', apiVersion: 'v1', ...metricsGroup } : apiGroup(resources, parsed.group);
      else if (options.metricsApi && parsed.group === METRICS_GROUP) doc = parsed.version === METRICS_VERSION ? metricsResourceList() : undefined;
      else doc = apiResourceList(resources, parsed.group, parsed.version);
      if (!doc) throw new ApiError('NotFound', 'the server could not find the requested resource');
      return reply.type('application/json').send(doc);
    }
    const query = flatQuery(req.query);
    if (options.metricsApi && parsed.group === METRICS_GROUP) return serveMetrics(options.metricsApi, parsed, query, req, reply);
    const watch = parsed.watchPath || boolParam(query, 'watch') === true;
    // The legacy collection of bindings: POST namespaces/{ns}/bindings with the pod named in the body.
    const legacyBinding = parsed.group === '' && parsed.version === 'v1' && parsed.resource === 'bindings' && parsed.namespace !== undefined && parsed.name === undefined;
    const info = legacyBinding ? find('', 'v1', 'pods') : find(parsed.group, parsed.version, parsed.resource);
    if (!info) throw new ApiError('NotFound', `the server could not find the requested resource`);
    if (info.namespaced && parsed.namespace === undefined && parsed.name !== undefined) throw new ApiError('NotFound', 'the server could not find the requested resource');
    if (!info.namespaced && parsed.namespace !== undefined) throw new ApiError('NotFound', 'the server could not find the requested resource');
    const sub = legacyBinding ? 'binding' : parsed.subresource;
    if (sub !== undefined && !info.subresources.includes(sub as never)) throw noSuchSubresource(info, sub);
    const verb = verbOf(req.method, parsed, watch);
    if (!verb) throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
    if (watch && parsed.name !== undefined) {
      // A watch on one object is a watch on the collection filtered by name.
      query.fieldSelector = [query.fieldSelector, `metadata.name=${parsed.name}`].filter(Boolean).join(',');
    }
    const attrs: Omit<RequestAttributes, 'user'> = {
      verb: legacyBinding ? 'create' : verb,
      group: info.group,
      resource: info.plural,
      ...(sub ? { subresource: sub } : {}),
      ...(parsed.namespace !== undefined ? { namespace: parsed.namespace } : {}),
      ...(parsed.name !== undefined ? { name: parsed.name } : {}),
    };
    req.flotilla.attrs = attrs;
    const user = req.flotilla.user!;
    let decision = authorizer.authorize({ ...attrs, user });
    // A view that may lag (the node graph): confirm a denial against the store before answering 403.
    if (!decision.allowed && decision.recheck && authorizer.recheck) decision = await authorizer.recheck({ ...attrs, user });
    if (!decision.allowed) {
      throw forbidden(user.name, attrs.verb, sub ? `${info.plural}/${sub}` : info.plural, parsed.namespace, decision.reason);
    }
    const path: ResourcePath = legacyBinding ? { ...parsed, resource: 'pods' } : parsed;
    const rest: RestRequest = { path, info, attrs: { ...attrs, user }, query, body: req.body, contentType: req.headers['content-type'], userAgent: req.headers['user-agent'], converted: req.method === 'GET' && wantsTable(req.headers.accept) };

    if (verb === 'watch') return startWatch(req, reply, rest);
    if (sub !== undefined && STREAM_SUBRESOURCES.has(sub)) {
      // Only connection upgrades (served by pod-stream-proxy.ts) can carry a stream.
      throw badRequest(`Upgrade request required: pods/${sub} speaks WebSocket (${sub === 'portforward' ? 'SPDY/3.1+portforward.k8s.io' : 'v5.channel.k8s.io'}) or SPDY`);
    }
    if (sub === 'proxy') throw new ApiError('NotFound', `the server could not find the requested resource (${info.plural}/proxy needs a name)`);
    if (sub === 'eviction') {
      if (req.method !== 'POST') throw new ApiError('MethodNotAllowed', 'pods/eviction only supports POST');
      const out = await evictPod(storage, handlers, rest);
      return reply.code(out.code).type('application/json').send(out.body);
    }
    if (sub === 'log') {
      if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
      if (!options.podLogHandler) throw new ApiError('NotFound', 'pod logs are not available on this server');
      return options.podLogHandler({ namespace: path.namespace!, name: path.name!, query, user }, req, reply);
    }
    let out: RestResponse;
    if (sub === 'ephemeralcontainers') out = await serveEphemeralContainers(storage, authorizer, rest, req.method);
    else switch (req.method) {
      case 'GET':
      case 'HEAD':
        out = path.name === undefined ? await handlers.list(rest) : await handlers.get(rest);
        break;
      case 'POST':
        if (sub === 'binding') out = await handlers.bind(rest);
        else if (path.name !== undefined) throw new ApiError('MethodNotAllowed', 'POST is not allowed on a named object');
        else out = await handlers.create(rest);
        break;
      case 'PUT':
        if (path.name === undefined) throw new ApiError('MethodNotAllowed', 'PUT needs an object name');
        if (sub === 'binding') throw new ApiError('MethodNotAllowed', 'binding only supports POST');
        out = await handlers.update(rest);
        break;
      case 'PATCH':
        if (path.name === undefined) throw new ApiError('MethodNotAllowed', 'PATCH needs an object name');
        if (sub === 'binding') throw new ApiError('MethodNotAllowed', 'binding only supports POST');
        out = await handlers.patch(rest);
        break;
      case 'DELETE':
        if (sub !== undefined) throw new ApiError('MethodNotAllowed', 'DELETE is not allowed on a subresource');
        out = path.name === undefined ? await handlers.deleteCollection(rest) : await handlers.delete(rest);
        break;
      default:
        throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    // As Kubernetes: `299 - "text"`, one header per warning; kubectl prints each as `Warning: text`.
    // Header values must be printable ASCII: a field name from a client may not be.
    if (out.warnings?.length) void reply.header('Warning', out.warnings.slice(0, 50).map((w) => `299 - ${JSON.stringify(w.slice(0, 256)).replace(/[^\x20-\x7e]/g, '?')}`));
    if (req.method === 'GET' && wantsTable(req.headers.accept)) {
      return reply.code(out.code).type('application/json').send(toTable(info, out.body, query.includeObject));
    }
    if (out.jsonParts) return reply.code(out.code).type('application/json').send(Readable.from(out.jsonParts(), { objectMode: false }));
    return reply.code(out.code).type('application/json').send(out.json ?? out.body);
  };

  /** GET metrics.k8s.io/v1beta1 nodes and pods (list or one), authorized like any read. */
  const serveMetrics = async (m: MetricsApi, p: ResourcePath, query: Record<string, string | undefined>, req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', 'metrics are read-only');
    const known = p.version === METRICS_VERSION && ((p.resource === 'nodes' && p.namespace === undefined) || p.resource === 'pods') && !p.subresource && !p.watchPath;
    if (!known) throw new ApiError('NotFound', 'the server could not find the requested resource');
    const attrs: Omit<RequestAttributes, 'user'> = { verb: p.name ? 'get' : 'list', group: METRICS_GROUP, resource: p.resource, ...(p.namespace ? { namespace: p.namespace } : {}), ...(p.name ? { name: p.name } : {}) };
    req.flotilla.attrs = attrs;
    const user = req.flotilla.user!;
    const decision = authorizer.authorize({ ...attrs, user });
    if (!decision.allowed) throw forbidden(user.name, attrs.verb, `${p.resource}.${METRICS_GROUP}`, p.namespace, decision.reason);
    const selector = query.labelSelector ? parseLabelSelector(query.labelSelector) : undefined;
    const body = p.resource === 'nodes' ? await m.nodeMetrics(p.name) : await m.podMetrics(p.namespace, p.name, selector ? (l) => selector.matches(l) : undefined);
    return reply.type('application/json').send(body);
  };

  const startWatch = async (req: FastifyRequest, reply: FastifyReply, rest: RestRequest) => {
    const params = watchParams(rest, timings);
    req.flotilla.longRunning = true;
    reply.hijack();
    metrics.watchStarted(rest.info.plural);
    const started = process.hrtime.bigint();
    try {
      const render = wantsTable(req.headers.accept) ? (obj: KubeObject) => toTable(rest.info, obj, rest.query.includeObject) : undefined;
      await serveWatch(storage, rest, params, reply.raw, shutdown.signal, timings, logger, render);
    } finally {
      metrics.watchEnded(rest.info.plural);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.request('WATCH', rest.info.plural, '', requestScope('watch', rest.path.namespace, undefined), 200, seconds);
      logger.info({ verb: 'watch', resource: rest.info.plural, namespace: rest.path.namespace, user: rest.attrs.user.name, code: 200, ms: Math.round(seconds * 1000) }, 'watch closed');
    }
  };

  for (const prefix of ['/api', '/apis']) {
    app.all(prefix, apiHandler);
    app.all(`${prefix}/*`, apiHandler);
  }

  app.addHook('onReady', async () => {
    try {
      await ensureSystemNamespaces(storage);
    } catch (err) {
      // Not fatal: /readyz reports the store, and the next apiserver start retries.
      logger.error({ err }, 'could not ensure the system namespaces');
    }
    // In the background: a crash between allocate and create must not leak an IP or port forever.
    void serviceAllocator.runRepairLoop(shutdown.signal, options.serviceRepairIntervalMs ?? 60_000);
  });
  const cutStreams = options.nodeTls
    ? servePodStreams(app.server, { storage, authenticator, authorizer, nodeTls: options.nodeTls, logger })
    : undefined;
  // Open watches and streams would keep close() waiting forever.
  app.addHook('preClose', async () => {
    shutdown.abort();
    cutStreams?.();
  });

  return app as ApiServer;
}

/** What runApiServer needs besides the server options. */
export interface RunApiServerOptions extends ApiServerOptions {
  host?: string;
  port: number;
}

/**
 * Starts the apiserver and keeps it running until `signal` aborts; then
 * closes watches and the listener. Resolves once closed. For the CLI.
 */
export async function runApiServer(options: RunApiServerOptions, signal: AbortSignal): Promise<void> {
  const app = createApiServer(options);
  const address = await app.listen({ host: options.host ?? '0.0.0.0', port: options.port });
  options.logger.info({ address }, 'apiserver listening');
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await app.close();
  options.logger.info('apiserver stopped');
}
