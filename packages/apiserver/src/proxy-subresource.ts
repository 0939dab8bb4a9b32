/**
 * The `proxy` subresources of pods, services and nodes, as kube-apiserver
 * serves them: `/api/v1/namespaces/{ns}/pods/{[scheme:]name[:port]}/proxy/{path}`
 * to the pod's IP, `…/services/{[scheme:]name[:port]}/proxy/{path}` to a
 * ready pod behind the Service (the port by name or number, its targetPort
 * resolved against the pod's container ports), `/api/v1/nodes/{name}/proxy/{path}`
 * to the node's agent over the mutually authenticated node channel. The
 * verb authorized on `<resource>/proxy` is the HTTP method's (GET → get,
 * POST → create, …). The caller's credentials never travel on: the
 * Authorization header and the hop-by-hop headers stay here.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ApiError, forbidden, getCondition, type Node, type Pod, type Service } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import type { Authorizer, RequestAttributes, UserInfo, Verb } from './auth/types.js';
import { nodeTlsOptions, type NodeChannelTls } from './node-client.js';

/** A request on a proxy subresource, parsed from its URL. */
export interface ProxyPath {
  resource: 'pods' | 'services' | 'nodes';
  namespace?: string;
  name: string;
  scheme?: string;
  port?: string;
  /** The path after `/proxy`, always starting with `/`. */
  path: string;
  /** The query string with its `?`, or ''. */
  search: string;
}

const PROXY_PATH = /^\/api\/v1\/(?:namespaces\/([^/?]+)\/(pods|services)|(nodes))\/([^/?]+)\/proxy(\/[^?]*)?(\?.*)?$/;

/** The proxy request a URL names, or undefined when it is not one. */
export function parseProxyPath(url: string): ProxyPath | undefined {
  const m = PROXY_PATH.exec(url);
  if (!m) return undefined;
  let id: string;
  let namespace: string | undefined;
  try {
    id = decodeURIComponent(m[4]!);
    namespace = m[1] !== undefined ? decodeURIComponent(m[1]) : undefined;
  } catch {
    return undefined;
  }
  const parts = id.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && i !== 2)) return undefined;
  const [scheme, name, port] = parts.length === 3 ? parts : parts.length === 2 ? [undefined, parts[0], parts[1]] : [undefined, parts[0], undefined];
  return {
    resource: (m[2] ?? m[3]) as ProxyPath['resource'],
    ...(namespace !== undefined ? { namespace } : {}),
    name: name!,
    ...(scheme ? { scheme } : {}),
    ...(port ? { port } : {}),
    path: m[5] || '/',
    search: m[6] ?? '',
  };
}

