import { badRequest } from '@flotilla/api';

/** What a list `continue` token carries: the revision of the first page and the key to resume at. */
export interface ContinueToken {
  /** etcd revision every page is read at. */
  rv: number;
  /** Key to resume at, relative to the list's key prefix (so a token cannot escape it). */
  start: string;
}

/** Encodes a token as opaque base64 JSON, the same shape Kubernetes uses (`{"v","rv","start"}`). */
export function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: token.rv, start: token.start })).toString('base64url');
}

/** Decodes a token from a client; anything malformed is a 400, never a crash. */
export function decodeContinue(value: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('continue key is not valid: could not decode the token');
  }
  const p = parsed as { v?: unknown; rv?: unknown; start?: unknown };
  if (typeof p !== 'object' || p === null || p.v !== 'meta.k8s.io/v1') {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  if (typeof p.rv !== 'number' || !Number.isSafeInteger(p.rv) || p.rv <= 0) {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion');
  }
  if (typeof p.start !== 'string' || p.start.length === 0 || p.start.startsWith('/') || p.start.includes('..')) {
    throw badRequest('continue key is not valid: incorrect encoded start key');
  }
  return { rv: p.rv, start: p.start };
}
