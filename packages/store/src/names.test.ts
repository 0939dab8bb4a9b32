import { describe, expect, it } from 'vitest';
import { rfc3339 } from './names.js';

describe('names', () => {
  it('formats timestamps as RFC 3339 with whole seconds', () => {
    expect(rfc3339(new Date('2024-05-01T12:00:00.789Z'))).toBe('2024-05-01T12:00:00Z');
  });
});
