export * from './snapshot.js';
export * from './filters.js';
export * from './scores.js';
export * from './schedule.js';
export * from './scheduler.js';
export * from './run.js';
export * from './fixtures.js';
