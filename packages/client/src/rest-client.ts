/**
 * The HTTP client of the Kubernetes REST API, on two undici Pools per
 * apiserver (keep-alive, the cluster CA as TLS trust): one for requests,
 * with few connections, and one for watches and other long streams, each of
 * which holds a connection of its own for as long as it is open.
 *
 * Requests have a pool of their own, and a small one, so that a slow
 * apiserver never makes its clients dial. When every request connection is
 * busy, a further request waits in the client for one. Before, one pool of
 * 128 or 256 connections served both: when the apiserver paused for a
 * second, each client opened up to a hundred new connections at once, the
 * apiserver's one thread then spent its time on TLS handshakes (it accepts
 * one connection per turn of its event loop), clients gave up after the
 * connect timeout and dialled again, and the storm fed itself for minutes
 * (issue 11, 5,000 hollow nodes). Kubernetes' clients avoid it the same
 * way, with one HTTP/2 connection per client.
 */
import { ApiError, isStatus, type DeleteOptions, type KubeList, type KubeObject, type Scale, type WatchEvent } from '@flotilla/api';
import { setMaxListeners } from 'node:events';
import { createSecureContext } from 'node:tls';
import { Pool } from 'undici';
import {
  namespaceOf,
  PATCH_CONTENT_TYPES,
  queryString,
  resolveResource,
  resourcePath,
  type ApiClient,
  type GetOptions,
  type ListOptions,
  type PatchType,
  type ResourceClient,
  type ResourceRef,
  type ResourceTarget,
  type WatchOptions,
  type WriteOptions,
} from './api-client.js';
import { followClientCertificate } from './certificate-reload.js';
import { onAbort } from './clock.js';
import { loadKubeconfig, type ClientConfig } from './kubeconfig.js';
import { apiErrorFromStatus, decodeWatchStream, reasonForCode } from './watch.js';

/** Options of the REST client beyond where the server is. */
export interface RestClientOptions {
  /**
   * Connections for requests (reads and writes; not watches). When all are
   * busy, further requests wait in the client instead of dialling more.
   * Default 32: at 20 ms a request that is 1,600 requests a second.
   */
  connections?: number;
  /** Connections for watches and streamed bodies (logs -f): each open one holds a connection. Default 128. */
  streamConnections?: number;
  /** Timeout of an ordinary request, in ms. Default 60 s. */
  requestTimeoutMs?: number;
  /** User-Agent header, e.g. `flotilla-scheduler`. */
  userAgent?: string;
  /**
   * fromKubeconfig only: how often to look at the kubeconfig for a renewed
   * client certificate (an agent's kubeconfig is rewritten on each
   * rotation, and a proxy on that host reads the same file), in ms.
   * Default 10 s for a certificate credential; 0 never looks again.
   */
  reloadCertificateMs?: number;
}

