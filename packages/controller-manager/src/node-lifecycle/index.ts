export * from './node-lifecycle-controller.js';
export * from './taints.js';
export * from './disruption.js';
export * from './node-prober.js';
