/**
 * The agent's node server (the kubelet's port 10250): container logs at
 * `/containerLogs/{ns}/{pod}/{container}`, and the streams `exec`,
 * `attach` (WebSocket, `v5.channel.k8s.io` / `v4.channel.k8s.io`) and
 * `portForward` (see port-forward.ts), plus unauthenticated /healthz and
 * /metrics (no secrets in either).
 *
 * Every other request must be authenticated and is authorized per request:
 * a TLS client certificate signed by the cluster CA whose CN is one of the
 * allowed client names (the apiserver's `kube-apiserver-kubelet-client`),
 * or a bearer token the apiserver vouches for (TokenReview) of a
 * system:masters user — an administrator who reaches the port directly.
 * The server's own certificate is the node's, signed by the cluster CA
 * (serving-cert.ts), so the apiserver can check it is talking to this node.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, badRequest, type Status } from '@flotilla/api';
import { serveStatus, type Logger, type Registry } from '@flotilla/observability';
import { containerMetricsText, UsageSampler, type UsageSnapshot } from './container-usage.js';
import { instancesOf } from './pod-status.js';
import { servePortForward } from './port-forward.js';
import type { ContainerInfo, ContainerRuntime, StreamOptions, StreamSession } from './runtime/types.js';

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

/** The client certificate name of the apiserver (kube-apiserver's conventional --kubelet-client-certificate CN). */
export const APISERVER_CLIENT_NAME = 'kube-apiserver-kubelet-client';

/** The node server's TLS material: its own pair and the CA client certificates must chain to. */
export interface NodeServerTls {
  key: string;
  cert: string;
  /** The cluster CA (PEM). */
  clientCa: string;
}

/** Options of the node server. */
export interface NodeServerOptions {
  runtime: ContainerRuntime;
  /** Reviews bearer tokens of direct callers; without it only client certificates are accepted. */
  reviewer?: TokenReviewer;
  /** The uid of a pod of this node by namespace/name, from the informer cache (undefined when unknown). */
  podUid: (namespace: string, name: string) => string | undefined;
  /** The pod's IP by namespace/name (port-forward dials it). */
  podIP?: (namespace: string, name: string) => string | undefined;
  registry: Registry;
  tls: NodeServerTls;
  port: number;
  host?: string;
  /** Client certificate CNs allowed everything; the apiserver's by default. */
  allowedClientNames?: string[];
  log: Logger;
}

/** A running node server. */
export interface NodeServer {
  port: number;
  /** Replaces the serving certificate (e.g. once the CA-signed one arrives); new connections use it. */
  setTls(tls: NodeServerTls): void;
  close(): Promise<void>;
}

/** Who a request comes from, once authenticated. */
interface Caller {
  name: string;
  via: 'certificate' | 'token';
}

const ALLOWED_GROUP = 'system:masters';
/** How old a usage sample may be for /stats/summary and /metrics (one sampling takes about a second). */
const USAGE_MAX_AGE_MS = 5_000;
/** The remote command subprotocols served, preferred first (kubectl 1.30+ offers only v5). */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

function sendStatus(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: Status = err.status;
  res.writeHead(err.code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Answers an upgrade request with a Status and closes the socket. */
function refuseUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.status);
  socket.end(`HTTP/1.1 ${err.code} ${err.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

const message = (err: unknown) => (err as Error)?.message ?? String(err);

/** Starts the HTTPS node server. */
export async function startNodeServer(o: NodeServerOptions): Promise<NodeServer> {
  const allowed = new Set(o.allowedClientNames ?? [APISERVER_CLIENT_NAME]);
  const sampler = new UsageSampler(o.runtime);
  const server: Server = createServer(
    // requestCert without rejectUnauthorized: a caller without a certificate may still show a token, and gets a Status rather than a TLS alert.
    { key: o.tls.key, cert: o.tls.cert, ca: o.tls.clientCa, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      handle(o, allowed, sampler, req, res).catch((err: unknown) => {
        if (err instanceof ApiError) return sendStatus(res, err);
        o.log.error({ err: message(err), path: req.url?.split('?')[0] }, 'node server request failed');
        sendStatus(res, new ApiError('InternalError', `an error on the node: ${message(err)}`));
      });
    },
  );
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  const streams = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    streams.add(socket);
    socket.on('close', () => streams.delete(socket));
    handleUpgrade(o, allowed, wss, req, socket, head).catch((err: unknown) => {
      const apiErr = err instanceof ApiError ? err : new ApiError('InternalError', `an error on the node: ${message(err)}`);
      if (apiErr.code >= 500) o.log.error({ err: apiErr.message, path: req.url?.split('?')[0] }, 'node server stream failed');
      if (!socket.destroyed) refuseUpgrade(socket, apiErr);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ port }, 'node server listening');
  return {
    port,
    setTls: (tls) => server.setSecureContext({ key: tls.key, cert: tls.cert, ca: tls.clientCa }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.destroy();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Authenticates and authorizes a request: the allowed client certificate, or a reviewed system:masters token. */
async function authorize(o: NodeServerOptions, allowed: Set<string>, req: IncomingMessage): Promise<Caller> {
  const sock = req.socket as TLSSocket;
  const cert = sock.getPeerCertificate?.();
  const cn = cert && typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined;
  if (cn !== undefined) {
    if (!sock.authorized) throw new ApiError('Unauthorized', `the client certificate is not signed by the cluster CA: ${String(sock.authorizationError ?? 'unknown')}`);
    if (allowed.has(cn)) return { name: cn, via: 'certificate' };
    throw new ApiError('Forbidden', `client certificate "${cn}" may not use this node's API (only ${[...allowed].join(', ')} may)`);
  }
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^bearer +(\S+) *$/i.exec(h) : null;
  if (!m || !o.reviewer) throw new ApiError('Unauthorized', 'Unauthorized: a client certificate signed by the cluster CA is required');
  let user: ReviewedUser | undefined;
  try {
    user = await o.reviewer.review(m[1]!);
  } catch (err) {
    throw new ApiError('ServiceUnavailable', `cannot review the token with the apiserver: ${message(err)}`);
  }
  if (!user) throw new ApiError('Unauthorized', 'Unauthorized');
  if (!user.groups.includes(ALLOWED_GROUP)) throw new ApiError('Forbidden', `user "${user.username}" cannot use this node's API (needs group ${ALLOWED_GROUP})`);
  return { name: user.username, via: 'token' };
}

