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
