import { describe, expect, it } from 'vitest';
import { generateObjectName, rfc3339 } from './names.js';

describe('names', () => {
  it('appends 5 characters from the Kubernetes alphabet', () => {
    const name = generateObjectName('web-');
    expect(name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('formats timestamps as RFC 3339 with whole seconds', () => {
    expect(rfc3339(new Date('2024-05-01T12:00:00.789Z'))).toBe('2024-05-01T12:00:00Z');
  });
});
