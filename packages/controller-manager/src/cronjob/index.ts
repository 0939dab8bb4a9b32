export * from './cronjob-controller.js';
