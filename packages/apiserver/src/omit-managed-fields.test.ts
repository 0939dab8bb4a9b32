import { describe, expect, it } from 'vitest';
import { withoutManagedFields } from './omit-managed-fields.js';

const MANAGED = [
  {
    manager: 'kubectl',
    operation: 'Update',
    apiVersion: 'v1',
    time: '2026-12-07T01:31:52Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } }, 'f:metadata': { 'f:labels': { 'f:a]}': {} } } },
  },
];

function stripped(obj: Record<string, any>): unknown {
  const { managedFields: _, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

describe('withoutManagedFields', () => {
  const shapes: Array<[string, Record<string, any>]> = [
    ['the last member of metadata', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'd', managedFields: MANAGED }, spec: { nodeName: 'n' } }],
    ['the first member of metadata', { apiVersion: 'v1', kind: 'Pod', metadata: { managedFields: MANAGED, name: 'a' }, spec: {} }],
    ['between two members', { kind: 'Pod', metadata: { name: 'a', managedFields: MANAGED, uid: 'u' }, status: { phase: 'Running' } }],
    ['the only member', { kind: 'Pod', metadata: { managedFields: MANAGED } }],
    ['after spec, with a managedFields of its own in spec', { kind: 'Widget', spec: { managedFields: ['keep me'], metadata: { managedFields: 'keep' } }, metadata: { name: 'w', managedFields: MANAGED } }],
    [
      'with the name in strings and escapes around it',
      { kind: 'ConfigMap', metadata: { name: 'c', annotations: { note: '"managedFields":[', 'x\\"': '}]' }, managedFields: MANAGED, labels: { a: 'b' } }, data: { managedFields: '[1,2]' } },
    ],
    ['with nulls, numbers and keys holding braces elsewhere', { kind: 'Pod', metadata: { name: 'x', generation: 2, deletionGracePeriodSeconds: null, managedFields: MANAGED, ownerReferences: [{ uid: 'k:{"uid":"1"}' }] }, status: { conditions: [{ type: 'Ready', lastProbeTime: null }], restartCount: 0 } }],
    ['an empty list', { kind: 'Pod', metadata: { name: 'a', managedFields: [] } }],
  ];

  for (const [what, obj] of shapes) {
    it(`cuts metadata.managedFields out of the text: ${what}`, () => {
      for (const text of [JSON.stringify(obj), JSON.stringify(obj, null, 2)]) {
        const out = withoutManagedFields(text);
        expect(JSON.parse(out)).toEqual(stripped(obj));
      }
      // Compact JSON stays the JSON.stringify of the stripped object, byte for byte.
      expect(withoutManagedFields(JSON.stringify(obj))).toBe(JSON.stringify(stripped(obj)));
    });
  }

  it('a pod with three managers: everything else in metadata stays', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'bench', uid: 'u', resourceVersion: '7', managedFields: MANAGED.concat(MANAGED, MANAGED) }, spec: { containers: [{ name: 'app', image: 'i' }] } };
    const text = JSON.stringify(pod);
    expect(withoutManagedFields(text).length).toBeLessThan(text.length);
    expect(JSON.parse(withoutManagedFields(text)).metadata).toEqual({ name: 'p', namespace: 'bench', uid: 'u', resourceVersion: '7' });
  });

  it('leaves the text as it is when there is nothing to cut or it cannot be read', () => {
    for (const text of [
      JSON.stringify({ kind: 'Pod', metadata: { name: 'a' } }),
      JSON.stringify({ kind: 'Widget', spec: { managedFields: [1] } }),
      JSON.stringify({ kind: 'Widget', metadata: 'managedFields' }),
      JSON.stringify({ kind: 'Widget', metadata: { annotations: { managedFields: '"managedFields"' } } }),
      '[{"metadata":{"managedFields":[]}}]',
      '{"metadata":{"managedFields":[{"a":"b"}',
      '{"metadata":{"name":"a" "managedFields":[]}}',
      '{"metadata":{"managedFields"',
      '',
    ]) {
      expect(withoutManagedFields(text)).toBe(text);
    }
  });
});
