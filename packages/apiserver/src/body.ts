/**
 * Request bodies: JSON or YAML objects, and the PATCH media types. Fastify
 * hands every body over as a raw Buffer (see server.ts) so that a malformed
 * one becomes a Kubernetes Status rather than fastify's own error shape.
 */
import { isMap, isScalar, isSeq, parse as parseYaml, parseDocument as parseYamlDocument, type Node as YamlNode } from 'yaml';
import { ApiError, badRequest } from '@flotilla/api';
import { PATCH_TYPES, type PatchType } from './patch.js';
import { decodeProtobuf, PROTOBUF_TYPE } from './protobuf.js';

/** The media type without parameters, lower-cased; '' when absent. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

/** 415 for a body of a type this endpoint does not take. */
export function unsupportedMediaType(type: string): ApiError {
  return new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml${type ? ` (got "${type.slice(0, 100)}")` : ''}`);
}

/** The text of a raw body; '' when there is none. */
function text(raw: unknown): string {
  if (raw === undefined || raw === null) return '';
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (typeof raw === 'string') return raw;
  return JSON.stringify(raw);
}

/** Deepest nesting of objects and lists a body may have; real manifests stay far below. */
export const MAX_BODY_NESTING = 100;

/**
 * The deepest nesting of flow collections (`[`/`{`) outside quoted strings and
 * comments. Checked before parsing: the YAML parser recurses per level, and
 * a thousand nested flow sequences make V8 abort the whole process rather
 * than throw.
 */
export function flowNestingDepth(body: string): number {
  let depth = 0;
  let max = 0;
  let quote: '"' | "'" | undefined;
  let comment = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (comment) {
      if (c === '\n') comment = false;
    } else if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = undefined;
    } else if (quote === "'") {
      if (c === "'") quote = undefined; // '' (an escaped quote) closes and reopens: same outcome
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || body[i - 1] === ' ' || body[i - 1] === '\t' || body[i - 1] === '\n')) {
      comment = true;
    } else if (c === '[' || c === '{') {
      if (++depth > max) max = depth;
    } else if (c === ']' || c === '}') {
      depth--;
    }
  }
  return max;
}

/** True when a parsed value nests objects and lists more than `limit` levels deep (stops looking past it). */
function nestedDeeper(v: unknown, limit: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (limit === 0) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (nestedDeeper(x, limit - 1)) return true;
  } else {
    for (const k in v) if (nestedDeeper((v as Record<string, unknown>)[k], limit - 1)) return true;
  }
  return false;
}

const tooDeep = () => badRequest(`the body could not be decoded: it is nested more than ${MAX_BODY_NESTING} levels deep`);

/** Parses a JSON or YAML document; a syntax error is a 400. */
function parseDocument(body: string, yaml: boolean): unknown {
  if (!yaml) {
    // V8's JSON.parse does not recurse, so JSON is parsed first and its depth checked on
    // the parsed value (a walk of its nodes is cheaper than a scan of every character).
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch (err) {
      throw badRequest(`the body could not be decoded: ${(err as Error).message.split('\n')[0]!.slice(0, 300)}`);
    }
    if (nestedDeeper(v, MAX_BODY_NESTING)) throw tooDeep();
    return v;
  }
  if (flowNestingDepth(body) > MAX_BODY_NESTING) throw tooDeep();
  try {
    const v = parseYaml(body, { maxAliasCount: 100, uniqueKeys: false });
    return v;
  } catch (err) {
    throw badRequest(`the body could not be decoded: ${(err as Error).message.split('\n')[0]!.slice(0, 300)}`);
  }
}

/** Decodes a create/update body into a JSON object (YAML accepted); undefined when the body is empty and `optional`. */
export function decodeObjectBody(raw: unknown, contentType: string | undefined, optional = false): Record<string, unknown> | undefined {
  const body = text(raw);
  if (body.trim() === '') {
    if (optional) return undefined;
    throw badRequest('the request body is empty; an object is required');
  }
  const type = mediaType(contentType);
  if (type === PROTOBUF_TYPE && Buffer.isBuffer(raw)) {
    const decoded = decodeProtobuf(raw);
    if (!decoded) throw unsupportedMediaType(type);
    return decoded;
  }
  const yaml = YAML_TYPES.has(type);
  if (!yaml && type !== 'application/json' && type !== '' && !type.endsWith('+json')) throw unsupportedMediaType(type);
  const value = parseDocument(body, yaml);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('the body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The patch format named by a PATCH request's Content-Type; 415 otherwise. */
export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = mediaType(contentType);
  if (type === PATCH_TYPES.json) return 'json';
  if (type === PATCH_TYPES.merge) return 'merge';
  if (type === PATCH_TYPES.strategic) return 'strategic';
  throw new ApiError(
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.json}, ${PATCH_TYPES.merge}, ${PATCH_TYPES.strategic}, ${PATCH_TYPES.apply}`,
  );
}

/** Decodes a PATCH body (always JSON). */
export function decodePatchBody(raw: unknown): unknown {
  const body = text(raw);
  if (body.trim() === '') throw badRequest('the patch body is empty');
  return parseDocument(body, false);
}

/** Decodes a server-side apply body: one YAML (or JSON) object. */
export function decodeApplyBody(raw: unknown): Record<string, unknown> {
  const body = text(raw);
  if (body.trim() === '') throw badRequest('the apply body is empty; an object is required');
  const value = parseDocument(body, true);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('the apply body must be an object');
  return value as Record<string, unknown>;
}

/**
 * Paths of keys that appear twice in one object of a JSON or YAML body
 * (`spec.replicas`), for fieldValidation: JSON.parse keeps the last silently.
 * [] for empty, protobuf or unparsable bodies (decoding reports those).
 */
export function duplicateFields(raw: unknown, contentType: string | undefined): string[] {
  const body = text(raw);
  if (body.trim() === '' || mediaType(contentType) === PROTOBUF_TYPE || flowNestingDepth(body) > MAX_BODY_NESTING) return [];
  let doc;
  try {
    // JSON is YAML: one parser finds duplicates in both.
    doc = parseYamlDocument(body, { uniqueKeys: false });
  } catch {
    return [];
  }
  const out: string[] = [];
  const walk = (node: unknown, path: string, depth: number): void => {
    if (depth > MAX_BODY_NESTING) return;
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const p = path ? `${path}.${key}` : key;
        if (seen.has(key)) out.push(p);
        seen.add(key);
        walk(pair.value, p, depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item as YamlNode, `${path}[${i}]`, depth + 1));
    }
  };
  walk(doc.contents, '', 0);
  return out;
}
