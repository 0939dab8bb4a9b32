export * from './serving-certs.js';
export * from './ca-bundle.js';
export { classifyHosts } from './openssl.js';
export * from './node-certs.js';
