import { describe, expect, it } from 'vitest';
import { defaultIngressClass, isDefaultIngressClass, validateIngressClass } from './ingressclass.js';
import type { IngressClass } from './networking-types.js';

const ic = (spec: Record<string, unknown>, annotations?: Record<string, string>): IngressClass => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'IngressClass',
  metadata: { name: 'flotilla', ...(annotations ? { annotations } : {}) },
  spec,
});
const fields = (o: IngressClass, old?: IngressClass) => validateIngressClass(o, old).map((e) => `${e.field}: ${e.type}`);

describe('IngressClass', () => {
  it.each([
    ['a valid controller', { controller: 'flotilla.dev/ingress' }, []],
    ['a missing controller', {}, ['spec.controller: FieldValueRequired']],
    ['a controller without a domain', { controller: 'ingress' }, ['spec.controller: FieldValueInvalid']],
    ['a controller with a bad domain', { controller: 'Not_A_Domain/x' }, ['spec.controller: FieldValueInvalid']],
    ['parameters without kind and name', { controller: 'a.io/b', parameters: { scope: 'Cluster' } }, ['spec.parameters.kind: FieldValueRequired', 'spec.parameters.name: FieldValueRequired']],
    ['a Namespace scope without namespace', { controller: 'a.io/b', parameters: { kind: 'K', name: 'n', scope: 'Namespace' } }, ['spec.parameters.namespace: FieldValueRequired']],
    ['a Cluster scope with namespace', { controller: 'a.io/b', parameters: { kind: 'K', name: 'n', scope: 'Cluster', namespace: 'x' } }, ['spec.parameters.namespace: FieldValueForbidden']],
    ['an unknown scope', { controller: 'a.io/b', parameters: { kind: 'K', name: 'n', scope: 'World' } }, ['spec.parameters.scope: FieldValueNotSupported']],
  ])('%s', (_what, spec, want) => {
    const o = ic(spec);
    defaultIngressClass(o);
    expect(fields(o)).toEqual(want);
  });

  it('defaults a parameters scope to Cluster', () => {
    const o = ic({ controller: 'a.io/b', parameters: { kind: 'K', name: 'n' } });
    defaultIngressClass(o);
    expect(o.spec?.parameters?.scope).toBe('Cluster');
  });

  it('keeps spec.controller immutable', () => {
    expect(fields(ic({ controller: 'a.io/c' }), ic({ controller: 'a.io/b' }))).toEqual(['spec.controller: FieldValueInvalid']);
    expect(fields(ic({ controller: 'a.io/b' }), ic({ controller: 'a.io/b' }))).toEqual([]);
  });

  it('reads the default-class annotation case-insensitively', () => {
    expect(isDefaultIngressClass(ic({}, { 'ingressclass.kubernetes.io/is-default-class': 'True' }))).toBe(true);
    expect(isDefaultIngressClass(ic({}, { 'ingressclass.kubernetes.io/is-default-class': 'false' }))).toBe(false);
    expect(isDefaultIngressClass(ic({}))).toBe(false);
  });
});
