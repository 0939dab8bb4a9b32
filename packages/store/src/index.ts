export * from './storage.js';
export * from './etcd-storage.js';
export * from './keys.js';
