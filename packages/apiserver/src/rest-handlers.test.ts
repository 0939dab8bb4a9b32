import { describe, expect, it } from 'vitest';
import { withoutManagedFields } from './omit-managed-fields.js';
import { listJsonParts, sameJson } from './rest-handlers.js';

describe('sameJson', () => {
  it('agrees with comparing JSON.stringify texts', () => {
    const entry = { manager: 'a', operation: 'Update', fieldsV1: { 'f:spec': { 'f:x': {} } }, time: undefined };
    const cases: Array<[unknown, unknown]> = [
      [[entry], JSON.parse(JSON.stringify([entry]))],
      [[entry], [{ ...entry, manager: 'b' }]],
      [{ a: 1, b: 2 }, { b: 2, a: 1 }],
      [{ a: 1 }, { a: 1, b: undefined }],
      [[1, undefined], [1, null]],
      [[1], [1, 2]],
      [{ a: [] }, { a: {} }],
      [{ a: '1' }, { a: 1 }],
      [[entry], undefined],
      [null, null],
      [{ a: { b: { c: [1, 'x', true] } } }, { a: { b: { c: [1, 'x', true] } } }],
      [{ a: { b: { c: [1, 'x', true] } } }, { a: { b: { c: [1, 'x', false] } } }],
    ];
    for (const [a, b] of cases) expect(sameJson(a, b), JSON.stringify([a, b])).toBe(JSON.stringify(a) === JSON.stringify(b));
  });
});

describe('listJsonParts', () => {
  const head = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' } });
  it('makes the list JSON of any number of items, in parts of bounded size', () => {
    for (const n of [0, 1, 2, 1000]) {
      const items = Array.from({ length: n }, (_, i) => JSON.stringify({ metadata: { name: `p${i}` }, pad: 'y'.repeat(i % 7 === 0 ? 300_000 : 50) }));
      const parts = [...listJsonParts(head, items)];
      expect(JSON.parse(parts.join(''))).toEqual({ ...JSON.parse(head), items: items.map((t) => JSON.parse(t)) });
      // A part ends at the first item past the part size: never longer than that size plus one item.
      for (const p of parts) expect(p.length).toBeLessThan((256 << 10) + 300_100);
      if (n === 1000) expect(parts.length).toBeGreaterThan(100);
    }
  });

  it('rewrites each item as its part is made (omitManagedFields on a streamed list)', () => {
    const items = Array.from({ length: 300 }, (_, i) => JSON.stringify({ metadata: { name: `p${i}`, managedFields: [{ manager: 'm', fieldsV1: { 'f:spec': {} } }] }, pad: 'y'.repeat(2_000) }));
    const parts = [...listJsonParts(head, items, withoutManagedFields)];
    expect(parts.length).toBeGreaterThan(1);
    expect(JSON.parse(parts.join(''))).toEqual({ ...JSON.parse(head), items: items.map((t) => ({ metadata: { name: JSON.parse(t).metadata.name }, pad: 'y'.repeat(2_000) })) });
  });
});
