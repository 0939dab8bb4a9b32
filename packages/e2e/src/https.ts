import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';

/** Where and as whom a request goes. */
export interface Endpoint {
  /** `https://127.0.0.1:port` */
  url: string;
  /** PEM of the CA the server certificate must chain to. */
  ca: string;
  /** Bearer token; none means an anonymous request. */
  token?: string;
}

/** A buffered response. */
export interface ApiResponse {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  /** The body parsed as JSON; throws with the raw text when it is not JSON. */
  json<T = any>(): T;
}

function open(endpoint: Endpoint, method: string, path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
  const url = new URL(path, endpoint.url);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const options: RequestOptions = {
    method,
    ca: endpoint.ca,
    headers: {
      accept: 'application/json',
      ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
      ...(endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {}),
      ...headers,
    },
    ...(signal ? { signal } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, options, resolve);
    req.once('error', reject);
    req.end(payload);
  });
}

/** One HTTPS request, verified against the endpoint's CA, body buffered. */
export async function apiRequest(endpoint: Endpoint, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const res = await open(endpoint, method, path, body, headers, AbortSignal.timeout(15_000));
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    text,
    json() {
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`${method} ${path}: HTTP ${res.statusCode}, body is not JSON: ${text.slice(0, 500)}`);
      }
    },
  };
}

/** An open watch: events arrive in `events` as they are read; `close()` ends the stream. */
export interface WatchStream {
  status: number;
  /** Every event received so far, in order. */
  events: Array<{ type: string; object: any }>;
  /** Resolves when the server ends the stream (or it is closed). */
  ended: Promise<void>;
  close(): void;
}

/**
 * Opens `path` (which should carry `watch=1`) and collects its
 * newline-delimited JSON events. Poll `events` with waitFor.
 */
export async function openWatch(endpoint: Endpoint, path: string): Promise<WatchStream> {
  const controller = new AbortController();
  const res = await open(endpoint, 'GET', path, undefined, {}, controller.signal);
  const events: WatchStream['events'] = [];
  const ended = (async () => {
    let buffered = '';
    try {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== '') events.push(JSON.parse(line));
        }
      }
      if (buffered.trim() !== '') events.push(JSON.parse(buffered));
    } catch (err) {
      // An abort from close() or the server dying ends the stream; both are expected here.
      if (!controller.signal.aborted && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
    }
  })();
  ended.catch(() => undefined);
  return { status: res.statusCode ?? 0, events, ended, close: () => controller.abort() };
}
