export * from './meta.js';
export * from './errors.js';
export * from './resource.js';
export * from './core-types.js';
export * from './apps-types.js';
export * from './batch-types.js';
export { isValidTimeZone, nextCronTime, parseCronSchedule, type CronSchedule } from './cron.js';
export * from './networking-types.js';
export { defaultIngressClass, isDefaultIngressClass, validateIngressClass } from './ingressclass.js';
export * from './discovery-types.js';
export * from './coordination-types.js';
export * from './config-types.js';
export * from './policy-types.js';
export * from './certificates-types.js';
export * from './scheduling-types.js';
export { defaultPriorityClass, validatePriorityClass } from './priorityclass-validation.js';
export * from './policy-validation.js';
export * from './helpers.js';
export * from './names.js';
export * from './quantity.js';
export * from './selectors.js';
export * from './defaults.js';
export * from './validation.js';
export { defaultConfigMap, defaultSecret, isBase64, validateConfigMap, validateSecret } from './config-validation.js';
export {
  defaultCronJob,
  defaultDaemonSet,
  defaultJob,
  MAX_CRONJOB_NAME_LENGTH,
  MAX_JOB_NAME_LENGTH,
  prepareJobForCreate,
  validateControllerRevision,
  validateCronJob,
  validateDaemonSet,
  validateJob,
} from './workload-validation.js';
export * from './registry.js';
export { completeObjectMetaForCreate, generateObjectName, generationChanged, jsonEqual, markForDeletion, nextGeneration, prepareObjectMetaForCreate, prepareObjectMetaForUpdate, SERVER_OWNED_METADATA } from './object-meta.js';
export { defaultAndValidate, genericPrepareForCreate, genericPrepareForUpdate, IMMEDIATE_DELETION, prepareCreate, prepareUpdate, withStatusOf } from './strategy.js';
export { bindPod, NAMESPACE_DELETION, NAMESPACE_FINALIZER, NAMESPACE_NAME_LABEL, POD_DELETION, prepareCsrForUpdate, prepareNamespaceForCreate, preparePodForCreate } from './core-strategies.js';
export { fromScale, selectorString, toScale } from './scale.js';
export { age, DEFAULT_TABLE, formatLabels, formatLabelSelector, humanDuration, podRowConditions, podSummary, type TableColumn, type TablePrinter } from './table-columns.js';
export { defaultEphemeralContainers, validateEphemeralContainers, validateEphemeralContainersUpdate } from './ephemeral-containers.js';
export { FIELD_META, fieldMeta, fieldSchemaFor, GENERIC_OBJECT_SCHEMA, leafSchema, unknownFields, type FieldMeta, type FieldSchema, type LeafType } from './known-fields.js';
export * from './proxy-report.js';
