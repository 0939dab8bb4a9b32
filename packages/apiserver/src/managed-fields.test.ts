import { describe, expect, it } from 'vitest';
import { resourceForKind } from '@flotilla/api';
import { compareFields, decodeFieldsV1, encodeFieldsV1, fieldValues, printPath, updateManagers, type Manager } from './managed-fields.js';

const deploy = resourceForKind('apps/v1', 'Deployment')!;
const main = { hasStatus: true };

const deployment = (replicas: number, image = 'x') => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'd', uid: 'u', resourceVersion: '3', labels: { app: 'web' } },
  spec: {
    replicas, selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] }], tolerations: [{ key: 'k' }] } },
  },
  status: { replicas: 1 },
});

describe('field sets', () => {
  it('finds leaves, list-map items by key (defaulted protocol), atomic selectors and lists, and map keys; not the server-owned or status fields', () => {
    const set = encodeFieldsV1(new Set(fieldValues(deploy, deployment(2), main).keys()));
    expect(set).toEqual({
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              'k:{"name":"web"}': {
                '.': {},
                'f:env': { 'k:{"name":"A"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
                'f:image': {},
                'f:name': {},
                'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
              },
            },
            'f:tolerations': {},
          },
        },
      },
    });
  });

  it('round-trips fieldsV1 and prints paths as Kubernetes does', () => {
    const set = new Set(fieldValues(deploy, deployment(2), main).keys());
    expect(decodeFieldsV1(encodeFieldsV1(set))).toEqual(set);
    const paths = [...set].map(printPath);
    expect(paths).toContain('.spec.replicas');
    expect(paths).toContain('.spec.template.spec.containers[name="web"].image');
    expect(paths).toContain('.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]');
    expect(printPath('f:metadata\nf:finalizers\nv:"a"')).toBe('.metadata.finalizers[="a"]');
  });

  it('compares: added, modified and removed paths', () => {
    const a = fieldValues(deploy, deployment(2), main);
    const b = fieldValues(deploy, { ...deployment(3, 'y'), metadata: { name: 'web' } }, main);
    const cmp = compareFields(a, b);
    expect([...cmp.modified].map(printPath).sort()).toEqual(['.spec.replicas', '.spec.template.spec.containers[name="web"].image']);
    expect([...cmp.removed].map(printPath)).toEqual(['.metadata.labels.app']);
    expect(cmp.added.size).toBe(0);
  });
});

describe('updateManagers', () => {
  const writer = (manager: string) => ({ manager, operation: 'Update' as const, apiVersion: 'apps/v1' });

  it('gives the writer what it changed and takes it from the others; nothing changes on a no-op', () => {
    const empty = new Map<string, string>();
    let managers: Manager[] = updateManagers([], empty, fieldValues(deploy, deployment(2), main), writer('create'));
    expect(managers.map((m) => m.manager)).toEqual(['create']);
    const before = fieldValues(deploy, deployment(2), main);
    managers = updateManagers(managers, before, fieldValues(deploy, deployment(5), main), writer('scaler'));
    const byName = Object.fromEntries(managers.map((m) => [m.manager, [...m.set].map(printPath)]));
    expect(byName.scaler).toEqual(['.spec.replicas']);
    expect(byName.create).not.toContain('.spec.replicas');
    expect(updateManagers(managers, before, before, writer('other'))).toBe(managers);
  });
});

describe('re-encoding kept entries', () => {
  const writer = { manager: 'kubelet', operation: 'Update' as const, apiVersion: 'v1', subresource: 'status' };

  it('a stored entry kept as it is is stored as it was (same fieldsV1), a changed one is encoded afresh', () => {
    const stored = encodeFieldsV1(new Set(['f:spec\nf:replicas', 'f:metadata\nf:labels\nf:app']));
    const set = decodeFieldsV1(JSON.parse(JSON.stringify(stored)));
    expect(encodeFieldsV1(set)).toEqual(stored);
    const tree = JSON.parse(JSON.stringify(stored));
    expect(encodeFieldsV1(decodeFieldsV1(tree))).toBe(tree);
    const other: Manager = { manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2020-01-01T00:00:00Z', set: decodeFieldsV1(tree) };
    const out = updateManagers([other], new Map([['f:status\nf:phase', '"Pending"']]), new Map([['f:status\nf:phase', '"Running"']]), writer);
    expect(out[0]).toBe(other);
    expect(encodeFieldsV1(out[1]!.set)).toEqual({ 'f:status': { 'f:phase': {} } });
  });

  it('a tree spelled otherwise than the server spells it (unsorted, a lone ".", a non-object) is encoded afresh', () => {
    for (const tree of [{ 'f:b': {}, 'f:a': {} }, { 'f:a': { '.': {} } }, { 'f:a': { 'f:x': {}, '.': {} } }, { 'f:a': 1, 'f:b': {} }]) {
      const again = encodeFieldsV1(decodeFieldsV1(tree));
      expect(again).not.toBe(tree);
      expect(encodeFieldsV1(decodeFieldsV1(again))).toBe(again);
    }
  });

  it('a writer whose fields stay the same keeps its set and gets a new time', () => {
    const mine: Manager = { ...writer, time: '2020-01-01T00:00:00Z', set: decodeFieldsV1({ 'f:status': { 'f:phase': {} } }) };
    const out = updateManagers([mine], new Map([['f:status\nf:phase', '"Pending"']]), new Map([['f:status\nf:phase', '"Running"']]), writer);
    expect(out).toHaveLength(1);
    expect(out[0]!.set).toBe(mine.set);
    expect(out[0]!.time).not.toBe(mine.time);
  });
});

describe('encoding one set shape once', () => {
  it('equal sets share one frozen tree; different sets (even ones whose members join alike) do not', () => {
    const a = encodeFieldsV1(new Set(['f:spec\nf:replicas', 'f:metadata\nf:labels\nf:app']));
    const b = encodeFieldsV1(new Set(['f:spec\nf:replicas', 'f:metadata\nf:labels\nf:app']));
    expect(b).toBe(a);
    expect(Object.isFrozen((a['f:spec'] as Record<string, unknown>)['f:replicas'])).toBe(true);
    const joined = encodeFieldsV1(new Set(['f:x1:f:y']));
    const split = encodeFieldsV1(new Set(['f:x', 'f:y']));
    expect(joined).toEqual({ 'f:x1:f:y': {} });
    expect(split).toEqual({ 'f:x': {}, 'f:y': {} });
  });
});
