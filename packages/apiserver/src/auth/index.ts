export * from './types.js';
export * from './token-file.js';
export * from './authorizer.js';
