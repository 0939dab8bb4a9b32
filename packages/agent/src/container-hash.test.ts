import { createHash } from 'node:crypto';
import { canonicalJson, type Container } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { containerHash } from './container-config.js';

// The label value containers already carry: an agent that hashed differently would restart every container it finds.
const expected = (c: Container) => createHash('sha256').update(canonicalJson(c)).digest('hex').slice(0, 16);

describe('containerHash', () => {
  const spec: Container = { name: 'app', image: 'busybox:1', command: ['sh', '-c', 'sleep 1'], env: [{ name: 'A', value: '1' }], resources: { requests: { cpu: '10m' } } };

  it('is the sha256 of the canonical spec, whatever the order of its keys, frozen or not', () => {
    const reordered = JSON.parse('{"resources":{"requests":{"cpu":"10m"}},"env":[{"value":"1","name":"A"}],"command":["sh","-c","sleep 1"],"image":"busybox:1","name":"app"}') as Container;
    expect(containerHash(spec)).toBe(expected(spec));
    expect(containerHash(reordered)).toBe(expected(spec));
    expect(containerHash(Object.freeze(structuredClone(spec)))).toBe(expected(spec));
    // Asked again (from its cache this time), the same.
    expect(containerHash(structuredClone(spec))).toBe(expected(spec));
  });

  it('follows a spec that changed after it was hashed, and tells different specs apart', () => {
    const c = structuredClone(spec);
    const before = containerHash(c);
    c.image = 'busybox:2';
    expect(containerHash(c)).toBe(expected(c));
    expect(containerHash(c)).not.toBe(before);
  });

  it('stays right past the size of its cache', () => {
    for (let i = 0; i < 1500; i++) {
      const c = { ...spec, name: `c${i}` };
      expect(containerHash(c)).toBe(expected(c));
    }
    expect(containerHash(structuredClone(spec))).toBe(expected(spec));
  });
});
