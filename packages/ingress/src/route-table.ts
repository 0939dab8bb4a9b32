/**
 * The route table: every Ingress of our class merged into one lookup from
 * (host, path) to a Service backend, built whole on each change and swapped
 * atomically by the controller. Pure: no I/O, no clocks.
 *
 * Matching follows the Ingress specification:
 * - hosts: an exact host rule first, then a one-label wildcard (`*.a.b`
 *   matches `x.a.b`, not `x.y.a.b` nor `a.b`), then rules without host;
 *   host names compare case-insensitively;
 * - paths within the chosen host: the longest path that matches wins,
 *   `Exact` before `Prefix` at equal length. `Exact` compares the whole
 *   path, case-sensitively. `Prefix` compares element by element on `/`
 *   (`/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`), a
 *   trailing slash on either side ignored.
 * - `ImplementationSpecific` here means `Prefix` (the behaviour most users
 *   expect from ingress-nginx without regular expressions).
 * - nothing matched in the chosen host: the Ingresses' `defaultBackend`
 *   (the oldest one's), else no route (404).
 * Conflicts (the same host, path and pathType, or two default backends, in
 * different Ingresses) go to the oldest Ingress (creationTimestamp, then
 * namespace/name); the others are reported so the controller can record an
 * Event on them.
 */
import type { Ingress, IngressBackend, PathType, ServiceBackendPort } from '@flotilla/api';
import { parseRouteOptions, type RouteOptions } from './annotations.js';

/** A Service port as an Ingress names it. */
export interface BackendRef {
  namespace: string;
  service: string;
  port: ServiceBackendPort;
  /** `ns/service:port`, the key of the backend map. */
  key: string;
}

/** One path of one Ingress, ready to match. */
export interface Route {
  /** `namespace/name` of the Ingress that owns the route. */
  ingress: string;
  /** The host as written in the rule (`*.example.com`), '' for any host. */
  host: string;
  /** The path as written ('' for a default backend). */
  path: string;
  pathType: PathType | 'Default';
  backend: BackendRef;
  options: RouteOptions;
  /** Path elements for Prefix matching (trailing slash dropped). */
  readonly elements: string[];
  /** The metric label of this route: `ns/name host path`. */
  readonly label: string;
}

/** A path rule or default backend that lost to an older Ingress. */
export interface RouteConflict {
  /** The Ingress that lost (its route is not served). */
  loser: Ingress;
  /** `namespace/name` of the Ingress that won. */
  winner: string;
  host: string;
  path: string;
  pathType: string;
}

/** A backend an Ingress names that the table cannot serve (e.g. a `resource` backend). */
export interface UnsupportedBackend {
  ingress: Ingress;
  field: string;
  message: string;
}

/** The result of a match: the route, and the path to send upstream (after rewrite-target). */
export interface RouteMatch {
  route: Route;
}

interface HostRoutes {
  /** Longest first, Exact before Prefix at equal length. */
  routes: Route[];
}

