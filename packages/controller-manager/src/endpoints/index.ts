export * from './endpoints-controller.js';
