import { describe, expect, it } from 'vitest';
import { sameJson } from './rest-handlers.js';

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
