export * from './types.js';
export * from './token-file.js';
export * from './authorizer.js';
export * from './bootstrap-token.js';
export * from './x509.js';
