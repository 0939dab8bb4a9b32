import { APPLIED_ENDPOINTSLICE_RV_ANNOTATION, PROXY_LEASE_LABEL, type EndpointSlice, type Lease, type Pod } from '@flotilla/api';
import { FakeApiClient } from '@flotilla/client/testing';
import { describe, expect, it } from 'vitest';
import { checkDrain, waitForEndpointDrain } from './endpoint-drain.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');
const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'default', uid: 'u1' }, spec: { containers: [] } };
const lease = (name: string, applied: number, renew = '2026-01-01T00:00:09.000000Z'): Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: `flotilla-proxy-${name}`, namespace: 'kube-node-lease', labels: { [PROXY_LEASE_LABEL]: 'proxy' }, annotations: { [APPLIED_ENDPOINTSLICE_RV_ANNOTATION]: String(applied) } },
  spec: { holderIdentity: name, leaseDurationSeconds: 20, renewTime: renew },
});
const slice = (rv: number, ready: boolean | undefined, uid = 'u1'): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `s${rv}`, namespace: 'default', resourceVersion: String(rv) },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.244.1.2'], targetRef: { kind: 'Pod', name: 'web-1', namespace: 'default', uid }, conditions: ready === undefined ? {} : { ready } }],
});

describe('checkDrain', () => {
  const cases: Array<{ name: string; slices: EndpointSlice[]; leases: Lease[]; want: Partial<ReturnType<typeof checkDrain>> }> = [
    { name: 'no proxy alive: nothing to wait for', slices: [slice(5, true)], leases: [lease('h1', 0, '2025-12-31T23:00:00.000000Z')], want: { done: true, outcome: 'no-proxies' } },
    { name: 'pod in no slice', slices: [slice(5, true, 'other')], leases: [lease('h1', 1)], want: { done: true, outcome: 'not-an-endpoint' } },
    { name: 'still ready in a slice: the controller has not caught up', slices: [slice(5, true)], leases: [lease('h1', 9)], want: { done: false, waitingFor: ['endpointslice-controller'] } },
    { name: 'unset ready counts as ready', slices: [slice(5, undefined)], leases: [lease('h1', 9)], want: { done: false } },
    { name: 'not ready at 7, one proxy behind', slices: [slice(7, false)], leases: [lease('h1', 7), lease('h2', 6)], want: { done: false, revision: 7, waitingFor: ['h2'] } },
    { name: 'every live proxy applied it (a dead one is ignored)', slices: [slice(7, false)], leases: [lease('h1', 7), lease('h2', 8), { ...lease('h3', 1), spec: { ...lease('h3', 1).spec, renewTime: '2026-01-01T00:00:00.000000Z', leaseDurationSeconds: 5 } }], want: { done: true, outcome: 'applied', revision: 7 } },
  ];
  for (const c of cases) it(c.name, () => expect(checkDrain(pod, c.slices, c.leases, NOW)).toMatchObject(c.want));
});

describe('waitForEndpointDrain', () => {
  it('returns once the proxies report the revision, and gives up at the budget otherwise', async () => {
    const t0 = Date.now();
    const now = () => NOW + (Date.now() - t0);
    const client = new FakeApiClient({ objects: [slice(7, false), lease('h1', 0)] });
    const rv = Number(client.peek<EndpointSlice>('endpointslices', 'default', 's7')!.metadata.resourceVersion);
    const behind = await waitForEndpointDrain(pod, 120, { client, now, pollMs: 10 });
    expect(behind.outcome).toBe('timeout');
    expect(behind.last?.waitingFor).toEqual(['h1']);
    setTimeout(() => void client.resource<Lease>('leases').patch('kube-node-lease', 'flotilla-proxy-h1', { metadata: { annotations: { [APPLIED_ENDPOINTSLICE_RV_ANNOTATION]: String(rv) } } }, 'merge'), 30);
    const done = await waitForEndpointDrain(pod, 5_000, { client, now, pollMs: 10 });
    expect(done.outcome).toBe('applied');
  });
});
