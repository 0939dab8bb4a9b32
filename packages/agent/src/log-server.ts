/**
 * The agent's HTTPS server: container logs at
 * `/containerLogs/{namespace}/{pod}/{container}` (follow, tailLines,
 * previous, timestamps) for callers whose bearer token the apiserver
 * vouches for (a TokenReview) and who are in system:masters, plus
 * unauthenticated /healthz and /metrics (no secrets in either).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, badRequest, type Status } from '@flotilla/api';
import { serveStatus, type Logger, type Registry } from '@flotilla/observability';
import { instancesOf } from './pod-status.js';
import type { ContainerInfo, ContainerRuntime } from './runtime/types.js';

/** The user a token belongs to, per the apiserver. */
export interface ReviewedUser {
  username: string;
  groups: string[];
}

/** Asks whether a bearer token is valid and whose it is. */
export interface TokenReviewer {
  review(token: string): Promise<ReviewedUser | undefined>;
}

/** The part of a TokenReview v1 the agent reads. */
export interface TokenReviewResponse {
  status?: { authenticated?: boolean; user?: { username?: string; groups?: string[] }; error?: string };
}

/**
 * Reviews tokens through `POST /apis/authentication.k8s.io/v1/tokenreviews`
 * (`post` does the request) and caches answers briefly: 10 s for a valid
 * token, 2 s for a rejected one, so a follow storm does not hammer the apiserver.
 */
export class CachingTokenReviewer implements TokenReviewer {
  private readonly cache = new Map<string, { user: ReviewedUser | undefined; until: number }>();

  constructor(
    private readonly post: (body: unknown) => Promise<TokenReviewResponse>,
    private readonly ttlMs = 10_000,
    private readonly negativeTtlMs = 2_000,
  ) {}

  async review(token: string): Promise<ReviewedUser | undefined> {
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit && hit.until > now) return hit.user;
    const res = await this.post({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const s = res?.status;
    const user = s?.authenticated && s.user?.username ? { username: s.user.username, groups: s.user.groups ?? [] } : undefined;
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(token, { user, until: now + (user ? this.ttlMs : this.negativeTtlMs) });
    return user;
  }
}

/** Options of the log server. */
export interface LogServerOptions {
  runtime: ContainerRuntime;
  reviewer: TokenReviewer;
  /** The uid of a pod of this node by namespace/name, from the informer cache (undefined when unknown). */
  podUid: (namespace: string, name: string) => string | undefined;
  registry: Registry;
  tls: { key: string; cert: string };
  port: number;
  host?: string;
  log: Logger;
}

/** A running log server. */
export interface LogServer {
  port: number;
  close(): Promise<void>;
}

const ALLOWED_GROUP = 'system:masters';

function sendStatus(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: Status = err.status;
  res.writeHead(err.code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Starts the HTTPS log server. */
export async function startLogServer(o: LogServerOptions): Promise<LogServer> {
  const server: Server = createServer({ key: o.tls.key, cert: o.tls.cert }, (req, res) => {
    handle(o, req, res).catch((err: unknown) => {
      if (err instanceof ApiError) return sendStatus(res, err);
      o.log.error({ err: (err as Error)?.message ?? String(err), path: req.url?.split('?')[0] }, 'log request failed');
      sendStatus(res, new ApiError('InternalError', `an error on the node: ${(err as Error)?.message ?? String(err)}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ port }, 'log server listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(o: LogServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (serveStatus(req, res, { registry: o.registry })) return;
  const url = new URL(req.url ?? '/', 'https://agent');
  const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
  if (!m) throw new ApiError('NotFound', `the server could not find the requested resource (${url.pathname.slice(0, 200)})`);
  if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', 'only GET is allowed');
  await authenticate(o, req);
  const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
  const q = url.searchParams;
  const flag = (name: string) => q.has(name) && q.get(name) !== 'false' && q.get(name) !== '0';
  const tailRaw = q.get('tailLines');
  if (tailRaw !== null && !/^\d+$/.test(tailRaw)) throw badRequest(`tailLines must be a non-negative integer, got ${JSON.stringify(tailRaw.slice(0, 50))}`);
  const previous = flag('previous');
  const target = await findInstance(o, ns, pod, container, previous);
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  const follow = flag('follow') && !previous && target.state === 'running';
  const stream = await o.runtime.logs(target.id, {
    follow,
    timestamps: flag('timestamps'),
    ...(tailRaw !== null ? { tailLines: Number(tailRaw) } : {}),
    signal: ac.signal,
  });
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

async function authenticate(o: LogServerOptions, req: IncomingMessage): Promise<void> {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^bearer +(\S+) *$/i.exec(h) : null;
  if (!m) throw new ApiError('Unauthorized', 'Unauthorized');
  let user: ReviewedUser | undefined;
  try {
    user = await o.reviewer.review(m[1]!);
  } catch (err) {
    throw new ApiError('ServiceUnavailable', `cannot review the token with the apiserver: ${(err as Error)?.message ?? String(err)}`);
  }
  if (!user) throw new ApiError('Unauthorized', 'Unauthorized');
  if (!user.groups.includes(ALLOWED_GROUP)) throw new ApiError('Forbidden', `user "${user.username}" cannot read container logs on this node (needs group ${ALLOWED_GROUP})`);
}

/** The container instance whose logs are asked for: the newest, or with `previous` the dead one before it. */
async function findInstance(o: LogServerOptions, ns: string, pod: string, container: string, previous: boolean): Promise<ContainerInfo> {
  const uid = o.podUid(ns, pod);
  const all = uid ? await o.runtime.listContainers({ podUid: uid, type: 'container' }) : (await o.runtime.listContainers({ type: 'container' })).filter((c) => c.podNamespace === ns && c.podName === pod);
  if (all.length === 0 && !uid) throw new ApiError('NotFound', `pod "${pod}" in namespace "${ns}" has no containers on this node`);
  const [latest, prev] = instancesOf(all, container);
  if (previous) {
    if (!prev) throw badRequest(`previous terminated container "${container}" in pod "${pod}" not found`);
    return prev;
  }
  if (!latest) throw badRequest(`container "${container}" in pod "${pod}" is waiting to start: ContainerCreating`);
  return latest;
}
