export * from './daemon-pods.js';
export * from './daemonset-controller.js';