/** A transport failure (refused, reset, TLS) of one request, naming the method and path. */
export class NetworkError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`${method} ${path}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'NetworkError';
  }
}

/** One request of RestClient.request / requestText. */
export interface RequestOptions {
  method: string;
  /** Path and query, e.g. `/api/v1/namespaces/default/pods?limit=5`. */
  path: string;
  body?: unknown;
  contentType?: string;
  /** Accept header; JSON by default (e.g. `application/json;as=Table;v=v1;g=meta.k8s.io` for kubectl's tables). */
  accept?: string;
  signal?: AbortSignal;
}

/** The real ApiClient: talks to an apiserver over HTTP(S). */
export class RestClient implements ApiClient {
  readonly server: string;
  /** Requests (few connections, see the module comment). */
  private pool: Pool;
  /** Watches and streamed bodies, a connection each. */
  private streams: Pool;
  /** Pools replaced by setClientCertificate, draining their requests in flight (watches); destroyed by close(). */
  private readonly draining = new Set<Pool>();
  private readonly makePool: (connections: number, cert?: { cert: string; key: string }) => Pool;
  private readonly connections: number;
  private readonly streamConnections: number;
  private readonly headers: Record<string, string>;
  private readonly requestTimeoutMs: number;
  private readonly resources = new Map<string, RestResourceClient<KubeObject>>();
  private stopReloading?: () => void;

  constructor(config: ClientConfig, options: RestClientOptions = {}) {
    const url = new URL(config.server);
    this.server = url.origin;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.connections = options.connections ?? 32;
    this.streamConnections = options.streamConnections ?? 128;
    this.makePool = (connections, cred) =>
      new Pool(url.origin, {
        connections,
        keepAliveTimeout: 30_000,
        // Watches can be quiet for minutes; they end through the server's timeoutSeconds instead.
        bodyTimeout: 0,
        connect: {
          // TCP and TLS together; client-go allows 30 s to dial. undici's 10 s was shorter than a busy apiserver's
          // queue of handshakes, so a client gave up on a connection that was about to be served, and dialled again.
          timeout: CONNECT_TIMEOUT_MS,
          // One TLS context per pool, made once: given `ca`, `cert` and `key` instead, every new connection parsed them into a
          // context of its own (a busy scheduler opens a hundred connections, and that parsing was a tenth of its TLS cost).
          ...(url.protocol === 'https:'
            ? { secureContext: createSecureContext({ ...(config.ca ? { ca: config.ca } : {}), ...(cred ? { cert: cred.cert, key: cred.key } : {}) }), rejectUnauthorized: !config.insecureSkipTlsVerify }
            : {}),
        },
      });
    const cred = config.clientCert && config.clientKey ? { cert: config.clientCert, key: config.clientKey } : undefined;
    this.pool = this.makePool(this.connections, cred);
    this.streams = this.makePool(this.streamConnections, cred);
    this.headers = { accept: 'application/json', 'user-agent': options.userAgent ?? 'flotilla-client' };
    if (config.token) this.headers.authorization = `Bearer ${config.token}`;
  }

  /** A client for the kubeconfig at `path` (or $KUBECONFIG, or ~/.kube/config). */
  static fromKubeconfig(path?: string, options: RestClientOptions = {}): RestClient {
    const config = loadKubeconfig(path);
    const client = new RestClient(config, options);
    const everyMs = options.reloadCertificateMs ?? 10_000;
    if (config.clientCert && config.clientKey && everyMs > 0) {
      client.stopReloading = followClientCertificate(path, config, everyMs, (cert, key) => client.setClientCertificate(cert, key));
    }
    return client;
  }

  resource<T extends KubeObject = KubeObject>(target: ResourceTarget): ResourceClient<T> {
    return resourceClientOf<T>(this, this.resources, target);
  }

  bind(namespace: string, podName: string, nodeName: string): Promise<void> {
    return bindPod(this, namespace, podName, nodeName);
  }

  /**
   * This client, with every request made through it (and every watch)
   * aborted when `signal` aborts: for work that must not outlive a stop,
   * such as the controllers' requests, which would otherwise hold a stop
   * for the response timeout when the apiserver stops answering. Shares
   * this client's connections; closing stays with this client.
   */
  withSignal(signal: AbortSignal): ApiClient {
    return new SignalledClient(this, signal);
  }

  /** One JSON request; non-2xx throws the ApiError of the returned Status. */
  async request<R = unknown>(opts: RequestOptions): Promise<R> {
    const text = await this.requestText(opts);
    if (!text) return undefined as R;
    try {
      return JSON.parse(text) as R;
    } catch {
      throw new ApiError('InternalError', `${opts.method} ${opts.path}: response is not JSON: ${text.slice(0, 200)}`);
    }
  }

  /** One request whose body is returned as text (e.g. pod logs); non-2xx throws the ApiError of the returned Status. */
  async requestText(opts: RequestOptions): Promise<string> {
    const headers: Record<string, string> = { ...this.headers };
    if (opts.accept) headers.accept = opts.accept;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const own = requestSignal(opts.signal);
    const send = () =>
      this.pool.request({
        method: opts.method as 'GET',
        path: opts.path,
        headers,
        body,
        signal: own.signal,
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
      });
    let res;
    let text: string;
    try {
      try {
        res = await send().catch((err: unknown) => {
          // A kept-alive connection the server closed as the request went out: a read is sent once
          // more, on another connection (client-go retries a GET on a reset connection as well).
          // Writes are not: the server may have applied one before the connection went.
          if (!isIdempotent(opts.method) || opts.signal?.aborted || !closedBeforeAnswer(err)) throw err;
          return send();
        });
      } catch (err) {
        throw this.wrap(opts, err);
      }
      try {
        text = await res.body.text();
      } catch (err) {
        throw this.wrap(opts, err);
      }
    } finally {
      own.release();
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res.statusCode, text);
    return text;
  }

  /**
   * Opens a long GET (no body timeout): the response, or undefined when
   * `signal` aborted first; a non-2xx answer throws its Status. `signal`
   * is the request's own (see requestSignal).
   */
  private async openLong(path: string, headers: Record<string, string>, signal?: AbortSignal) {
    let res;
    try {
      res = await this.streams.request({ method: 'GET', path, headers, signal, headersTimeout: this.requestTimeoutMs, bodyTimeout: 0 });
    } catch (err) {
      if (signal?.aborted) return undefined;
      throw this.wrap({ method: 'GET', path }, err);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await res.body.text().catch(() => '');
      throw errorFromResponse(res.statusCode, text);
    }
    return res;
  }

  /** A GET whose body is streamed as it arrives (e.g. `pods/log?follow=true`); ends with the response or when `signal` aborts. */
  async *streamBytes(path: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const own = requestSignal(signal);
    try {
      const res = await this.openLong(path, { ...this.headers, accept: '*/*' }, own.signal);
      if (!res) return;
      try {
        for await (const chunk of res.body) yield chunk as Buffer;
      } catch (err) {
        if (!signal?.aborted) throw this.wrap({ method: 'GET', path }, err);
      } finally {
        if (!res.body.destroyed) res.body.destroy();
      }
    } finally {
      own.release();
    }
  }

  /** A watch stream: the raw events, ended when the connection ends or `signal` aborts. */
  async *stream<T>(path: string, signal?: AbortSignal, skipLine?: (line: string) => boolean): AsyncGenerator<WatchEvent<T>> {
    const own = requestSignal(signal);
    try {
      const res = await this.openLong(path, this.headers, own.signal);
      if (!res) return;
      try {
        yield* decodeWatchStream<T>(res.body, skipLine);
      } finally {
        // The consumer may stop early: release the connection rather than leave it streaming.
        if (!res.body.destroyed) res.body.destroy();
      }
    } finally {
      own.release();
    }
  }

  /**
   * Uses a new TLS client certificate from now on (a rotated node
   * credential, as client-go's transport does on the kubelet's certificate
   * rotation): new requests go over new connections; those in flight,
   * long watches among them, finish on the old ones, whose certificate is
   * still valid, and the old connections close once idle.
   */
  setClientCertificate(cert: string, key: string): void {
    const old = [this.pool, this.streams];
    this.pool = this.makePool(this.connections, { cert, key });
    this.streams = this.makePool(this.streamConnections, { cert, key });
    for (const p of old) {
      this.draining.add(p);
      void p.close().catch(() => undefined).finally(() => this.draining.delete(p));
    }
  }

  /** Closes every connection; open watches end. */
  async close(): Promise<void> {
    this.stopReloading?.();
    await Promise.all([this.pool.destroy(), this.streams.destroy(), ...[...this.draining].map((p) => p.destroy().catch(() => undefined))]);
  }

  private wrap(opts: { method: string; path: string }, err: unknown): Error {
    if ((err as Error)?.name === 'AbortError' || err instanceof ApiError) return err as Error;
    return new NetworkError(opts.method, opts.path, err);
  }
}

/**
 * A signal of one request's own that aborts (with the same reason) when
 * `signal` does, and `release` to forget it once the request is over.
 * undici adds an 'abort' listener to the signal of every request and
 * removes it at the end, and Node's EventTarget scans all of a signal's
 * listeners on each add and remove: a process of 1,000 hollow nodes,
 * whose requests all carry its one stop signal, paid for every request in
 * flight on each request. The shared signal now has one listener in all
 * (onAbort's), and undici's goes on a signal nobody else listens to.
 */
function requestSignal(signal: AbortSignal | undefined): { signal: AbortSignal | undefined; release: () => void } {
  if (!signal || signal.aborted) return { signal, release: noop };
  const own = new AbortController();
  const release = onAbort(signal, () => own.abort(signal.reason));
  return { signal: own.signal, release };
}

function noop(): void {}

/** How long a new connection may take, TCP and TLS handshakes together. */
const CONNECT_TIMEOUT_MS = 30_000;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
const isIdempotent = (method: string) => IDEMPOTENT.has(method.toUpperCase());

/** undici's error for a connection closed (or reset) before any of the response arrived. */
function closedBeforeAnswer(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

/** The ApiError a non-2xx response stands for: its Status body, or a synthetic Status. */
export function errorFromResponse(code: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as unknown;
    if (isStatus(body)) return apiErrorFromStatus(body, code);
  } catch {
    // not JSON: fall through to a synthetic Status
  }
  const snippet = text.trim().slice(0, 200);
  return apiErrorFromStatus({ code, reason: reasonForCode(code), message: `the server responded with status ${code}${snippet ? `: ${snippet}` : ''}` }, code);
}

/** What a RestResourceClient sends its requests through: a RestClient, or a view of one. */
interface Transport {
  request<R = unknown>(opts: RequestOptions): Promise<R>;
  stream<T>(path: string, signal?: AbortSignal, skipLine?: (line: string) => boolean): AsyncIterable<WatchEvent<T>>;
}

/** The transport's client of one resource, made once and kept in `made`. */
function resourceClientOf<T extends KubeObject>(transport: Transport, made: Map<string, RestResourceClient<KubeObject>>, target: ResourceTarget): ResourceClient<T> {
  const ref = resolveResource(target);
  const key = `${ref.group}/${ref.version}/${ref.plural}`;
  let rc = made.get(key);
  if (!rc) {
    rc = new RestResourceClient(transport, ref);
    made.set(key, rc);
  }
  return rc as unknown as ResourceClient<T>;
}

function bindPod(transport: Transport, namespace: string, podName: string, nodeName: string): Promise<void> {
  const pods = resolveResource({ apiVersion: 'v1', kind: 'Pod' });
  return transport.request<void>({
    method: 'POST',
    path: resourcePath(pods, namespace, podName, 'binding'),
    body: { apiVersion: 'v1', kind: 'Binding', metadata: { name: podName, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
  });
}

/** RestClient.withSignal's view: the client's requests, each also ended by one signal. */
class SignalledClient implements ApiClient, Transport {
  private readonly resources = new Map<string, RestResourceClient<KubeObject>>();

  constructor(
    private readonly client: RestClient,
    private readonly signal: AbortSignal,
  ) {
    // Every request in flight listens on this one signal (a worker each, and more).
    setMaxListeners(0, signal);
  }

  resource<T extends KubeObject = KubeObject>(target: ResourceTarget): ResourceClient<T> {
    return resourceClientOf<T>(this, this.resources, target);
  }

  bind(namespace: string, podName: string, nodeName: string): Promise<void> {
    return bindPod(this, namespace, podName, nodeName);
  }

  request<R = unknown>(opts: RequestOptions): Promise<R> {
    return this.client.request<R>({ ...opts, signal: this.and(opts.signal) });
  }

  stream<T>(path: string, signal?: AbortSignal, skipLine?: (line: string) => boolean): AsyncIterable<WatchEvent<T>> {
    return this.client.stream<T>(path, this.and(signal), skipLine);
  }

  private and(signal: AbortSignal | undefined): AbortSignal {
    return signal && signal !== this.signal ? AbortSignal.any([signal, this.signal]) : this.signal;
  }
}

class RestResourceClient<T extends KubeObject> implements ResourceClient<T> {
  constructor(
    private readonly client: Transport,
    readonly resource: ResourceRef,
  ) {}

  get(namespace: string | undefined, name: string, options: GetOptions = {}): Promise<T> {
    return this.client.request<T>({ method: 'GET', path: resourcePath(this.resource, namespace, name) + queryString({ resourceVersion: options.resourceVersion }), signal: options.signal });
  }

  list(namespace?: string, options: ListOptions = {}): Promise<KubeList<T>> {
    const q = queryString({
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      limit: options.limit,
      continue: options.continue,
      resourceVersion: options.resourceVersion,
      omitManagedFields: options.omitManagedFields ? 'true' : undefined,
    });
    return this.client.request<KubeList<T>>({ method: 'GET', path: resourcePath(this.resource, namespace) + q, signal: options.signal });
  }

  create(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.client.request<T>({ method: 'POST', path: resourcePath(this.resource, namespaceOf(this.resource, obj)), body: this.typed(obj), signal: options.signal });
  }

  update(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.client.request<T>({ method: 'PUT', path: this.objectPath(obj), body: this.typed(obj), signal: options.signal });
  }

  updateStatus(obj: T, options: WriteOptions = {}): Promise<T> {
    return this.client.request<T>({ method: 'PUT', path: this.objectPath(obj, 'status'), body: this.typed(obj), signal: options.signal });
  }

  patch(namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.client.request<T>({ method: 'PATCH', path: resourcePath(this.resource, namespace, name), body: patch, contentType: PATCH_CONTENT_TYPES[type] });
  }

  patchStatus(namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.client.request<T>({ method: 'PATCH', path: resourcePath(this.resource, namespace, name, 'status'), body: patch, contentType: PATCH_CONTENT_TYPES[type] });
  }

  async delete(namespace: string | undefined, name: string, options?: DeleteOptions): Promise<T | undefined> {
    const body = options ? { apiVersion: 'v1', kind: 'DeleteOptions', ...options } : undefined;
    const res = await this.client.request<T | { kind?: string }>({ method: 'DELETE', path: resourcePath(this.resource, namespace, name), body });
    return res && !isStatus(res) ? (res as T) : undefined;
  }

  watch(namespace?: string, options: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    const q = queryString({
      watch: 1,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: options.allowWatchBookmarks ? 'true' : undefined,
      omitManagedFields: options.omitManagedFields ? 'true' : undefined,
      timeoutSeconds: options.timeoutSeconds,
    });
    return this.client.stream<T>(resourcePath(this.resource, namespace) + q, options.signal, options.skipLine);
  }

  getScale(namespace: string, name: string): Promise<Scale> {
    return this.client.request<Scale>({ method: 'GET', path: resourcePath(this.resource, namespace, name, 'scale') });
  }

  updateScale(namespace: string, name: string, scale: Scale): Promise<Scale> {
    return this.client.request<Scale>({
      method: 'PUT',
      path: resourcePath(this.resource, namespace, name, 'scale'),
      body: { apiVersion: 'autoscaling/v1', kind: 'Scale', ...scale },
    });
  }

  private objectPath(obj: T, subresource?: string): string {
    return resourcePath(this.resource, namespaceOf(this.resource, obj), obj.metadata.name ?? '', subresource);
  }

  /** Fills in apiVersion and kind, which the server requires on a body. */
  private typed(obj: T): T {
    const apiVersion = this.resource.group ? `${this.resource.group}/${this.resource.version}` : this.resource.version;
    return { ...obj, apiVersion: obj.apiVersion ?? apiVersion, kind: obj.kind ?? this.resource.kind };
  }
}
