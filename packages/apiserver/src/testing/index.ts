export * from './memory-storage.js';
export * from './auth-fakes.js';
export * from './harness.js';
