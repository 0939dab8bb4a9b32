export * from './endpointslice-controller.js';
export * from './endpointslice-mirroring-controller.js';
