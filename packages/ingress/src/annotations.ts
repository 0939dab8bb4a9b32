/**
 * The ingress-nginx annotations this controller honours, read once per
 * route build. Values it cannot parse are ignored (the default applies), as
 * ingress-nginx does.
 *
 * - `nginx.ingress.kubernetes.io/proxy-body-size`: request body limit
 *   (`8k`, `1m`, `2g`, bare bytes; `0` = unlimited). Unlimited by default.
 * - `nginx.ingress.kubernetes.io/proxy-read-timeout`: seconds to wait for the
 *   backend's response headers and between body chunks. Default 60.
 * - `nginx.ingress.kubernetes.io/rewrite-target`: replaces the matched path
 *   prefix with this value (`/api` + target `/` sends `/api/x` as `/x`).
 *   Capture groups (`$1`) are not supported.
 * - `nginx.ingress.kubernetes.io/ssl-redirect`: `false` serves plain HTTP
 *   for hosts that have TLS; otherwise such requests get a 308 to https.
 */

const PREFIX = 'nginx.ingress.kubernetes.io/';

/** Per-route proxy settings from annotations. */
export interface RouteOptions {
  /** Bytes; undefined = unlimited. */
  bodyLimit?: number;
  /** Milliseconds. */
  readTimeoutMs: number;
  rewriteTarget?: string;
  /** False only when the annotation says `false`. */
  sslRedirect: boolean;
}

/** The default read timeout (ingress-nginx's 60 s). */
export const DEFAULT_READ_TIMEOUT_MS = 60_000;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses nginx's size syntax (`10`, `8k`, `1m`, `1g`, case-insensitive); undefined when malformed. */
export function parseSize(value: string): number | undefined {
  const m = /^\s*(\d+)\s*([bkmg]?)\s*$/i.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
}

/** Reads the supported annotations of an Ingress. */
export function parseRouteOptions(annotations: Record<string, string> | undefined): RouteOptions {
  const a = annotations ?? {};
  const opts: RouteOptions = { readTimeoutMs: DEFAULT_READ_TIMEOUT_MS, sslRedirect: a[`${PREFIX}ssl-redirect`]?.toLowerCase() !== 'false' };
  const size = a[`${PREFIX}proxy-body-size`];
  if (size !== undefined) {
    const n = parseSize(size);
    if (n !== undefined && n > 0) opts.bodyLimit = n;
  }
  const timeout = a[`${PREFIX}proxy-read-timeout`];
  if (timeout !== undefined && /^\d+$/.test(timeout.trim()) && Number(timeout) > 0) opts.readTimeoutMs = Number(timeout) * 1000;
  const rewrite = a[`${PREFIX}rewrite-target`];
  if (rewrite) opts.rewriteTarget = rewrite;
  return opts;
}

/**
 * The path sent upstream: with rewrite-target, the part of `path` the route
 * matched is replaced by the target (a Prefix route keeps what follows).
 */
export function rewritePath(target: string, routePath: string, pathType: string, url: string): string {
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  const query = q >= 0 ? url.slice(q) : '';
  let rest = '';
  if (pathType !== 'Exact') {
    const prefix = routePath.endsWith('/') ? routePath.slice(0, -1) : routePath;
    rest = path.slice(prefix.length);
  }
  let out = target.endsWith('/') && rest.startsWith('/') ? target + rest.slice(1) : target + rest;
  if (!out.startsWith('/')) out = `/${out}`;
  return out + query;
}
