export * from './endpointslice-controller.js';
