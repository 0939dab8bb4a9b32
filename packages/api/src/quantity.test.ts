import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { cpuMillis, formatCpu, formatMemory, formatQuantity, memoryBytes, parseQuantity, resolveFenceposts, resolveIntOrPercent } from './quantity.js';

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['0', 0],
    ['128Mi', 128 * 2 ** 20],
    ['1G', 1e9],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1E', 1e18],
    ['2k', 2000],
    ['100u', 1e-4],
    ['.5', 0.5],
    ['+3', 3],
    ['-1', -1],
    ['1Ki', 1024],
    [4, 4],
  ])('%s → %s', (q, want) => {
    expect(parseQuantity(q)).toBeCloseTo(want, 9);
  });

  it.each(['', 'abc', '1.2.3', '5mi', '1 Gi', 'Mi', '1KiB', '--1', '1e', '0x10'])('rejects %j with a BadRequest naming the value', (q) => {
    let err: unknown;
    try {
      parseQuantity(q);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(400);
    expect((err as ApiError).message).toContain(`"${q}"`);
  });
});

describe('cpu and memory helpers', () => {
  it.each([
    ['500m', 500],
    ['0.1', 100],
    ['2', 2000],
    ['1.0005', 1001],
    ['250m', 250],
  ])('cpuMillis(%s) = %d', (q, want) => expect(cpuMillis(q)).toBe(want));

  it.each([
    ['128Mi', 134217728],
    ['1G', 1e9],
    ['0.1G', 1e8],
    ['1.5Gi', 1610612736],
  ])('memoryBytes(%s) = %d', (q, want) => expect(memoryBytes(q)).toBe(want));

  it('formats CPU and memory back', () => {
    expect(formatCpu(500)).toBe('500m');
    expect(formatCpu(2000)).toBe('2');
    expect(formatMemory(134217728)).toBe('128Mi');
    expect(formatMemory(1610612736)).toBe('1536Mi');
    expect(formatMemory(1000)).toBe('1000');
    expect(formatQuantity(1e9, 'DecimalSI')).toBe('1G');
    expect(formatQuantity(0.5)).toBe('500m');
    expect(formatQuantity(0)).toBe('0');
  });

  it('round-trips', () => {
    for (const q of ['500m', '2', '128Mi', '1Gi', '3k', '1536Mi']) {
      const fmt = q.endsWith('i') ? formatQuantity(parseQuantity(q), 'BinarySI') : formatQuantity(parseQuantity(q));
      expect(fmt).toBe(q);
    }
  });
});

describe('int-or-percent', () => {
  it.each([
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    ['25%', 1, true, 1],
    ['25%', 1, false, 0],
    ['100%', 3, false, 3],
    [2, 10, true, 2],
    ['0%', 10, true, 0],
  ] as const)('%s of %d (roundUp %s) = %d', (v, n, up, want) => expect(resolveIntOrPercent(v, n, up)).toBe(want));

  it('rejects strings that are not percentages', () => {
    expect(() => resolveIntOrPercent('abc', 10, true)).toThrow(/not a percentage/);
    expect(() => resolveIntOrPercent('1.5%', 10, true)).toThrow(ApiError);
  });

  it('never leaves a rollout with zero surge and zero unavailability', () => {
    expect(resolveFenceposts('25%', '25%', 1)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(resolveFenceposts(0, 0, 5)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts('25%', '25%', 10)).toEqual({ maxSurge: 3, maxUnavailable: 2 });
  });
});
