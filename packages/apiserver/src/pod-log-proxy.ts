/**
 * `GET /api/v1/namespaces/{ns}/pods/{name}/log`: finds the pod's node and
 * proxies to its agent's node server (`/containerLogs/{ns}/{pod}/{container}`
 * at the node's InternalIP and daemonEndpoints.kubeletEndpoint.Port),
 * streaming the body, over the mutually authenticated channel of
 * node-client.ts (no bearer token goes to the agent). Also serves the
 * TokenReview endpoint agents use for callers that reach them directly.
 */
import { ApiError, badRequest } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MASTERS_GROUP, NODES_GROUP } from './auth/authorizer.js';
import type { Authenticator } from './auth/types.js';
import { agentTarget, NodeClient, readAll, type NodeChannelTls } from './node-client.js';
import type { PodLogHandler } from './server.js';

/** Options of the pod log proxy. */
export interface PodLogProxyOptions {
  storage: Storage;
  /** The channel's credentials: cluster CA and the apiserver's client certificate. */
  nodeTls: NodeChannelTls;
  logger?: Logger;
  /** How long to wait for the agent's headers. Default 10 s. */
  timeoutMs?: number;
}

const QUERY_KEYS = ['follow', 'tailLines', 'previous', 'timestamps', 'sinceSeconds', 'limitBytes'] as const;

/** The PodLogHandler that proxies to agents. */
export function createPodLogProxy(o: PodLogProxyOptions): PodLogHandler {
  const nodes = new NodeClient(o.nodeTls, o.timeoutMs ?? 10_000);
  return async (target, req: FastifyRequest, reply: FastifyReply) => {
    const t = await agentTarget(o.storage, target.namespace, target.name, target.query.container);
    const q = new URLSearchParams();
    for (const k of QUERY_KEYS) if (target.query[k] !== undefined) q.set(k, target.query[k]!);
    const path = `/containerLogs/${encodeURIComponent(target.namespace)}/${encodeURIComponent(target.name)}/${encodeURIComponent(t.container)}${q.size ? `?${q}` : ''}`;
    // A client that goes away ends the (possibly endless) follow upstream.
    const upstream = await nodes.request(t, path, 'GET', req.raw);
    const code = upstream.statusCode ?? 502;
    if (code !== 200) {
      const text = await readAll(upstream);
      let status: unknown;
      try {
        status = JSON.parse(text);
      } catch {
        status = new ApiError('InternalError', `the agent answered ${code}: ${text.slice(0, 200)}`).status;
      }
      // The agent's 401/403 means the apiserver's credential is wrong: a server-side problem for the client.
      const out = code === 401 || code === 403 ? 500 : code;
      o.logger?.warn({ pod: `${target.namespace}/${target.name}`, node: t.nodeName, code }, 'agent refused a log request');
      return reply.code(out).type('application/json').send(status);
    }
    return reply.code(200).type('text/plain').header('cache-control', 'no-cache').send(upstream);
  };
}

/**
 * `POST /apis/authentication.k8s.io/v1/tokenreviews` (TokenReview v1): tells
 * a caller who a token belongs to. Only system:masters and system:nodes may
 * ask (agents review the tokens of log requests).
 */
export function registerTokenReview(app: FastifyInstance, authenticator: Authenticator): void {
  app.post('/apis/authentication.k8s.io/v1/tokenreviews', async (req, reply) => {
    const caller = req.flotilla?.user;
    if (!caller) throw new ApiError('Unauthorized', 'Unauthorized');
    req.flotilla.attrs = { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' };
    if (!caller.groups.includes(MASTERS_GROUP) && !caller.groups.includes(NODES_GROUP)) {
      throw new ApiError('Forbidden', `tokenreviews.authentication.k8s.io is forbidden: User "${caller.name}" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope`);
    }
    let body: { apiVersion?: string; kind?: string; spec?: { token?: unknown; audiences?: unknown } };
    try {
      body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : String(req.body ?? ''));
    } catch {
      throw badRequest('the request body is not a JSON TokenReview');
    }
    if (!body || typeof body !== 'object' || body.kind !== 'TokenReview') throw badRequest('the request body must be a TokenReview (kind: TokenReview)');
    const token = body.spec?.token;
    if (typeof token !== 'string' || token === '') throw badRequest('TokenReview spec.token: Required value');
    const user = await authenticator.authenticate({ authorization: `Bearer ${token}` });
    const status = user
      ? { authenticated: true, user: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups } }
      : { authenticated: false, error: 'invalid bearer token' };
    return reply
      .code(201)
      .type('application/json')
      .send({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: { token }, status });
  });
}
