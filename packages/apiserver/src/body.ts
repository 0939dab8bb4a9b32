/**
 * Request bodies: JSON or YAML objects, and the PATCH media types. Fastify
 * hands every body over as a raw Buffer (see server.ts) so that a malformed
 * one becomes a Kubernetes Status rather than fastify's own error shape.
 */
import { parse as parseYaml } from 'yaml';
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

/** Parses a JSON or YAML document; a syntax error is a 400. */
function parseDocument(body: string, yaml: boolean): unknown {
  try {
    if (!yaml) return JSON.parse(body);
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
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.json}, ${PATCH_TYPES.merge}, ${PATCH_TYPES.strategic}`,
  );
}

/** Decodes a PATCH body (always JSON). */
export function decodePatchBody(raw: unknown): unknown {
  const body = text(raw);
  if (body.trim() === '') throw badRequest('the patch body is empty');
  return parseDocument(body, false);
}
