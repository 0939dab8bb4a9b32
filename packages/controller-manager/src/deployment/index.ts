export * from './deployment-controller.js';
export * from './deployment-util.js';
