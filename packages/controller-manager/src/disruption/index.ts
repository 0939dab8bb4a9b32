export * from './disruption-controller.js';
