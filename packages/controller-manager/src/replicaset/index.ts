export * from './controller-ref.js';
export * from './expectations.js';
export * from './pod-util.js';
export * from './replicaset-controller.js';
