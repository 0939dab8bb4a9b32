/**
 * `GET /api/v1/namespaces/{ns}/pods/{name}/log`: finds the pod's node and
 * proxies to its agent's log server (`/containerLogs/{ns}/{pod}/{container}`
 * at the node's InternalIP and daemonEndpoints.kubeletEndpoint.Port),
 * streaming the body. The apiserver authenticates to the agent with a
 * bearer token the agent checks through a TokenReview; it does not verify
 * the agent's self-signed certificate (as kube-apiserver without
 * --kubelet-certificate-authority). Also serves that TokenReview endpoint.
 */
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { readFile } from 'node:fs/promises';
import { ApiError, badRequest, type KubeObject, type Node, type Pod } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MASTERS_GROUP, NODES_GROUP } from './auth/authorizer.js';
import { parseTokenFile } from './auth/token-file.js';
import type { Authenticator } from './auth/types.js';
import type { PodLogHandler } from './server.js';

/** Options of the pod log proxy. */
export interface PodLogProxyOptions {
  storage: Storage;
  /** Sent to agents as `Authorization: Bearer`; must belong to a system:masters user the agent's TokenReview accepts. */
  kubeletClientToken: string | undefined;
  logger?: Logger;
  /** How long to wait for the agent's headers. Default 10 s. */
  timeoutMs?: number;
}

const QUERY_KEYS = ['follow', 'tailLines', 'previous', 'timestamps', 'sinceSeconds', 'limitBytes'] as const;

/**
 * The credential the apiserver shows agents when it has no dedicated one:
 * the first system:masters token of the token file. Every apiserver reading
 * the same file picks the same token, so agents accept any of them.
 */
export async function kubeletClientTokenFromFile(file: string): Promise<string | undefined> {
  const entries = parseTokenFile(await readFile(file, 'utf8'), file);
  return entries.find((e) => e.user.groups.includes(MASTERS_GROUP))?.token;
}

/** The node address and port of a pod's agent, or the Status error a client gets. */
export async function agentEndpoint(storage: Storage, namespace: string, name: string, containerQuery: string | undefined): Promise<{ host: string; port: number; container: string }> {
  const pod = (await storage.get('pods', namespace, name)) as Pod;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  let container = containerQuery;
  if (!container) {
    if (containers.length !== 1) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
    container = containers[0]!;
  } else if (!containers.includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${name}`);
  }
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  let node: Node;
  try {
    node = (await storage.get('nodes', undefined, nodeName)) as KubeObject as Node;
  } catch (err) {
    if (err instanceof ApiError && err.reason === 'NotFound') throw badRequest(`node ${nodeName} of pod ${name} is not registered`);
    throw err;
  }
  const host = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!host || !port) throw new ApiError('ServiceUnavailable', `node ${nodeName} does not report an InternalIP address and agent port`);
  return { host, port, container };
}

/** The PodLogHandler that proxies to agents. */
export function createPodLogProxy(o: PodLogProxyOptions): PodLogHandler {
  return async (target, req: FastifyRequest, reply: FastifyReply) => {
    const { host, port, container } = await agentEndpoint(o.storage, target.namespace, target.name, target.query.container);
    const q = new URLSearchParams();
    for (const k of QUERY_KEYS) if (target.query[k] !== undefined) q.set(k, target.query[k]!);
    const path = `/containerLogs/${encodeURIComponent(target.namespace)}/${encodeURIComponent(target.name)}/${encodeURIComponent(container)}${q.size ? `?${q}` : ''}`;
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = httpsRequest(
        { host, port, path, method: 'GET', rejectUnauthorized: false, timeout: o.timeoutMs ?? 10_000, headers: o.kubeletClientToken ? { authorization: `Bearer ${o.kubeletClientToken}` } : {} },
        resolve,
      );
      r.on('timeout', () => r.destroy(new Error('timed out waiting for the agent')));
      r.on('error', (err) => reject(new ApiError('ServiceUnavailable', `cannot reach the agent of node at ${host}:${port}: ${err.message}`)));
      // A client that goes away ends the (possibly endless) follow upstream.
      req.raw.on('close', () => r.destroy());
      r.end();
    });
    upstream.setTimeout(0);
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
      o.logger?.warn({ pod: `${target.namespace}/${target.name}`, node: `${host}:${port}`, code }, 'agent refused a log request');
      return reply.code(out).type('application/json').send(status);
    }
    return reply.code(200).type('text/plain').header('cache-control', 'no-cache').send(upstream);
  };
}

function readAll(s: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    s.on('error', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
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
    const user = authenticator.authenticate({ authorization: `Bearer ${token}` });
    const status = user
      ? { authenticated: true, user: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups } }
      : { authenticated: false, error: 'invalid bearer token' };
    return reply
      .code(201)
      .type('application/json')
      .send({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: { token }, status });
  });
}
