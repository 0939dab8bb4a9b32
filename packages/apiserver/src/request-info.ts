/**
 * Parses a Kubernetes API path into what it addresses, the way the
 * Kubernetes RequestInfoFactory does: discovery documents, or a resource
 * with optional namespace, name and subresource.
 */
import { badRequest } from '@flotilla/api';

/** What an `/api…` or `/apis…` path addresses. */
export type PathInfo =
  | { type: 'apiVersions' }
  | { type: 'apiGroupList' }
  | { type: 'apiGroup'; group: string }
  | { type: 'resourceList'; group: string; version: string }
  | ResourcePath;

/** A path to a resource, a collection or a subresource. */
export interface ResourcePath {
  type: 'resource';
  group: string;
  version: string;
  /** Plural resource name as written in the path. */
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy `/watch/` path prefix was used. */
  watchPath: boolean;
}

// Subresources that follow a namespace's own name rather than a resource in it.
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Splits and decodes `/api/…`; undefined when the path is not an API path (404). */
export function parseApiPath(path: string): PathInfo | undefined {
  const q = path.indexOf('?');
  const clean = q >= 0 ? path.slice(0, q) : path;
  const raw = clean.split('/').filter((s) => s !== '');
  let parts: string[];
  try {
    parts = raw.map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest(`malformed path: ${clean.slice(0, 200)}`);
  }
  if (parts.some((p) => p === '.' || p === '..' || p.includes('/'))) return undefined;
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api') {
    if (parts.length === 1) return { type: 'apiVersions' };
    group = '';
    version = parts[1]!;
    if (parts.length === 2) return { type: 'resourceList', group, version };
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length === 1) return { type: 'apiGroupList' };
    group = parts[1]!;
    if (parts.length === 2) return { type: 'apiGroup', group };
    version = parts[2]!;
    if (parts.length === 3) return { type: 'resourceList', group, version };
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
    if (rest.length === 0) return undefined;
  }
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && NAMESPACE_SUBRESOURCES.has(rest[2]!))) {
    const [, namespace, resource, name, subresource, ...extra] = rest;
    if (extra.length > 0) return undefined;
    return { type: 'resource', group, version, resource: resource!, namespace, name, subresource, watchPath };
  }
  const [resource, name, subresource, ...extra] = rest;
  if (extra.length > 0) return undefined;
  return { type: 'resource', group, version, resource: resource!, name, subresource, watchPath };
}
