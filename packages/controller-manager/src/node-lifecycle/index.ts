export * from './node-lifecycle-controller.js';
export * from './taints.js';
