import { describe, expect, it } from 'vitest';
import { cidrContains, cidrsOverlap, formatCidr, mustParseCidr, nthAddress, parseCidr, subnets } from './cidr.js';

describe('cidr', () => {
  it.each([
    ['10.244.3.0/24', '10.244.3.0/24'],
    ['10.244.3.7/24', '10.244.3.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.96.0.0/12', '10.96.0.0/12'],
  ])('parses and normalises %s', (input, want) => {
    expect(formatCidr(parseCidr(input)!)).toBe(want);
  });

  it.each(['10.244.3.0', '10.244.3.0/33', '10.244.300.0/24', 'fd00::/64', '10.0.0.0/8/1', ''])('rejects %j', (input) => {
    expect(parseCidr(input)).toBeUndefined();
  });

  it('overlap, containment, n-th address', () => {
    expect(cidrsOverlap(mustParseCidr('10.244.0.0/23'), mustParseCidr('10.244.1.0/24'))).toBe(true);
    expect(cidrsOverlap(mustParseCidr('10.244.0.0/24'), mustParseCidr('10.244.1.0/24'))).toBe(false);
    expect(cidrContains(mustParseCidr('10.244.1.0/24'), '10.244.1.255')).toBe(true);
    expect(cidrContains(mustParseCidr('10.244.1.0/24'), '10.244.2.0')).toBe(false);
    expect(nthAddress(mustParseCidr('10.244.1.0/24'), 1)).toBe('10.244.1.1');
  });

  it('carves a cluster range into node ranges', () => {
    expect(subnets(mustParseCidr('10.244.0.0/16'), 24)).toHaveLength(256);
    expect(subnets(mustParseCidr('10.9.0.0/24'), 26).map(formatCidr)).toEqual(['10.9.0.0/26', '10.9.0.64/26', '10.9.0.128/26', '10.9.0.192/26']);
    expect(() => subnets(mustParseCidr('10.244.0.0/16'), 15)).toThrow(/mask size/);
  });
});
