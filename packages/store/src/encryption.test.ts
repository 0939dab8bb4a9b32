import { describe, expect, it } from 'vitest';
import { EncryptingTransformer, newEncryptionConfiguration, parseEncryptionConfiguration, type EncryptionConfiguration } from './encryption.js';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const config = (...keys: Array<[string, string]>): EncryptionConfiguration => ({
  apiVersion: 'apiserver.config.k8s.io/v1',
  kind: 'EncryptionConfiguration',
  resources: [{ resources: ['secrets'], providers: [{ aesgcm: { keys: keys.map(([name, secret]) => ({ name, secret })) } }, { identity: {} }] }],
});
const K = '/registry/secrets/default/db';
const plain = Buffer.from('{"data":{"password":"aHVudGVyMg=="}}');

describe('EncryptingTransformer', () => {
  it('encrypts the configured resources with the first key, in Kubernetes aesgcm format, and reads them back', () => {
    const t = new EncryptingTransformer(config(['k1', key(1)]));
    const stored = t.toStorage('secrets', K, plain);
    expect(stored.subarray(0, 21).toString()).toBe('k8s:enc:aesgcm:v1:k1:');
    expect(stored.includes(Buffer.from('aHVudGVyMg'))).toBe(false);
    expect(stored.length).toBe(21 + 12 + plain.length + 16);
    expect(t.fromStorage(K, stored)).toEqual(plain);
    // A random nonce: the same value never stores the same twice.
    expect(t.toStorage('secrets', K, plain).equals(stored)).toBe(false);
  });

  it('leaves other resources and plain values alone', () => {
    const t = new EncryptingTransformer(config(['k1', key(1)]));
    expect(t.toStorage('configmaps', '/registry/configmaps/a/b', plain)).toEqual(plain);
    expect(t.fromStorage(K, plain)).toEqual(plain);
    expect(t.encrypts('secrets')).toBe(true);
    expect(t.encrypts('pods')).toBe(false);
  });

  it('rotates: a new first key writes, the old one still reads; a removed key is a clear error', () => {
    const old = new EncryptingTransformer(config(['k1', key(1)]));
    const storedOld = old.toStorage('secrets', K, plain);
    const rotated = new EncryptingTransformer(config(['k2', key(2)], ['k1', key(1)]));
    expect(rotated.fromStorage(K, storedOld)).toEqual(plain);
    expect(rotated.toStorage('secrets', K, plain).subarray(0, 21).toString()).toBe('k8s:enc:aesgcm:v1:k2:');
    const dropped = new EncryptingTransformer(config(['k2', key(2)]));
    expect(() => dropped.fromStorage(K, storedOld)).toThrow(/no configured key named "k1"/);
  });

  it('binds a value to its key: moved or altered ciphertext does not decrypt', () => {
    const t = new EncryptingTransformer(config(['k1', key(1)]));
    const stored = t.toStorage('secrets', K, plain);
    expect(() => t.fromStorage('/registry/secrets/other/db', stored)).toThrow(/authentication failed/);
    const flipped = Buffer.from(stored);
    flipped[flipped.length - 20]! ^= 1;
    expect(() => t.fromStorage(K, flipped)).toThrow(/authentication failed/);
  });

  it('refuses malformed configurations, naming the field', () => {
    expect(() => parseEncryptionConfiguration({ kind: 'Nope', resources: [] })).toThrow(/kind/);
    expect(() => parseEncryptionConfiguration({ ...config(['k1', 'c2hvcnQ=']) })).toThrow(/keys\[0\]\.secret/);
    expect(() => parseEncryptionConfiguration({ kind: 'EncryptionConfiguration', resources: [{ resources: ['secrets'], providers: [{ secretbox: { keys: [] } }] }] })).toThrow(/secretbox: not supported/);
    expect(() => parseEncryptionConfiguration(config(['a', key(1)], ['a', key(2)]))).toThrow(/duplicate key name/);
    expect(parseEncryptionConfiguration(newEncryptionConfiguration('x'))).toBeTruthy();
  });
});
