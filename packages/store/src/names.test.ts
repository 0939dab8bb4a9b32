import { afterEach, describe, expect, it, vi } from 'vitest';
import { rfc3339 } from './names.js';

describe('names', () => {
  afterEach(() => vi.useRealTimers());
  it('formats timestamps as RFC 3339 with whole seconds', () => {
    expect(rfc3339(new Date('2024-05-01T12:00:00.789Z'))).toBe('2024-05-01T12:00:00Z');
  });
  it('formats now, following the clock from one second to the next', () => {
    vi.useFakeTimers({ now: Date.parse('2024-05-01T12:00:00.100Z') });
    expect(rfc3339()).toBe('2024-05-01T12:00:00Z');
    vi.setSystemTime(Date.parse('2024-05-01T12:00:00.999Z'));
    expect(rfc3339()).toBe('2024-05-01T12:00:00Z');
    vi.setSystemTime(Date.parse('2024-05-01T12:00:01.000Z'));
    expect(rfc3339()).toBe('2024-05-01T12:00:01Z');
    vi.setSystemTime(Date.parse('2024-04-30T23:59:59.500Z'));
    expect(rfc3339()).toBe('2024-04-30T23:59:59Z');
  });
});
