/**
 * Defaults and validation of ConfigMap and Secret, with Kubernetes' rules
 * and wording. A Secret's values never appear in an error message: the
 * messages name keys only and print `<secret contents redacted>`.
 */
import { MAX_CONFIG_DATA_BYTES, SECRET_TYPES, type ConfigMap, type Secret } from './config-types.js';
import type { FieldError } from './errors.js';
import { canonicalJson } from './helpers.js';
import type { KubeObject } from './meta.js';
import { isConfigMapKey, isDns1123Subdomain } from './names.js';
import { FieldErrors, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

const REDACTED = '<secret contents redacted>';
// Go's base64.StdEncoding (what a []byte field of the JSON body decodes with): padded, standard alphabet.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const IMMUTABLE_SET = 'field is immutable when `immutable` is set';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** True when `value` is standard, padded base64 (line breaks ignored, as Go's decoder does). */
export function isBase64(value: string): boolean {
  return BASE64.test(value.replace(/[\r\n]/g, ''));
}

/** Decoded byte length of a base64 string that passed isBase64. */
function decodedLength(value: string): number {
  return Buffer.byteLength(value.replace(/[\r\n]/g, ''), 'base64');
}

/** Secret defaults: type Opaque, and `stringData` folded into `data` (its values win) and dropped, as the Kubernetes apiserver does on every write. */
export function defaultSecret(obj: KubeObject): void {
  const s = obj as Secret;
  if (s.type === undefined || s.type === '') s.type = SECRET_TYPES.opaque;
  if (s.stringData === undefined || s.stringData === null) {
    delete s.stringData;
    return;
  }
  // Left in place when malformed, so validation can name the field.
  if (!isObj(s.stringData) || !Object.values(s.stringData).every((v) => typeof v === 'string')) return;
  const data = isObj(s.data) ? s.data : {};
  for (const [k, v] of Object.entries(s.stringData)) data[k] = Buffer.from(v, 'utf8').toString('base64');
  s.data = data;
  delete s.stringData;
}

/** ConfigMaps have no defaults. */
export function defaultConfigMap(_obj: KubeObject): void {}

/**
 * Checks one data map: an object of strings with valid keys, base64 values
 * when `binary`; returns its decoded size in bytes. `secret` redacts values.
 */
function validateDataMap(e: FieldErrors, data: unknown, field: string, binary: boolean, secret: boolean): number {
  if (data === undefined || data === null) return 0;
  if (!isObj(data)) {
    e.invalid(field, secret ? REDACTED : data, 'must be an object of strings');
    return 0;
  }
  let size = 0;
  for (const [k, v] of Object.entries(data)) {
    const p = `${field}[${k}]`;
    e.each(p, k, isConfigMapKey(k));
    if (typeof v !== 'string') {
      e.invalid(p, secret ? REDACTED : v, 'must be a string');
      continue;
    }
    if (binary) {
      if (!isBase64(v)) e.invalid(p, secret ? REDACTED : v, 'illegal base64 data: must be standard base64 with padding');
      else size += decodedLength(v);
    } else size += Buffer.byteLength(v, 'utf8');
  }
  return size;
}

function validateImmutableFlag(e: FieldErrors, value: unknown): void {
  if (value !== undefined && value !== null && typeof value !== 'boolean') e.invalid('immutable', value, 'must be a boolean');
}

/** Validates a ConfigMap (create, or update when `old` is given). */
export function validateConfigMap(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const cm = obj as ConfigMap;
  validateObjectMeta(e, cm.metadata, true, isDns1123Subdomain);
  let size = validateDataMap(e, cm.data, 'data', false, false);
  size += validateDataMap(e, cm.binaryData, 'binaryData', true, false);
  if (isObj(cm.data) && isObj(cm.binaryData)) {
    for (const k of Object.keys(cm.binaryData)) {
      if (Object.hasOwn(cm.data, k)) e.invalid(`data[${k}]`, k, 'duplicate of key present in binaryData');
    }
  }
  if (size > MAX_CONFIG_DATA_BYTES) e.tooLong('data', `must have at most ${MAX_CONFIG_DATA_BYTES} bytes`);
  validateImmutableFlag(e, cm.immutable);
  if (old) {
    const o = old as ConfigMap;
    validateObjectMetaUpdate(e, cm.metadata, o.metadata);
    if (o.immutable === true) {
      if (cm.immutable !== true) e.forbidden('immutable', IMMUTABLE_SET);
      if (canonicalJson(cm.data ?? {}) !== canonicalJson(o.data ?? {})) e.forbidden('data', IMMUTABLE_SET);
      if (canonicalJson(cm.binaryData ?? {}) !== canonicalJson(o.binaryData ?? {})) e.forbidden('binaryData', IMMUTABLE_SET);
    }
  }
  return e.list;
}

/** The decoded value of a key of a (validated) Secret's data, or undefined. */
function secretValue(s: Secret, key: string): Buffer | undefined {
  const v = isObj(s.data) ? s.data[key] : undefined;
  return typeof v === 'string' && isBase64(v) ? Buffer.from(v, 'base64') : undefined;
}

/** The keys each secret type requires, as Kubernetes' ValidateSecret checks them. */
function validateSecretType(e: FieldErrors, s: Secret): void {
  const has = (k: string) => isObj(s.data) && Object.hasOwn(s.data, k);
  switch (s.type) {
    case SECRET_TYPES.serviceAccountToken:
      if (!s.metadata?.annotations?.['kubernetes.io/service-account.name']) e.required('metadata.annotations[kubernetes.io/service-account.name]');
      break;
    case SECRET_TYPES.dockerConfigJson:
    case SECRET_TYPES.dockerCfg: {
      const key = s.type === SECRET_TYPES.dockerConfigJson ? '.dockerconfigjson' : '.dockercfg';
      if (!has(key)) {
        e.required(`data[${key}]`);
        break;
      }
      const raw = secretValue(s, key);
      if (!raw) break; // the base64 error is already reported
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        e.invalid(`data[${key}]`, REDACTED, (err as Error).message);
        break;
      }
      if (!isObj(parsed)) e.invalid(`data[${key}]`, REDACTED, 'must be a JSON object');
      break;
    }
    case SECRET_TYPES.basicAuth:
      if (!has('username') && !has('password')) {
        e.required('data[username]');
        e.required('data[password]');
      }
      break;
    case SECRET_TYPES.sshAuth:
      if (!secretValue(s, 'ssh-privatekey')?.length) e.required('data[ssh-privatekey]');
      break;
    case SECRET_TYPES.tls:
      if (!has('tls.crt')) e.required('data[tls.crt]');
      if (!has('tls.key')) e.required('data[tls.key]');
      break;
    default:
      // Opaque and user-defined types carry any keys.
      break;
  }
}

/** Validates a Secret (create, or update when `old` is given); defaults (stringData folded) must have run. */
export function validateSecret(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const s = obj as Secret;
  validateObjectMeta(e, s.metadata, true, isDns1123Subdomain);
  if (s.stringData !== undefined) e.invalid('stringData', REDACTED, 'must be an object of strings');
  if (typeof s.type !== 'string') e.invalid('type', s.type, 'must be a string');
  const size = validateDataMap(e, s.data, 'data', true, true);
  if (size > MAX_CONFIG_DATA_BYTES) e.tooLong('data', `must have at most ${MAX_CONFIG_DATA_BYTES} bytes`);
  validateSecretType(e, s);
  validateImmutableFlag(e, s.immutable);
  if (old) {
    const o = old as Secret;
    validateObjectMetaUpdate(e, s.metadata, o.metadata);
    if ((s.type ?? '') !== (o.type ?? '')) e.invalid('type', s.type, 'field is immutable');
    if (o.immutable === true) {
      if (s.immutable !== true) e.forbidden('immutable', IMMUTABLE_SET);
      if (canonicalJson(s.data ?? {}) !== canonicalJson(o.data ?? {})) e.forbidden('data', IMMUTABLE_SET);
    }
  }
  return e.list;
}
