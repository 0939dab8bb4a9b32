export * from './storage.js';
export * from './etcd-storage.js';
export * from './keys.js';
export { Compactor, COMPACT_REV_KEY, type CompactionTick } from './compactor.js';
