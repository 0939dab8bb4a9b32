export * from './tcp-balancer.js';
export * from './run.js';