const VERBS: Record<string, Verb> = { GET: 'get', HEAD: 'get', OPTIONS: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** Headers that belong to one connection, or to the caller's identity: never forwarded either way. */
const DROPPED = new Set(['authorization', 'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'impersonate-user', 'impersonate-group']);

/** Where one proxied request goes. */
interface Upstream {
  host: string;
  port: number;
  tls?: 'node' | 'insecure';
  nodeName?: string;
}

/** What serveProxy needs. */
export interface ProxyOptions {
  storage: Storage;
  authorizer: Authorizer;
  nodeTls?: NodeChannelTls;
  logger: Logger;
  timeoutMs?: number;
}

const unavailable = (msg: string) => new ApiError('ServiceUnavailable', msg);

/** Ready and addressed: a pod a Service may send to. */
function readyPod(p: Pod): boolean {
  return p.status?.phase === 'Running' && !!p.status.podIP && !p.metadata.deletionTimestamp && getCondition(p.status.conditions ?? [], 'Ready')?.status === 'True';
}

/** The container port of a pod a (target) port names: a number, or a port name. */
function podPort(p: Pod, port: string | number): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  for (const c of p.spec?.containers ?? []) for (const cp of c.ports ?? []) if (cp.name === port) return cp.containerPort;
  return undefined;
}

async function upstreamOf(o: ProxyOptions, p: ProxyPath): Promise<Upstream> {
  if (p.resource === 'nodes') {
    if (!o.nodeTls) throw unavailable('this apiserver has no node channel credentials; nodes/proxy is not available');
    const node = (await o.storage.get('nodes', undefined, p.name)) as Node;
    const host = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const port = p.port ? Number(p.port) : node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
    if (!host || !port) throw unavailable(`node "${p.name}" does not report an InternalIP address and agent port`);
    return { host, port, tls: 'node', nodeName: p.name };
  }
  const tls = p.scheme === 'https' ? ('insecure' as const) : undefined;
  if (p.scheme !== undefined && p.scheme !== 'http' && p.scheme !== 'https') throw new ApiError('BadRequest', `unsupported scheme "${p.scheme}": use http or https`);
  if (p.resource === 'pods') {
    const pod = (await o.storage.get('pods', p.namespace, p.name)) as Pod;
    if (!pod.status?.podIP) throw unavailable(`pod "${p.name}" has no IP address yet`);
    const declared = pod.spec?.containers.flatMap((c) => c.ports ?? [])[0]?.containerPort;
    const port = p.port !== undefined ? podPort(pod, p.port) : (declared ?? 80);
    if (port === undefined) throw unavailable(`pod "${p.name}" has no port named "${p.port}"`);
    return { host: pod.status.podIP, port, ...(tls ? { tls } : {}) };
  }
  const svc = (await o.storage.get('services', p.namespace, p.name)) as Service;
  const ports = svc.spec?.ports ?? [];
  const sp = p.port === undefined ? (ports.length === 1 ? ports[0] : undefined) : ports.find((x) => x.name === p.port || String(x.port) === p.port);
  if (!sp) throw unavailable(p.port === undefined ? `service "${p.name}" has several ports: name one (${p.name}:<port>)` : `no service port "${p.port}" on service "${p.name}"`);
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) throw unavailable(`no endpoints available for service "${p.name}"`);
  const { items } = await o.storage.list('pods', p.namespace, {
    predicate: (x) => Object.entries(selector).every(([k, v]) => x.metadata.labels?.[k] === v),
  });
  const ready = (items as Pod[]).filter(readyPod).map((pod) => ({ pod, port: podPort(pod, sp.targetPort ?? sp.port) })).filter((e) => e.port !== undefined);
  const pick = ready[Math.floor(Math.random() * ready.length)];
  if (!pick) throw unavailable(`no endpoints available for service "${p.name}"`);
  return { host: pick.pod.status!.podIP!, port: pick.port!, ...(tls ? { tls } : {}) };
}

/** Copies headers for the other side, without the connection's own and the caller's identity. */
function forwardable(h: IncomingMessage['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !DROPPED.has(k.toLowerCase())) out[k] = v;
  return out;
}

/** The attributes a proxy request is authorized with. */
export function proxyAttributes(p: ProxyPath, method: string, user: UserInfo): RequestAttributes {
  const verb = VERBS[method];
  if (!verb) throw new ApiError('MethodNotAllowed', `${method} is not allowed on ${p.resource}/proxy`);
  return { user, verb, group: '', resource: p.resource, subresource: 'proxy', ...(p.namespace !== undefined ? { namespace: p.namespace } : {}), name: p.name };
}

/**
 * Authorizes and serves one proxy request: resolves the upstream and relays
 * the request (body included) and the answer, status and headers as they come.
 */
export async function serveProxy(
  o: ProxyOptions,
  p: ProxyPath,
  req: { method: string; headers: IncomingMessage['headers']; body: unknown; raw: IncomingMessage },
  attrs: RequestAttributes,
): Promise<{ status: number; headers: OutgoingHttpHeaders; body: IncomingMessage }> {
  const decision = o.authorizer.authorize(attrs);
  if (!decision.allowed) throw forbidden(attrs.user.name, attrs.verb, `${p.resource}/proxy`, p.namespace, decision.reason);
  const up = await upstreamOf(o, p);
  const body = Buffer.isBuffer(req.body) ? req.body : undefined;
  const headers = forwardable(req.headers);
  if (body) headers['content-length'] = String(body.length);
  const path = `${p.path}${p.search}`;
  const what = p.resource === 'nodes' ? `node "${p.name}"` : `${p.resource === 'pods' ? 'pod' : 'service'} "${p.name}"`;
  return new Promise((resolve, reject) => {
    const common = { host: up.host, port: up.port, path, method: req.method, headers, timeout: o.timeoutMs ?? 30_000 };
    const onResponse = (res: IncomingMessage) => {
      res.setTimeout(0);
      resolve({ status: res.statusCode ?? 502, headers: forwardable(res.headers), body: res });
    };
    const r =
      up.tls === 'node'
        ? httpsRequest({ ...common, agent: false, ...nodeTlsOptions(o.nodeTls!, up.nodeName!) }, onResponse)
        : up.tls === 'insecure'
          ? // As kube-apiserver: a pod's or service's own certificate is not checked (it is not the cluster's).
            httpsRequest({ ...common, rejectUnauthorized: false }, onResponse)
          : httpRequest(common, onResponse);
    r.on('timeout', () => r.destroy(new Error('timed out')));
    r.on('error', (err) => reject(unavailable(`error trying to reach ${what} at ${up.host}:${up.port}: ${err.message}`)));
    req.raw.on('close', () => {
      if (!req.raw.complete) r.destroy();
    });
    r.end(body);
  });
}
