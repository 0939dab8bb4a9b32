/**
 * Encryption at rest of stored values, after Kubernetes' storage
 * transformers and its `EncryptionConfiguration` (apiserver.config.k8s.io/v1):
 * per resource an ordered list of providers; values are written with the
 * first and read with whichever the value's prefix names, so keys rotate by
 * putting a new key first and rewriting. Providers: `aesgcm` (AES-GCM with
 * a 16/24/32-byte key, random 96-bit nonce, the etcd key as additional
 * authenticated data — Kubernetes' value format
 * `k8s:enc:aesgcm:v1:<key name>:<nonce><ciphertext><tag>`) and `identity`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { internalError } from '@flotilla/api';

/** Turns the bytes of an object into what etcd stores and back. */
export interface ValueTransformer {
  /** The stored form of `plain`, the value of `key` of resource `resource` (plural, e.g. `secrets`). */
  toStorage(resource: string, key: string, plain: Buffer): Buffer;
  /** The plain bytes of a stored value; values without an encryption prefix are returned as they are. */
  fromStorage(key: string, stored: Buffer): Buffer;
  /** False when values of `resource` are stored as they are (toStorage returns its input): the store then skips it. */
  encrypts?(resource: string): boolean;
}

/** Stores values as they are. */
export const IDENTITY_TRANSFORMER: ValueTransformer = {
  toStorage: (_resource, _key, plain) => plain,
  fromStorage: (_key, stored) => stored,
};

/** One key of an aesgcm provider: `secret` is base64 of 16, 24 or 32 bytes. */
export interface EncryptionKey {
  name: string;
  secret: string;
}

/** One provider of an EncryptionConfiguration entry (exactly one field set). */
export interface EncryptionProvider {
  aesgcm?: { keys: EncryptionKey[] };
  identity?: Record<string, never>;
  [other: string]: unknown;
}

/** Kubernetes' EncryptionConfiguration (apiserver.config.k8s.io/v1), the parts Flotilla reads. */
export interface EncryptionConfiguration {
  apiVersion?: string;
  kind: 'EncryptionConfiguration';
  resources: Array<{ resources: string[]; providers: EncryptionProvider[] }>;
}

const ENC_PREFIX = Buffer.from('k8s:enc:');
const AESGCM_PREFIX = 'k8s:enc:aesgcm:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

type Provider = { type: 'identity' } | { type: 'aesgcm'; name: string; key: Buffer };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Checks a parsed EncryptionConfiguration document; throws an Error naming
 * the bad field. Only aesgcm and identity are supported (aescbc, secretbox
 * and kms are refused rather than ignored).
 */
export function parseEncryptionConfiguration(doc: unknown): EncryptionConfiguration {
  const fail = (field: string, why: string): never => {
    throw new Error(`EncryptionConfiguration: ${field}: ${why}`);
  };
  if (!isObj(doc)) return fail('(root)', 'must be an object');
  if (doc.kind !== 'EncryptionConfiguration') fail('kind', 'must be EncryptionConfiguration');
  if (doc.apiVersion !== undefined && doc.apiVersion !== 'apiserver.config.k8s.io/v1') fail('apiVersion', 'must be apiserver.config.k8s.io/v1');
  if (!Array.isArray(doc.resources) || doc.resources.length === 0) fail('resources', 'must be a non-empty list');
  const names = new Set<string>();
  (doc.resources as unknown[]).forEach((r, i) => {
    const p = `resources[${i}]`;
    if (!isObj(r)) return fail(p, 'must be an object');
    if (!Array.isArray(r.resources) || r.resources.length === 0 || !r.resources.every((x) => typeof x === 'string' && x !== '')) fail(`${p}.resources`, 'must be a non-empty list of resource names');
    if (!Array.isArray(r.providers) || r.providers.length === 0) fail(`${p}.providers`, 'must be a non-empty list');
    (r.providers as unknown[]).forEach((pr, j) => {
      const pp = `${p}.providers[${j}]`;
      if (!isObj(pr)) return fail(pp, 'must be an object');
      const kinds = Object.keys(pr).filter((k) => pr[k] !== undefined && pr[k] !== null);
      if (kinds.length !== 1) fail(pp, 'must set exactly one provider');
      const kind = kinds[0]!;
      if (kind === 'identity') return;
      if (kind !== 'aesgcm') fail(`${pp}.${kind}`, 'not supported by Flotilla; use aesgcm or identity');
      const keys = (pr.aesgcm as { keys?: unknown }).keys;
      if (!Array.isArray(keys) || keys.length === 0) fail(`${pp}.aesgcm.keys`, 'must be a non-empty list');
      (keys as unknown[]).forEach((k, n) => {
        const kp = `${pp}.aesgcm.keys[${n}]`;
        if (!isObj(k) || typeof k.name !== 'string' || k.name === '' || k.name.includes(':')) return fail(`${kp}.name`, 'must be a non-empty name without ":"');
        if (names.has(k.name)) fail(`${kp}.name`, `duplicate key name ${JSON.stringify(k.name)}`);
        names.add(k.name);
        const bytes = typeof k.secret === 'string' ? Buffer.from(k.secret, 'base64') : Buffer.alloc(0);
        if (![16, 24, 32].includes(bytes.length)) fail(`${kp}.secret`, 'must be base64 of a 16, 24 or 32 byte key');
      });
    });
  });
  return doc as unknown as EncryptionConfiguration;
}

