export * from './fake-api-client.js';
export * from './fake-clock.js';
export * from './patch.js';
export * from './wait-for.js';
export * from './override-resource.js';
