/**
 * The apiserver's side of the apiserver → agent channel, used by the
 * `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` proxies.
 *
 * Mutual TLS, no bearer token: the apiserver presents its client
 * certificate (CN kube-apiserver-kubelet-client, signed by the cluster CA)
 * and accepts the agent only if its serving certificate chains to the
 * cluster CA, covers the address dialled and names the node the pod is
 * bound to (CN `system:node:<nodeName>`). Nothing the agent receives lets
 * anyone act on the apiserver: the client certificate is useless without
 * its key, and the apiserver does not accept client certificates at all.
 */
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, badRequest, type KubeObject, type Node, type Pod } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import { NODE_CN_PREFIX } from './tls/node-certs.js';

/** The credentials of the channel: the cluster CA and the apiserver's client pair (PEM). */
export interface NodeChannelTls {
  ca: string;
  cert: string;
  key: string;
}

/** Where a pod's agent is, and which container a request is about. */
export interface PodTarget {
  pod: Pod;
  nodeName: string;
  host: string;
  port: number;
  /** The container named by the request, or the pod's only one. */
  container: string;
}

/** How agentTarget checks the pod. */
export interface TargetOptions {
  /** Refuse pods that are not Running (exec, attach, port-forward). */
  requireRunning?: boolean;
  /** The verb in messages: `exec into`, `attach to`. */
  action?: string;
  /** The request needs no container (port-forward). */
  noContainer?: boolean;
}

/**
 * Finds the pod, its container and its node's agent endpoint, or throws the
 * Status error a client should see (naming the pod, container or node).
 */
export async function agentTarget(storage: Storage, namespace: string, name: string, containerQuery: string | undefined, o: TargetOptions = {}): Promise<PodTarget> {
  const pod = (await storage.get('pods', namespace, name)) as Pod;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  // Init and ephemeral containers are reachable by name (kubectl debug attaches to its ephemeral one).
  const named = [...containers, ...(pod.spec?.initContainers ?? []).map((c) => c.name), ...(pod.spec?.ephemeralContainers ?? []).map((c) => c.name)];
  let container = containerQuery ?? '';
  if (!o.noContainer) {
    if (!container) {
      if (containers.length !== 1) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]${pod.spec?.initContainers?.length ? ` or one of the init containers: [${pod.spec.initContainers.map((c) => c.name).join(' ')}]` : ''}`);
      container = containers[0]!;
    } else if (!named.includes(container)) {
      throw badRequest(`container "${container}" not found in pod "${name}"`);
    }
  }
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) throw badRequest(`pod "${name}" is not scheduled to a node yet`);
  if (o.requireRunning) {
    const phase = pod.status?.phase ?? 'Pending';
    if (phase !== 'Running') throw badRequest(`pod "${name}" is not running (phase ${phase}): cannot ${o.action ?? 'connect to'} it`);
  }
  let node: Node;
  try {
    node = (await storage.get('nodes', undefined, nodeName)) as KubeObject as Node;
  } catch (err) {
    if (err instanceof ApiError && err.reason === 'NotFound') throw badRequest(`node "${nodeName}" of pod "${name}" is not registered`);
    throw err;
  }
  const host = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!host || !port) throw new ApiError('ServiceUnavailable', `node "${nodeName}" does not report an InternalIP address and agent port`);
  return { pod, nodeName, host, port, container };
}

/**
 * TLS options that authenticate both ends: our client pair, trust in the
 * cluster CA only, and a server identity check that also insists on the
 * node's own name, so one node's certificate never passes for another's.
 */
export function nodeTlsOptions(tls: NodeChannelTls, nodeName: string) {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: true,
    checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
      const err = checkServerIdentity(host, cert);
      if (err) return err;
      const want = `${NODE_CN_PREFIX}${nodeName}`;
      if (cert.subject?.CN !== want) return new Error(`the agent at ${host} presented a certificate for ${JSON.stringify(cert.subject?.CN ?? '')}, not ${want}`);
      return undefined;
    },
  };
}

/** The error a client sees when the agent cannot be reached or fails the TLS checks. */
function unreachable(t: PodTarget, err: Error): ApiError {
  return new ApiError('ServiceUnavailable', `cannot reach the agent of node "${t.nodeName}" at ${t.host}:${t.port}: ${err.message}`);
}

/** Dials agents over the mutually authenticated channel. */
export class NodeClient {
  constructor(
    private readonly tls: NodeChannelTls,
    private readonly timeoutMs = 10_000,
  ) {}

  /** A plain request (logs); resolves with the agent's response once its headers arrive. `onClose` aborts it. */
  request(t: PodTarget, path: string, method = 'GET', clientGone?: { on(ev: 'close', f: () => void): unknown }): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const opts: RequestOptions = { host: t.host, port: t.port, path, method, timeout: this.timeoutMs, ...nodeTlsOptions(this.tls, t.nodeName) };
      const r = httpsRequest(opts, (res) => {
        res.setTimeout(0);
        resolve(res);
      });
      r.on('timeout', () => r.destroy(new Error('timed out waiting for the agent')));
      r.on('error', (err) => reject(unreachable(t, err)));
      clientGone?.on('close', () => r.destroy());
      r.end();
    });
  }

  /**
   * Sends an HTTP upgrade request (`headers` carry only the protocol's own
   * headers, never the client's credentials) and resolves with the agent's
   * answer: on 101 the raw socket to splice with the client's, otherwise
   * the response to relay as an error.
   */
  upgrade(t: PodTarget, path: string, method: string, headers: Record<string, string>): Promise<{ res: IncomingMessage; socket?: Duplex; head?: Buffer }> {
    return new Promise((resolve, reject) => {
      const r = httpsRequest({ host: t.host, port: t.port, path, method, headers, timeout: this.timeoutMs, agent: false, ...nodeTlsOptions(this.tls, t.nodeName) });
      r.on('upgrade', (res, socket, head) => {
        socket.setTimeout(0);
        resolve({ res, socket, head });
      });
      r.on('response', (res) => resolve({ res }));
      r.on('timeout', () => r.destroy(new Error('timed out waiting for the agent')));
      r.on('error', (err) => reject(unreachable(t, err)));
      r.end();
    });
  }

  /** A TLS connection to the agent (for tests of the identity checks). */
  connect(t: Pick<PodTarget, 'host' | 'port' | 'nodeName'>): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: t.host, port: t.port, ...nodeTlsOptions(this.tls, t.nodeName) }, () => resolve(s));
      s.on('error', reject);
    });
  }
}

/** Reads a whole (small) response body as text. */
export function readAll(s: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    s.on('error', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}