/** A configuration that encrypts Secrets with one new random AES-256 key (and still reads plain values). */
export function newEncryptionConfiguration(keyName = `key-${Date.now()}`): EncryptionConfiguration {
  return {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'EncryptionConfiguration',
    resources: [{ resources: ['secrets'], providers: [{ aesgcm: { keys: [{ name: keyName, secret: randomBytes(32).toString('base64') }] } }, { identity: {} }] }],
  };
}

/** The resource part of a configured name: `secrets` and `deployments.apps` both name the plural before the dot. */
const pluralOf = (name: string) => (name.includes('.') ? name.slice(0, name.indexOf('.')) : name);

/**
 * The transformer of an EncryptionConfiguration. Writes use the first
 * provider configured for the resource (the first key of an aesgcm
 * provider); reads decrypt with any configured key named in the value's
 * prefix, so old keys stay readable until every value has been rewritten.
 */
export class EncryptingTransformer implements ValueTransformer {
  private readonly writers = new Map<string, Provider>();
  private wildcard: Provider | undefined;
  private readonly keys = new Map<string, Buffer>();

  constructor(config: EncryptionConfiguration) {
    parseEncryptionConfiguration(config);
    for (const entry of config.resources) {
      const providers: Provider[] = [];
      for (const p of entry.providers) {
        if (p.identity) providers.push({ type: 'identity' });
        else for (const k of p.aesgcm!.keys) {
          const key = Buffer.from(k.secret, 'base64');
          this.keys.set(k.name, key);
          providers.push({ type: 'aesgcm', name: k.name, key });
        }
      }
      for (const name of entry.resources) {
        // As in Kubernetes, the first entry that names a resource decides how it is written.
        if (name === '*.*' || name === '*.') this.wildcard ??= providers[0];
        else if (!this.writers.has(pluralOf(name))) this.writers.set(pluralOf(name), providers[0]!);
      }
    }
  }

  /** True when values of `resource` are written encrypted. */
  encrypts(resource: string): boolean {
    return (this.writers.get(resource) ?? this.wildcard)?.type === 'aesgcm';
  }

  toStorage(resource: string, key: string, plain: Buffer): Buffer {
    const p = this.writers.get(resource) ?? this.wildcard;
    if (!p || p.type === 'identity') return plain;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(`aes-${p.key.length * 8}-gcm` as 'aes-256-gcm', p.key, nonce);
    cipher.setAAD(Buffer.from(key));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Buffer.from(`${AESGCM_PREFIX}${p.name}:`), nonce, body, cipher.getAuthTag()]);
  }

  fromStorage(key: string, stored: Buffer): Buffer {
    if (stored.length < ENC_PREFIX.length || !stored.subarray(0, ENC_PREFIX.length).equals(ENC_PREFIX)) return stored;
    const head = stored.subarray(0, Math.min(stored.length, 300)).toString('latin1');
    if (!head.startsWith(AESGCM_PREFIX)) throw internalError(`unable to transform key "${key}" from storage: unsupported encryption provider`);
    const end = head.indexOf(':', AESGCM_PREFIX.length);
    const name = end < 0 ? '' : head.slice(AESGCM_PREFIX.length, end);
    const secret = this.keys.get(name);
    if (!secret) throw internalError(`unable to transform key "${key}" from storage: no configured key named "${name}"`);
    const data = stored.subarray(end + 1);
    if (data.length < NONCE_BYTES + TAG_BYTES) throw internalError(`unable to transform key "${key}" from storage: value too short`);
    try {
      const decipher = createDecipheriv(`aes-${secret.length * 8}-gcm` as 'aes-256-gcm', secret, data.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(key));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw internalError(`unable to transform key "${key}" from storage: authentication failed (wrong key, or the value was moved or altered)`);
    }
  }
}