async function handle(o: NodeServerOptions, allowed: Set<string>, sampler: UsageSampler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if ((req.url ?? '').split('?')[0] === '/metrics' && req.method === 'GET') {
    // Fresh per-container numbers for the scrape, from the sampling kubectl top also reads; a slow engine leaves the last ones.
    await Promise.race([sampler.sample(USAGE_MAX_AGE_MS).catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }
  const registry = { render: () => o.registry.render() + containerMetricsText(sampler.latest()) };
  if (serveStatus(req, res, { registry })) return;
  const url = new URL(req.url ?? '/', 'https://agent');
  if (/^\/(exec|attach|portForward)\//.test(url.pathname)) {
    await authorize(o, allowed, req);
    throw badRequest('Upgrade request required: exec, attach and portForward speak WebSocket');
  }
  if (url.pathname === '/stats/summary') {
    if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', 'only GET is allowed');
    await authorize(o, allowed, req);
    const summary = resourceSummary(await sampler.sample(USAGE_MAX_AGE_MS));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(summary));
    return;
  }
  const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
  if (!m) throw new ApiError('NotFound', `the server could not find the requested resource (${url.pathname.slice(0, 200)})`);
  if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', 'only GET is allowed');
  await authorize(o, allowed, req);
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

/** What `/stats/summary` answers: CPU (cores) and working-set memory (bytes) per container, per pod and for the node. */
export interface ResourceSummary {
  timestamp: string;
  /** The sampling window, in seconds. */
  windowSeconds: number;
  node: { cpuCores: number; memoryBytes: number };
  pods: Array<{ namespace: string; name: string; containers: Array<{ name: string; cpuCores: number; memoryBytes: number }> }>;
}

/** The summary of one sampling of every running app container. */
export function resourceSummary(snap: UsageSnapshot): ResourceSummary {
  const pods = new Map<string, ResourceSummary['pods'][number]>();
  const node = { cpuCores: 0, memoryBytes: 0 };
  for (const { container: c, usage: u } of snap.samples) {
    const key = `${c.podNamespace}/${c.podName}`;
    const pod = pods.get(key) ?? { namespace: c.podNamespace, name: c.podName, containers: [] };
    pod.containers.push({ name: c.containerName, cpuCores: u.cpuCores, memoryBytes: u.memoryBytes });
    pods.set(key, pod);
    node.cpuCores += u.cpuCores;
    node.memoryBytes += u.memoryBytes;
  }
  return { timestamp: new Date(snap.at).toISOString().replace(/\.\d+Z$/, 'Z'), windowSeconds: 1, node, pods: [...pods.values()] };
}

/** The container instance whose logs are asked for: the newest, or with `previous` the dead one before it. */
async function findInstance(o: NodeServerOptions, ns: string, pod: string, container: string, previous: boolean): Promise<ContainerInfo> {
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

// ------------------------------------------------------------------ streams

const isTrue = (v: string | null) => v !== null && v !== 'false' && v !== '0';

async function handleUpgrade(o: NodeServerOptions, allowed: Set<string>, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://agent');
  const m = /^\/(exec|attach)\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname) ?? /^\/(portForward)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
  if (!m) throw new ApiError('NotFound', `the server could not find the requested resource (${url.pathname.slice(0, 200)})`);
  const caller = await authorize(o, allowed, req);
  const [kind, ns, pod, container] = [m[1]!, ...m.slice(2).map((p) => (p === undefined ? '' : decodeURIComponent(p)))] as [string, string, string, string];
  if (kind === 'portForward') {
    return servePortForward({ log: o.log, podIP: o.podIP }, ns, pod, req, socket, head);
  }
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    // kubectl 1.32 speaks WebSocket for exec/attach/cp and only falls back to SPDY when the upgrade fails; see README.
    throw badRequest(`${kind} is served over WebSocket (${EXEC_PROTOCOLS.join(', ')}) only; this client asked for ${JSON.stringify(req.headers.upgrade ?? '')}`);
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const protocol = EXEC_PROTOCOLS.find((p) => offered.includes(p));
  if (!protocol) throw badRequest(`none of the offered subprotocols ${JSON.stringify(offered.filter(Boolean))} is served; use one of ${EXEC_PROTOCOLS.join(', ')}`);
  const q = url.searchParams;
  const options: StreamOptions = { stdin: isTrue(q.get('stdin')), stdout: isTrue(q.get('stdout')), stderr: isTrue(q.get('stderr')), tty: isTrue(q.get('tty')) };
  if (!options.stdin && !options.stdout && !options.stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  const command = q.getAll('command');
  if (kind === 'exec' && (command.length === 0 || command[0] === '')) throw badRequest('you must specify at least one command for the container');
  const target = await findInstance(o, ns, pod, container, false);
  if (target.state !== 'running') throw badRequest(`container "${container}" in pod "${pod}" is not running (${target.state}${target.exitCode !== undefined ? `, exit code ${target.exitCode}` : ''})`);
  const start = kind === 'exec' ? o.runtime.execStream?.bind(o.runtime, target.id, command) : o.runtime.attach?.bind(o.runtime, target.id);
  if (!start) throw new ApiError('BadRequest', `this node's container runtime does not support ${kind}`);
  let session: StreamSession;
  try {
    session = await start(options);
  } catch (err) {
    throw badRequest(`cannot ${kind} in container "${container}" of pod "${pod}": ${message(err)}`);
  }
  const started = Date.now();
  wss.handleUpgrade(req, socket, head, (ws) => {
    o.log.info({ kind, pod: `${ns}/${pod}`, container, user: caller.name, protocol, tty: options.tty, ...(kind === 'exec' ? { command: command.slice(0, 5) } : {}) }, 'stream opened');
    bridge(ws, session, protocol, kind === 'exec' ? command : undefined).finally(() =>
      o.log.info({ kind, pod: `${ns}/${pod}`, container, ms: Date.now() - started }, 'stream closed'),
    );
  });
}

/** Channel numbers of the remote command protocol. */
const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** The Status written on the error channel when the process has ended. */
export function exitStatus(code: number | null, command?: string[]): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  if (code === null) return { metadata: {}, status: 'Failure', reason: 'InternalError', message: 'the exit code of the process is unknown (the container may have gone away)' };
  const what = command ? `command [${command.join(' ')}]` : 'the container';
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${what} exited with ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/**
 * Relays between a WebSocket of the remote command protocol and a process:
 * output on channels 1 and 2, then the exit Status on 3, then a normal
 * close; stdin from channel 0 (v5: the client half-closes it with
 * [255, 0]; v4: it ends with the connection), TTY size from channel 4.
 */
function bridge(ws: WebSocket, session: StreamSession, protocol: string, command?: string[]): Promise<void> {
  const send = (ch: number, data: Buffer | string) => {
    if (ws.readyState !== ws.OPEN) return;
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    ws.send(Buffer.concat([Buffer.from([ch]), body]));
  };
  session.stdout?.on('data', (d: Buffer) => send(CH.stdout, d));
  session.stderr?.on('data', (d: Buffer) => send(CH.stderr, d));
  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
    const data = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    if (data.length === 0) return;
    const ch = data[0];
    const payload = data.subarray(1);
    if (ch === CH.stdin) {
      if (session.stdin && !session.stdin.destroyed && payload.length) session.stdin.write(payload);
    } else if (ch === CH.resize) {
      try {
        const size = JSON.parse(payload.toString('utf8')) as { Width?: number; Height?: number };
        if (size.Width && size.Height) void session.resize(size.Width, size.Height);
      } catch {
        // A garbled resize is not worth ending the session over.
      }
    } else if (ch === CH.close && protocol.startsWith('v5') && payload[0] === CH.stdin) {
      session.stdin?.end();
    }
  });
  return new Promise<void>((resolve) => {
    let finished = false;
    ws.on('close', () => {
      // The client went away (or we closed): stop feeding the process.
      session.stdin?.end();
      if (!finished) session.close();
      resolve();
    });
    ws.on('error', () => ws.terminate());
    session.done.then(
      (code) => {
        finished = true;
        // An attach ends in Success whatever the process's exit code, as the kubelet's does: kubectl run -i reads
        // the code from the pod's status, and takes a failed attach as a cue to print the logs all over again.
        send(CH.error, JSON.stringify(command ? exitStatus(code, command) : { metadata: {}, status: 'Success' }));
        ws.close(1000);
        session.close();
      },
      (err: unknown) => {
        finished = true;
        send(CH.error, JSON.stringify({ metadata: {}, status: 'Failure', reason: 'InternalError', message: message(err) }));
        ws.close(1000);
      },
    );
  });
}
