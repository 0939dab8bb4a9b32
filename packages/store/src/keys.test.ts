import { describe, expect, it } from 'vitest';
import { listPrefix, normalizePrefix, objectKey, prefixRangeEnd } from './keys.js';

describe('keys', () => {
  it('lays out namespaced and cluster-scoped objects like Kubernetes', () => {
    expect(objectKey('/registry', 'pods', 'default', 'web')).toBe('/registry/pods/default/web');
    expect(objectKey('/registry', 'nodes', undefined, 'n1')).toBe('/registry/nodes/n1');
  });

  it('ends list prefixes with a slash so pods never matches podtemplates', () => {
    expect(listPrefix('/registry', 'pods')).toBe('/registry/pods/');
    expect(listPrefix('/registry', 'pods', 'kube-system')).toBe('/registry/pods/kube-system/');
    expect('/registry/podtemplates/x'.startsWith(listPrefix('/registry', 'pods'))).toBe(false);
  });

  it('computes the etcd range end of a prefix', () => {
    expect(prefixRangeEnd('/a/').toString()).toBe('/a0');
    expect([...prefixRangeEnd(Buffer.from([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixRangeEnd(Buffer.from([0xff]))]).toEqual([0]);
  });

  it('normalises prefixes', () => {
    expect(normalizePrefix('registry/')).toBe('/registry');
    expect(normalizePrefix('/flotilla-test-x')).toBe('/flotilla-test-x');
  });
});
