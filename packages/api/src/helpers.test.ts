import { jsonEqual } from './object-meta.js';
import { describe, expect, it } from 'vitest';
import type { Pod, PodTemplateSpec } from './core-types.js';
import { canonicalJson, controllerRef, deepCopy, getCondition, isPodReady, nowMicroTimestamp, nowTimestamp, objectKey, podTemplateHash, setCondition, splitKey } from './helpers.js';
import type { Condition } from './meta.js';

describe('keys', () => {
  it.each([
    [{ metadata: { namespace: 'ns', name: 'a' } }, 'ns/a'],
    [{ metadata: { name: 'node-1' } }, 'node-1'],
  ])('objectKey(%j) = %s and splits back', (obj, key) => {
    expect(objectKey(obj)).toBe(key);
    expect(splitKey(key)).toEqual({ namespace: (obj.metadata as { namespace?: string }).namespace, name: obj.metadata.name });
  });
});

describe('conditions', () => {
  it('moves lastTransitionTime only when the status changes', () => {
    const list: Condition[] = [];
    setCondition(list, { type: 'Ready', status: 'False', reason: 'Starting' }, 't1');
    setCondition(list, { type: 'Ready', status: 'False', reason: 'StillStarting' }, 't2');
    expect(getCondition(list, 'Ready')).toEqual({ type: 'Ready', status: 'False', reason: 'StillStarting', lastTransitionTime: 't1' });
    setCondition(list, { type: 'Ready', status: 'True' }, 't3');
    expect(getCondition(list, 'Ready')?.lastTransitionTime).toBe('t3');
    expect(list).toHaveLength(1);
    expect(getCondition(list, 'Missing')).toBeUndefined();
  });

  it('isPodReady reads the Ready condition', () => {
    const pod: Pod = { metadata: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    expect(isPodReady(pod)).toBe(true);
    expect(isPodReady({ metadata: {} })).toBe(false);
  });
});

describe('misc', () => {
  it('controllerRef finds the controller owner', () => {
    const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true };
    expect(controllerRef({ metadata: { ownerReferences: [{ ...owner, controller: false, uid: 'x' }, owner] } })).toEqual(owner);
    expect(controllerRef({ metadata: {} })).toBeUndefined();
  });

  it('deepCopy does not share nested objects', () => {
    const a = { metadata: { labels: { x: '1' } } };
    const b = deepCopy(a);
    b.metadata.labels.x = '2';
    expect(a.metadata.labels.x).toBe('1');
  });

  it('podTemplateHash is stable, key-order independent, and ignores its own label', () => {
    const t1: PodTemplateSpec = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'web:1' }] } };
    const t2 = JSON.parse('{"spec":{"containers":[{"image":"web:1","name":"c"}]},"metadata":{"labels":{"app":"web"}}}') as PodTemplateSpec;
    const h = podTemplateHash(t1);
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{7}$/);
    expect(podTemplateHash(t2)).toBe(h);
    expect(podTemplateHash({ ...t1, metadata: { labels: { app: 'web', 'pod-template-hash': h } } })).toBe(h);
    expect(podTemplateHash({ ...t1, spec: { containers: [{ name: 'c', image: 'web:2' }] } })).not.toBe(h);
    expect(podTemplateHash(t1, 1)).not.toBe(h);
    expect(podTemplateHash(JSON.parse(canonicalJson(t1)) as PodTemplateSpec)).toBe(h);
    // Pinned so a change of algorithm (which would make every running ReplicaSet look outdated) is noticed.
    expect(h).toBe('jbspw6f');
  });

  it('timestamps look like Kubernetes', () => {
    const d = new Date('2024-01-02T03:04:05.678Z');
    expect(nowTimestamp(d)).toBe('2024-01-02T03:04:05Z');
    expect(nowMicroTimestamp(d)).toBe('2024-01-02T03:04:05.678000Z');
    expect(nowTimestamp()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

// object-meta's jsonEqual stands in for comparing canonicalJson texts in informer handlers (agent, controller-manager).
describe('jsonEqual', () => {
  // Every pair of JSON values (what a watch delivers) must compare as their canonical JSON texts do.
  const values: unknown[] = [
    null,
    0,
    1,
    '',
    '1',
    true,
    false,
    [],
    {},
    [null],
    [1, 2],
    [2, 1],
    { a: 1 },
    { a: 1, b: undefined },
    { b: undefined, a: 1 },
    { a: undefined },
    { a: null },
    { a: { b: [1, { c: 'x' }] }, d: 2 },
    { d: 2, a: { b: [1, { c: 'x' }] } },
    { d: 2, a: { b: [1, { c: 'y' }] } },
    { constructor: 1 },
    { toString: undefined },
    { a: [] },
    { a: {} },
  ];
  it('agrees with comparing canonicalJson texts for every pair', () => {
    for (const a of values) for (const b of values) expect([a, b, jsonEqual(a, b)]).toEqual([a, b, canonicalJson(a) === canonicalJson(b)]);
  });
  it('ignores key order and undefined keys in nested objects', () => {
    expect(jsonEqual({ spec: { x: 1, y: [{ p: 1, q: 2 }] } }, { spec: { y: [{ q: 2, p: 1 }], x: 1, z: undefined } })).toBe(true);
    expect(jsonEqual({ spec: { x: 1 } }, { spec: { x: 1, z: null } })).toBe(false);
  });
});
