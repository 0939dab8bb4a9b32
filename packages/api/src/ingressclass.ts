/**
 * The IngressClass kind's rules (networking.k8s.io/v1): defaults and
 * validation, kept beside each other so the registry entry only points here.
 */
import type { FieldError } from './errors.js';
import type { KubeObject } from './meta.js';
import { isDns1123Label, isDns1123Subdomain } from './names.js';
import type { IngressClass } from './networking-types.js';
import { FieldErrors, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

/** Kubernetes' limit on `spec.controller`. */
const MAX_CONTROLLER_LENGTH = 250;
const SCOPES = ['Cluster', 'Namespace'];

/** IngressClass defaults: a parameters reference without scope is cluster-scoped, as in Kubernetes. */
export function defaultIngressClass(obj: KubeObject): void {
  const ic = obj as IngressClass;
  if (ic.spec?.parameters && typeof ic.spec.parameters === 'object' && ic.spec.parameters.scope === undefined) ic.spec.parameters.scope = 'Cluster';
}

/** `example.com/path`: a DNS subdomain, a slash, and a non-empty path (Kubernetes' IsDomainPrefixedPath). */
function domainPrefixedPath(e: FieldErrors, field: string, value: unknown): void {
  if (value === undefined || value === null || value === '') return e.required(field);
  if (typeof value !== 'string') return e.invalid(field, value, 'must be a string');
  if (value.length > MAX_CONTROLLER_LENGTH) e.tooLong(field, `may not be more than ${MAX_CONTROLLER_LENGTH} bytes`);
  const slash = value.indexOf('/');
  if (slash <= 0 || slash === value.length - 1) return e.invalid(field, value, 'must be a domain-prefixed path (such as "acme.io/foo")');
  e.each(field, value.slice(0, slash), isDns1123Subdomain(value.slice(0, slash)));
  if (!/^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(value.slice(slash + 1))) e.invalid(field, value, 'path part must be a valid URL path');
}

/** Validates an IngressClass; `spec.controller` is immutable, as in Kubernetes. */
export function validateIngressClass(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const ic = obj as IngressClass;
  validateObjectMeta(e, ic.metadata, false, isDns1123Subdomain);
  const spec = ic.spec;
  if (spec !== undefined && (typeof spec !== 'object' || spec === null)) e.invalid('spec', spec, 'must be an object');
  else {
    domainPrefixedPath(e, 'spec.controller', spec?.controller);
    const p = spec?.parameters;
    if (p !== undefined && p !== null) {
      if (typeof p !== 'object') e.invalid('spec.parameters', p, 'must be an object');
      else {
        if (!p.kind) e.required('spec.parameters.kind');
        if (!p.name) e.required('spec.parameters.name');
        if (p.apiGroup) e.each('spec.parameters.apiGroup', p.apiGroup, isDns1123Subdomain(String(p.apiGroup)));
        if (p.scope === undefined) e.required('spec.parameters.scope');
        else if (!SCOPES.includes(p.scope)) e.notSupported('spec.parameters.scope', p.scope, SCOPES);
        else if (p.scope === 'Namespace') {
          if (!p.namespace) e.required('spec.parameters.namespace', '`parameters.scope` is set to "Namespace"');
          else e.each('spec.parameters.namespace', p.namespace, isDns1123Label(String(p.namespace)));
        } else if (p.namespace) e.forbidden('spec.parameters.namespace', '`parameters.scope` is set to "Cluster"');
      }
    }
  }
  if (old) {
    validateObjectMetaUpdate(e, ic.metadata, old.metadata);
    const was = (old as IngressClass).spec?.controller;
    if (spec?.controller !== was) e.invalid('spec.controller', spec?.controller ?? '', 'field is immutable');
  }
  return e.list;
}

/** True when the object carries `ingressclass.kubernetes.io/is-default-class: "true"` (the value is case-insensitive, as Kubernetes reads it). */
export function isDefaultIngressClass(ic: IngressClass): boolean {
  return ic.metadata.annotations?.['ingressclass.kubernetes.io/is-default-class']?.toLowerCase() === 'true';
}
