export * from './garbage-collector.js';
