/**
 * `pods/exec`, `pods/attach` and `pods/portforward`: connection upgrades
 * (WebSocket, or SPDY from older clients) that the apiserver checks —
 * authentication, `create` on the subresource, the pod, its container,
 * its phase — and then splices to the pod's agent over the mutually
 * authenticated node channel, as kube-apiserver's upgrade-aware proxy
 * does. The apiserver does not parse the stream protocol: the agent
 * negotiates it (so the subprotocols it serves are exactly those the
 * client gets), and the apiserver forwards only the protocol's own headers,
 * never the client's credentials.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, badRequest, forbidden, unauthorized } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import type { Authenticator, Authorizer } from './auth/types.js';
import { agentTarget, NodeClient, readAll, type NodeChannelTls } from './node-client.js';
import { parseApiPath } from './request-info.js';

/** The connect subresources of pods. */
export const STREAM_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/** Request headers a stream protocol needs end to end; everything else (Authorization first) stays here. */
const FORWARDED_HEADERS = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'x-stream-protocol-version',
]);

/** Options of the stream proxy. */
export interface PodStreamProxyOptions {
  storage: Storage;
  authenticator: Authenticator;
  authorizer: Authorizer;
  nodeTls: NodeChannelTls;
  logger: Logger;
  timeoutMs?: number;
}

/** Writes a Status as a plain HTTP answer on a socket that asked for an upgrade, then closes it. */
function refuse(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.status);
  const text = `HTTP/1.1 ${err.code} ${err.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
  socket.end(text);
}

/** Query parameters as kubectl sends them: `command` repeated, flags as `true`/`1`. */
function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
}

const isTrue = (v: string | null) => v !== null && v !== 'false' && v !== '0';

/** The agent path of an exec/attach/portforward request, after checking its parameters. */
function agentPath(sub: string, ns: string, pod: string, container: string, q: URLSearchParams): string {
  const e = encodeURIComponent;
  if (sub === 'portforward') return `/portForward/${e(ns)}/${e(pod)}${q.size ? `?${q}` : ''}`;
  const out = new URLSearchParams();
  for (const k of ['stdin', 'stdout', 'stderr', 'tty'] as const) if (isTrue(q.get(k))) out.set(k, 'true');
  if (!out.has('stdin') && !out.has('stdout') && !out.has('stderr')) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  if (sub === 'exec') {
    const command = q.getAll('command');
    if (command.length === 0 || command[0] === '') throw badRequest('you must specify at least one command for the container');
    for (const c of command) out.append('command', c);
  }
  return `/${sub}/${e(ns)}/${e(pod)}/${e(container)}?${out}`;
}

/** The protocol headers of the client's request, repeated headers kept as arrays. */
function forwardedHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (!FORWARDED_HEADERS.has(name)) continue;
    const value = req.rawHeaders[i + 1]!;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** The agent's 101 answer as raw bytes for the client. */
function switchingHead(res: IncomingMessage): string {
  const lines = [`HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}`];
  for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Serves the upgrade requests of `server` (the apiserver's HTTPS server).
 * Returns a function that cuts every open stream (for shutdown).
 */
export function servePodStreams(server: { on(ev: 'upgrade', f: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown }, o: PodStreamProxyOptions): () => void {
  const nodes = new NodeClient(o.nodeTls, o.timeoutMs ?? 10_000);
  const open = new Set<Duplex>();

  const handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const started = Date.now();
    const path = parseApiPath(req.url ?? '/');
    if (!path || path.type !== 'resource' || path.group !== '' || path.resource !== 'pods' || !path.namespace || !path.name || !STREAM_SUBRESOURCES.has(path.subresource ?? '')) {
      throw new ApiError('NotFound', `the server does not upgrade connections for ${(req.url ?? '').split('?')[0]!.slice(0, 200)}`);
    }
    if (req.method !== 'GET' && req.method !== 'POST') throw new ApiError('MethodNotAllowed', `${req.method} is not allowed on pods/${path.subresource}`);
    const user = await o.authenticator.authenticate(req.headers, { socket: req.socket });
    if (!user) throw unauthorized();
    const sub = path.subresource!;
    const attrs = { verb: 'create' as const, group: '', resource: 'pods', subresource: sub, namespace: path.namespace, name: path.name, user };
    const decision = o.authorizer.authorize(attrs);
    if (!decision.allowed) throw forbidden(user.name, 'create', `pods/${sub}`, path.namespace, decision.reason);
    const q = queryOf(req.url ?? '');
    const action = sub === 'exec' ? 'exec into' : sub === 'attach' ? 'attach to' : 'forward ports of';
    const t = await agentTarget(o.storage, path.namespace, path.name, q.get('container') ?? undefined, { requireRunning: true, action, noContainer: sub === 'portforward' });
    const upstream = await nodes.upgrade(t, agentPath(sub, path.namespace, path.name, t.container, q), req.method, forwardedHeaders(req));
    if (!upstream.socket) {
      const text = await readAll(upstream.res);
      let err: ApiError;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        err = new ApiError((status.reason as never) ?? 'InternalError', status.message ?? text.slice(0, 300));
      } catch {
        err = new ApiError('InternalError', `the agent answered ${upstream.res.statusCode}: ${text.slice(0, 300)}`);
      }
      // The agent refusing the apiserver is the server's problem, not the client's.
      if (upstream.res.statusCode === 401 || upstream.res.statusCode === 403) err = new ApiError('InternalError', `the agent of node "${t.nodeName}" refused the apiserver: ${err.message}`);
      throw err;
    }
    const agent = upstream.socket;
    open.add(socket);
    socket.write(switchingHead(upstream.res));
    if (upstream.head?.length) socket.write(upstream.head);
    if (head.length) agent.write(head);
    agent.pipe(socket);
    socket.pipe(agent);
    const done = () => {
      if (!open.delete(socket)) return;
      agent.destroy();
      socket.destroy();
      o.logger.info({ verb: 'create', resource: 'pods', subresource: sub, key: `${path.namespace}/${path.name}`, container: t.container || undefined, node: t.nodeName, user: user.name, ms: Date.now() - started }, 'stream closed');
    };
    socket.on('close', done);
    agent.on('close', done);
    socket.on('error', done);
    agent.on('error', done);
  };

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    handle(req, socket, head).catch((err: unknown) => {
      const apiErr = err instanceof ApiError ? err : new ApiError('InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
      if (apiErr.code >= 500) o.logger.error({ path: (req.url ?? '').split('?')[0], err: apiErr.message }, 'stream request failed');
      else o.logger.info({ path: (req.url ?? '').split('?')[0], code: apiErr.code, err: apiErr.message }, 'stream request refused');
      if (!socket.destroyed) refuse(socket, apiErr);
    });
  });
  return () => {
    for (const s of open) s.destroy();
  };
}
