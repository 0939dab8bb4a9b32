/** Validation of policy/v1 objects. */
import type { KubeObject } from './meta.js';
import type { PodDisruptionBudget } from './policy-types.js';
import { labelSelectorFromObject } from './selectors.js';
import type { FieldError } from './errors.js';
import { FieldErrors, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';
import { isDns1123Subdomain } from './names.js';

const PERCENT = /^(\d+)%$/;

function intOrPercent(e: FieldErrors, field: string, v: unknown): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) e.invalid(field, v, 'must be greater than or equal to 0');
    return;
  }
  if (typeof v === 'string') {
    const m = PERCENT.exec(v);
    if (!m) e.invalid(field, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
    else if (Number(m[1]) > 100) e.invalid(field, v, 'must not be greater than 100%');
    return;
  }
  e.invalid(field, v, 'must be an integer or a percentage');
}

/** Validates a PodDisruptionBudget as policy/v1 does (the spec may change after creation). */
export function validatePodDisruptionBudget(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const pdb = obj as PodDisruptionBudget;
  validateObjectMeta(e, pdb.metadata, true, isDns1123Subdomain);
  const spec = pdb.spec;
  if (spec === undefined || spec === null || typeof spec !== 'object') {
    e.required('spec');
  } else {
    const hasMin = spec.minAvailable !== undefined && spec.minAvailable !== null;
    const hasMax = spec.maxUnavailable !== undefined && spec.maxUnavailable !== null;
    if (hasMin && hasMax) e.invalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set');
    if (hasMin) intOrPercent(e, 'spec.minAvailable', spec.minAvailable);
    if (hasMax) intOrPercent(e, 'spec.maxUnavailable', spec.maxUnavailable);
    if (spec.selector !== undefined && spec.selector !== null) {
      try {
        labelSelectorFromObject(spec.selector);
      } catch (err) {
        e.invalid('spec.selector', spec.selector, err instanceof Error ? err.message : String(err));
      }
    }
    const policy = spec.unhealthyPodEvictionPolicy;
    if (policy !== undefined && policy !== 'IfHealthyBudget' && policy !== 'AlwaysAllow') e.notSupported('spec.unhealthyPodEvictionPolicy', policy, ['IfHealthyBudget', 'AlwaysAllow']);
  }
  if (old) validateObjectMetaUpdate(e, pdb.metadata, old.metadata);
  return e.list;
}