/** Splits a path into elements for Prefix matching; a trailing slash does not make an element. */
export function pathElements(path: string): string[] {
  const parts = path.split('/');
  // '/foo/bar/' → ['', 'foo', 'bar', '']: drop the leading '' and one trailing ''.
  parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** True when a Prefix rule's elements are a prefix of the request's elements. */
function prefixMatches(rule: string[], request: string[]): boolean {
  if (rule.length > request.length) return false;
  for (let i = 0; i < rule.length; i++) if (rule[i] !== request[i]) return false;
  return true;
}

/** The request path without query string or fragment. */
export function requestPath(url: string): string {
  let end = url.length;
  const q = url.indexOf('?');
  if (q >= 0) end = q;
  const h = url.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return url.slice(0, end) || '/';
}

/** The host of a Host header: lower case, port and a trailing dot removed; IPv6 brackets kept. */
export function requestHost(header: string | undefined): string {
  if (!header) return '';
  let h = header.toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** Entries of a table's match cache before it starts afresh. */
const MATCH_CACHE_SIZE = 4096;
const rank = (r: Route): number => (r.pathType === 'Exact' ? 1 : 0);

/** Sort order within a host: longest path first; Exact before Prefix at equal length. */
function compareRoutes(a: Route, b: Route): number {
  const la = a.pathType === 'Exact' ? a.path.length : a.elements.join('/').length + 1;
  const lb = b.pathType === 'Exact' ? b.path.length : b.elements.join('/').length + 1;
  return lb - la || rank(b) - rank(a);
}

/** The Ingress age order: oldest first, then namespace/name, so every controller picks the same winner. */
export function compareIngressAge(a: Ingress, b: Ingress): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The backend key `ns/service:port` (port by number or name). */
export function backendKey(namespace: string, service: string, port: ServiceBackendPort | undefined): string {
  return `${namespace}/${service}:${port?.name || port?.number || ''}`;
}

/** A lookup from (host, path) to a route; immutable once built. */
export class RouteTable {
  /** Every route served, for metrics and tests. */
  readonly routes: readonly Route[];
  /** Lost conflicts, for Events. */
  readonly conflicts: readonly RouteConflict[];
  /** Backends that cannot be served, for Events. */
  readonly unsupported: readonly UnsupportedBackend[];
  /** Every backend the routes name, by key. */
  readonly backends: ReadonlyMap<string, BackendRef>;
  private readonly exact = new Map<string, HostRoutes>();
  /** `*.example.com` stored under `example.com`. */
  private readonly wildcard = new Map<string, HostRoutes>();
  private readonly anyHost: HostRoutes = { routes: [] };
  /** What `host\npath` matched (null: nothing), at most MATCH_CACHE_SIZE entries. */
  private readonly matched = new Map<string, Route | null>();
  private readonly defaultRoute: Route | undefined;

  /** Builds the table from the Ingresses that are ours (the caller filters by class). */
  constructor(ingresses: readonly Ingress[]) {
    const sorted = [...ingresses].sort(compareIngressAge);
    const routes: Route[] = [];
    const conflicts: RouteConflict[] = [];
    const unsupported: UnsupportedBackend[] = [];
    const backends = new Map<string, BackendRef>();
    const claimed = new Map<string, string>();
    let defaultRoute: Route | undefined;

    const toRoute = (ing: Ingress, host: string, path: string, pathType: Route['pathType'], b: IngressBackend, field: string): Route | undefined => {
      const ns = ing.metadata.namespace ?? 'default';
      const key = `${ns}/${ing.metadata.name}`;
      if (!b?.service?.name) {
        unsupported.push({ ingress: ing, field, message: 'only Service backends are supported' });
        return undefined;
      }
      const ref: BackendRef = { namespace: ns, service: b.service.name, port: b.service.port ?? {}, key: backendKey(ns, b.service.name, b.service.port) };
      backends.set(ref.key, ref);
      const elements = pathType === 'Exact' ? [] : pathElements(path || '/');
      return { ingress: key, host, path, pathType, backend: ref, options: parseRouteOptions(ing.metadata.annotations), elements, label: `${key} ${host || '*'} ${path || '(default)'}` };
    };

    for (const ing of sorted) {
      const key = `${ing.metadata.namespace ?? 'default'}/${ing.metadata.name}`;
      const spec = ing.spec ?? {};
      if (spec.defaultBackend) {
        const r = toRoute(ing, '', '', 'Default', spec.defaultBackend, 'spec.defaultBackend');
        if (r && defaultRoute) conflicts.push({ loser: ing, winner: defaultRoute.ingress, host: '', path: '', pathType: 'defaultBackend' });
        else if (r) defaultRoute = r;
      }
      (spec.rules ?? []).forEach((rule, i) => {
        const host = (rule.host ?? '').toLowerCase();
        (rule.http?.paths ?? []).forEach((p, j) => {
          // ImplementationSpecific is Prefix here (see the file comment).
          const pathType: PathType = p.pathType === 'Exact' ? 'Exact' : 'Prefix';
          const path = p.path || '/';
          const id = `${host}\u0000${pathType}\u0000${pathType === 'Exact' ? path : pathElements(path).join('/')}`;
          const winner = claimed.get(id);
          if (winner !== undefined && winner !== key) {
            conflicts.push({ loser: ing, winner, host, path, pathType });
            return;
          }
          if (winner === key) return; // the same Ingress twice: first one wins silently
          const r = toRoute(ing, host, path, pathType, p.backend, `spec.rules[${i}].http.paths[${j}].backend`);
          if (!r) return;
          claimed.set(id, key);
          routes.push(r);
        });
      });
    }

    for (const r of routes) {
      let target: HostRoutes;
      if (r.host === '') target = this.anyHost;
      else {
        const map = r.host.startsWith('*.') ? this.wildcard : this.exact;
        const k = r.host.startsWith('*.') ? r.host.slice(2) : r.host;
        let hr = map.get(k);
        if (!hr) map.set(k, (hr = { routes: [] }));
        target = hr;
      }
      target.routes.push(r);
    }
    for (const hr of [this.anyHost, ...this.exact.values(), ...this.wildcard.values()]) hr.routes.sort(compareRoutes);
    this.routes = defaultRoute ? [...routes, defaultRoute] : routes;
    this.conflicts = conflicts;
    this.unsupported = unsupported;
    this.backends = backends;
    this.defaultRoute = defaultRoute;
  }

  /** The routes of the host a request names: exact, else one-label wildcard, else host-less rules. */
  private hostRoutes(host: string): HostRoutes {
    const exact = this.exact.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(host.slice(dot + 1));
      if (wild) return wild;
    }
    return this.anyHost;
  }

  /** The route for a request's host (see requestHost) and path (see requestPath), or undefined (404). */
  match(host: string, path: string): Route | undefined {
    // A table never changes, so what a host and path matched stays true while the table lives;
    // bounded, as paths are the clients' to choose.
    const key = `${host}\n${path}`;
    const hit = this.matched.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const route = this.matchUncached(host, path);
    if (this.matched.size >= MATCH_CACHE_SIZE) this.matched.clear();
    this.matched.set(key, route ?? null);
    return route;
  }

  private matchUncached(host: string, path: string): Route | undefined {
    const hr = this.hostRoutes(host);
    let elements: string[] | undefined;
    for (const r of hr.routes) {
      if (r.pathType === 'Exact') {
        if (r.path === path) return r;
      } else {
        elements ??= pathElements(path);
        if (prefixMatches(r.elements, elements)) return r;
      }
    }
    return this.defaultRoute;
  }

  /** Hosts named by rules (for TLS and status), wildcards included. */
  hosts(): string[] {
    return [...this.exact.keys(), ...[...this.wildcard.keys()].map((h) => `*.${h}`)];
  }
}
