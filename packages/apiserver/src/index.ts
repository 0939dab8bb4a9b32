export * from './server.js';
export * from './metrics.js';
export * from './namespaces.js';
export * from './patch.js';
export * from './request-info.js';
export * from './watch.js';
export * from './discovery.js';
export * from './auth/index.js';
