export * from './exposition.js';
export * from './logger.js';
export * from './metrics.js';
export * from './runtime-metrics.js';
export * from './status-server.js';
