import { describe, expect, it } from 'vitest';
import { generationChanged, jsonEqual } from './generation.js';

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
