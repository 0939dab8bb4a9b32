export { main, createProgram, type Io } from './program.js';
export { explainPod, formatDiagnosis, type Diagnosis } from './why.js';
export { clusterStatus } from './commands/nodes.js';
export { readManifests, parseManifests, ManifestError, type ManifestObject } from './manifests.js';
export { threeWayMergePatch, applyPatch, LAST_APPLIED } from './apply-patch.js';
