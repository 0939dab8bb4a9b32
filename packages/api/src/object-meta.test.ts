import { describe, expect, it } from 'vitest';
import { completeObjectMetaForCreate, generateObjectName, generationChanged, jsonEqual, nextGeneration, prepareObjectMetaForCreate, prepareObjectMetaForUpdate } from './object-meta.js';

const pod = (spec: unknown, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec, ...extra });

describe('generationChanged', () => {
  it('ignores metadata and status', () => {
    expect(generationChanged(pod({ a: 1 }), { ...pod({ a: 1 }), metadata: { name: 'p', labels: { x: 'y' } }, status: { phase: 'Running' } })).toBe(false);
  });

  it('sees spec changes, deep and in arrays', () => {
    expect(generationChanged(pod({ c: [{ image: 'a' }] }), pod({ c: [{ image: 'b' }] }))).toBe(true);
    expect(generationChanged(pod({ c: [1, 2] }), pod({ c: [1] }))).toBe(true);
  });

  it('sees changes to other top-level fields (data, rules)', () => {
    expect(generationChanged({ metadata: {}, data: { a: '1' } }, { metadata: {}, data: { a: '2' } })).toBe(true);
  });

  it('does not care about key order or undefined fields', () => {
    expect(jsonEqual({ a: 1, b: { c: 2 } }, { b: { c: 2 }, a: 1, d: undefined })).toBe(true);
    expect(jsonEqual([1, { a: null }], [1, { a: null }])).toBe(true);
    expect(jsonEqual({ a: [] }, { a: {} })).toBe(false);
  });
});

describe('generateObjectName', () => {
  it('appends 5 characters from the Kubernetes alphabet', () => {
    expect(generateObjectName('web-')).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('trims a long base so the name still fits 63 characters', () => {
    expect(generateObjectName('x'.repeat(70))).toHaveLength(63);
  });
});

describe('server-owned metadata', () => {
  it('drops what a client sent on create and assigns a uid', () => {
    const md = { name: 'a', uid: 'mine', resourceVersion: '9', generation: 7, creationTimestamp: 'then', deletionTimestamp: 'x', deletionGracePeriodSeconds: 3, labels: { a: 'b' } };
    prepareObjectMetaForCreate(md);
    expect(md).toEqual({ name: 'a', uid: expect.stringMatching(/^[0-9a-f-]{36}$/), labels: { a: 'b' } });
    expect(md.uid).not.toBe('mine');
  });

  it('completes a new object: name from generateName, generation 1, kept uid, no deletion marks', () => {
    const md = completeObjectMetaForCreate({ generateName: 'web-', uid: 'u1', resourceVersion: '3', deletionTimestamp: 'x' }, '2024-01-01T00:00:00Z');
    expect(md).toEqual({ generateName: 'web-', name: expect.stringMatching(/^web-.{5}$/), uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z', generation: 1 });
  });

  it('keeps identity and deletion fields on update and moves generation only for the desired state', () => {
    const cur = { metadata: { name: 'p', uid: 'u', creationTimestamp: 't', generation: 3, deletionTimestamp: 'd' }, spec: { a: 1 }, status: { s: 1 } };
    const sameSpec = { metadata: { name: 'p', uid: 'other', creationTimestamp: 'x', labels: { l: 'v' } }, spec: { a: 1 }, status: { s: 2 } };
    prepareObjectMetaForUpdate(sameSpec, cur);
    expect(sameSpec.metadata).toEqual({ name: 'p', uid: 'u', creationTimestamp: 't', generation: 3, deletionTimestamp: 'd', labels: { l: 'v' } });
    expect(nextGeneration(cur, { metadata: {}, spec: { a: 2 } })).toBe(4);
  });
});
