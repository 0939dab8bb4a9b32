export * from './apiserver.js';
export * from './env.js';
export * from './etcd.js';
export * from './free-port.js';
export * from './https.js';
export * from './kubeconfig.js';
export * from './kubectl.js';
export * from './wait-for.js';
