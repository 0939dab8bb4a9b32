import { resourceForKind, type KubeObject } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { selectorIndex, selectorPredicate } from './selectors.js';

const pods = resourceForKind('v1', 'Pod')!;
const nodes = resourceForKind('v1', 'Node')!;

const pod = (spec: Record<string, unknown> | undefined): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'd' }, ...(spec ? { spec } : {}) });

describe('selectorIndex', () => {
  it("indexes a kubelet's watch (spec.nodeName=) by the value its predicate reads, whatever the pod holds", () => {
    const index = selectorIndex(pods, 'spec.nodeName=n1')!;
    expect(index).toMatchObject({ name: '/pods/spec.nodeName', value: 'n1' });
    for (const spec of [undefined, {}, { nodeName: 'n1' }, { nodeName: '' }, { nodeName: null }, { nodeName: 'n2' }]) {
      const p = pod(spec);
      const matches = selectorPredicate(pods, undefined, 'spec.nodeName=n1')!(p);
      expect(index.valueOf(p) === 'n1').toBe(matches);
      expect(index.valueOf(p)).toBe(pods.fieldLabels(p)['spec.nodeName']);
    }
  });

  it('reads other fields through the kind\'s field labels, and names only from metadata', () => {
    const byName = selectorIndex(nodes, 'metadata.name=n1')!;
    expect(byName.valueOf({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } })).toBe('n1');
    const byPhase = selectorIndex(pods, 'status.phase=Running,spec.nodeName!=')!;
    expect(byPhase.valueOf({ ...pod({}), status: { phase: 'Running' } })).toBe('Running');
    expect(selectorIndex(pods, 'spec.nodeName!=')).toBeUndefined();
    expect(selectorIndex(pods, undefined)).toBeUndefined();
  });
});

describe('selectorPredicate', () => {
  const events = resourceForKind('v1', 'Event')!;
  const event = (extra: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'd' }, ...extra });

  it('refuses a field the kind does not expose (400), before any object is read', () => {
    expect(() => selectorPredicate(pods, undefined, 'spec.nodeName=n1,spec.hostname=h')).toThrow(/field label not supported: spec.hostname/);
    expect(() => selectorPredicate(nodes, undefined, 'status.phase=Running')).toThrow(/field label not supported: status.phase/);
    // Names of the object prototype are not fields either.
    expect(() => selectorPredicate(pods, undefined, 'constructor=x')).toThrow(/field label not supported: constructor/);
    expect(selectorIndex(pods, 'toString=x')!.valueOf(pod({}))).toBe('');
  });

  it('ANDs every term with labels; != matches a missing field unless the value is empty', () => {
    const p = { ...pod({ nodeName: 'n1' }), metadata: { name: 'p', namespace: 'd', labels: { app: 'web' } }, status: { phase: 'Running' } };
    expect(selectorPredicate(pods, 'app=web', 'spec.nodeName=n1,status.phase!=Failed')!(p)).toBe(true);
    expect(selectorPredicate(pods, 'app=db', 'spec.nodeName=n1')!(p)).toBe(false);
    expect(selectorPredicate(pods, undefined, 'spec.nodeName=n1,status.phase=Pending')!(p)).toBe(false);
    expect(selectorPredicate(pods, undefined, 'spec.nodeName!=')!(pod({}))).toBe(false);
    expect(selectorPredicate(pods, undefined, 'metadata.namespace=d,metadata.name=p')!(p)).toBe(true);
    expect(selectorPredicate(nodes, undefined, 'metadata.namespace=')!({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } })).toBe(true);
  });

  it('reads a malformed stored object as empty fields rather than failing the watch', () => {
    const match = selectorPredicate(events, undefined, 'involvedObject.name=p,reason=')!;
    expect(match(event({ involvedObject: 'not an object', reason: null }))).toBe(false);
    expect(match(event({ involvedObject: { name: 'p' } }))).toBe(true);
    expect(selectorPredicate(events, undefined, 'involvedObject.name=')!(event({ involvedObject: null }))).toBe(true);
  });
});
