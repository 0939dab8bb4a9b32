import { describe, expect, it } from 'vitest';
import { defaultEndpointSlice } from './defaults.js';
import type { EndpointSlice } from './discovery-types.js';
import { validateEndpointSlice } from './validation.js';

function slice(over: Partial<EndpointSlice> = {}): EndpointSlice {
  const s: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-abc12', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'h1' }],
    ports: [{ name: 'http', port: 8080 }],
    ...over,
  };
  defaultEndpointSlice(s);
  return s;
}

const fields = (s: EndpointSlice, old?: EndpointSlice) => validateEndpointSlice(s, old).map((e) => e.field);

describe('EndpointSlice validation', () => {
  it('accepts a well-formed slice and defaults the protocol', () => {
    const s = slice();
    expect(validateEndpointSlice(s)).toEqual([]);
    expect(s.ports![0]!.protocol).toBe('TCP');
  });

  it('names every bad field', () => {
    const s = slice({
      addressType: 'IPv5' as never,
      endpoints: [{ addresses: [] }, { addresses: ['300.1.1.1'], conditions: { ready: 'yes' as never } }],
      ports: [{ name: 'Bad_Name', port: 0 }, { name: 'Bad_Name', port: 80 }],
    });
    expect(fields(s)).toEqual(expect.arrayContaining([
      'addressType', 'endpoints[0].addresses', 'endpoints[1].addresses[0]', 'endpoints[1].conditions.ready', 'ports[0].name', 'ports[0].port', 'ports[1].name',
    ]));
  });

  it('refuses an IPv6 address in an IPv4 slice and a changed addressType', () => {
    expect(fields(slice({ endpoints: [{ addresses: ['fd00::1'] }] }))).toEqual(['endpoints[0].addresses[0]']);
    const old = slice({ metadata: { name: 'web-abc12', namespace: 'default', resourceVersion: '5' } });
    const changed = slice({ addressType: 'FQDN', endpoints: [{ addresses: ['web.example.com'] }], metadata: { name: 'web-abc12', namespace: 'default', resourceVersion: '5' } });
    expect(fields(changed, old)).toContain('addressType');
  });

  it('requires endpoints, which may be empty', () => {
    expect(fields(slice({ endpoints: undefined as never }))).toEqual(['endpoints']);
    expect(fields(slice({ endpoints: [] }))).toEqual([]);
  });
});
