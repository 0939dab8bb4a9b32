export * from './runtime/types.js';
export * from './runtime/docker-runtime.js';
export * from './runtime/docker-stream.js';
export * from './runtime/fake-runtime.js';
