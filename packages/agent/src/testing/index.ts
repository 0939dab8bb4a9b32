export { testPods, type TestPodOptions, type TestPods } from './test-pods.js';
