/** Defaults and validation of scheduling.k8s.io/v1 PriorityClass, as Kubernetes' scheduling validation. */
import type { FieldError } from './errors.js';
import type { KubeObject } from './meta.js';
import { isDns1123Subdomain } from './names.js';
import { MAX_USER_PRIORITY, SYSTEM_PRIORITY_CLASSES, SYSTEM_PRIORITY_CLASS_PREFIX, type PriorityClass } from './scheduling-types.js';
import { FieldErrors, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

const IMMUTABLE = 'field is immutable';
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** preemptionPolicy defaults to PreemptLowerPriority. */
export function defaultPriorityClass(obj: KubeObject): void {
  const pc = obj as PriorityClass;
  if (pc.preemptionPolicy === undefined || pc.preemptionPolicy === null) pc.preemptionPolicy = 'PreemptLowerPriority';
}

/**
 * Validates a PriorityClass (create, or update when `old` is given): a
 * value (int32, at most 1e9 unless a system class), a known preemption
 * policy, and on update the same value and policy.
 */
export function validatePriorityClass(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const pc = obj as PriorityClass;
  validateObjectMeta(e, pc.metadata, false, isDns1123Subdomain);
  const name = typeof pc.metadata?.name === 'string' ? pc.metadata.name : '';
  const value = pc.value as unknown;
  if (value === undefined || value === null) e.required('value');
  else if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) e.invalid('value', value, 'must be a 32-bit integer');
  else if (name.startsWith(SYSTEM_PRIORITY_CLASS_PREFIX)) {
    if (SYSTEM_PRIORITY_CLASSES[name] === undefined) e.forbidden('metadata.name', `priority class names with '${SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only`);
    else if (SYSTEM_PRIORITY_CLASSES[name] !== value) e.forbidden('value', `the value of ${name} must be ${SYSTEM_PRIORITY_CLASSES[name]}`);
  } else if (value > MAX_USER_PRIORITY) e.forbidden('value', `maximum allowed value of a user defined priority is ${MAX_USER_PRIORITY}`);
  const gd = pc.globalDefault as unknown;
  if (gd !== undefined && gd !== null && typeof gd !== 'boolean') e.invalid('globalDefault', gd, 'must be a boolean');
  const desc = pc.description as unknown;
  if (desc !== undefined && desc !== null && typeof desc !== 'string') e.invalid('description', desc, 'must be a string');
  const policy = pc.preemptionPolicy as unknown;
  if (policy !== undefined && policy !== 'PreemptLowerPriority' && policy !== 'Never') e.notSupported('preemptionPolicy', policy, ['Never', 'PreemptLowerPriority']);
  if (old) {
    validateObjectMetaUpdate(e, pc.metadata, old.metadata);
    const o = old as PriorityClass;
    if (pc.value !== o.value) e.invalid('value', pc.value, IMMUTABLE);
    if ((pc.preemptionPolicy ?? 'PreemptLowerPriority') !== (o.preemptionPolicy ?? 'PreemptLowerPriority')) e.invalid('preemptionPolicy', pc.preemptionPolicy, IMMUTABLE);
  }
  return e.list;
}
