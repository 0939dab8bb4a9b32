import { describe, expect, it } from 'vitest';
import { secretSection } from './describe.js';

describe('flotctl describe secret', () => {
  it('prints the type and each key size, never a value (as kubectl describe)', () => {
    const text = secretSection({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64'), a: '' } }).join('\n');
    expect(text).toMatch(/password:\s+7 bytes/);
    expect(text).toMatch(/a:\s+0 bytes/);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(Buffer.from('hunter2').toString('base64'));
  });
});
