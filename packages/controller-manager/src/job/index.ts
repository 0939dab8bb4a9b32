export * from './job-controller.js';
export * from './job-util.js';
