export * from './storage.js';
export * from './etcd-storage.js';
export * from './keys.js';
export { Compactor, COMPACT_REV_KEY, type CompactionTick } from './compactor.js';
export { EncryptingTransformer, IDENTITY_TRANSFORMER, newEncryptionConfiguration, parseEncryptionConfiguration } from './encryption.js';
export type { EncryptionConfiguration, EncryptionKey, EncryptionProvider, ValueTransformer } from './encryption.js';
export { encodedJson, encodedLines } from './object-json.js';
export { LeasePool, LEASE_MAX_OBJECTS, type LeasePoolOptions } from './lease-pool.js';
export { deepFreeze } from './watch-hub.js';
