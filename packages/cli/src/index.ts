export * from './program.js';
export * from './kubeconfig.js';
export * from './token.js';
export * from './run-component.js';
export * from './flags.js';
