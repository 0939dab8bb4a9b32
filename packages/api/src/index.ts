export * from './meta.js';
export * from './errors.js';
export * from './resource.js';
