import { describe, expect, it } from 'vitest';
import type { Pod, PodSpec } from './core-types.js';
import { validatePod } from './validation.js';

const pod = (spec: Partial<PodSpec>): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default' },
  spec: { restartPolicy: 'Always', containers: [{ name: 'c', image: 'x' }], ...spec },
});
const causes = (spec: Partial<PodSpec>) => validatePod(pod(spec)).map((e) => `${e.field}: ${e.message ?? ''}`);

describe('pod dnsConfig validation', () => {
  it('accepts the policies with or without a dnsConfig', () => {
    expect(causes({ dnsPolicy: 'ClusterFirst' })).toEqual([]);
    expect(causes({ dnsPolicy: 'Default', dnsConfig: { searches: ['corp.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } })).toEqual([]);
    expect(causes({ dnsPolicy: 'None', dnsConfig: { nameservers: ['10.0.0.2'] } })).toEqual([]);
  });

  it('requires nameservers with dnsPolicy None', () => {
    expect(causes({ dnsPolicy: 'None' })).toEqual([expect.stringMatching(/^spec\.dnsConfig: .*dnsPolicy/)]);
    expect(causes({ dnsPolicy: 'None', dnsConfig: {} })).toEqual([expect.stringMatching(/^spec\.dnsConfig\.nameservers: /)]);
  });

  it('rejects bad nameservers, too many of them, bad searches and nameless options, with field paths', () => {
    const fields = validatePod(pod({ dnsConfig: { nameservers: ['1.1.1.1', 'nope', '2.2.2.2', '3.3.3.3'], searches: ['Bad_Domain'], options: [{ value: '1' }] } })).map((e) => e.field);
    expect(fields).toEqual(['spec.dnsConfig.nameservers', 'spec.dnsConfig.nameservers[1]', 'spec.dnsConfig.searches[0]', 'spec.dnsConfig.options[0].name']);
    expect(validatePod(pod({ dnsConfig: { searches: Array.from({ length: 33 }, (_, i) => `d${i}.example`) } })).map((e) => e.field)).toEqual(['spec.dnsConfig.searches']);
  });
});
