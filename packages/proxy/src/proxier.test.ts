import { ENDPOINTSLICE_CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, type EndpointSlice, type KubeObject, type Service } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { Proxier } from './proxier.js';
import { chainName, jumpRules } from './rules.js';
import { FakeConntrack } from './testing/fake-conntrack.js';
import { FakeIptables } from './testing/fake-iptables.js';

const service = (name: string, ip: string): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { clusterIP: ip, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
});
const slice = (svc: string, ips: string[], ready = true): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${svc}-1`, namespace: 'default', labels: { [SERVICE_NAME_LABEL]: svc, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER_NAME } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready, serving: ready, terminating: false } })),
});
const SVC = (name: string) => chainName('KUBE', 'SVC', `default/${name}:http`, 'TCP');

const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

async function setup(objects: KubeObject[], options: Partial<ConstructorParameters<typeof Proxier>[0]> = {}) {
  const client = new FakeApiClient({ objects });
  const informers = new InformerFactory(client);
  const iptables = new FakeIptables();
  const applied: Array<string | undefined> = [];
  const proxier = new Proxier({ informers, iptables, rules: { prefix: 'KUBE', nodeName: 'n1', clusterCIDR: '10.244.0.0/16' }, onApplied: (rv) => applied.push(rv), ...options });
  const ac = new AbortController();
  stops.push(ac);
  informers.start(ac.signal);
  await informers.waitForSync(ac.signal);
  return { client, iptables, proxier, applied, signal: ac.signal, informers };
}

describe('Proxier.sync', () => {
  it('first sync is full: every chain, the built-in jumps, and stale chains of an earlier process deleted', async () => {
    const { iptables, proxier, applied } = await setup([service('web', '10.96.0.10'), slice('web', ['10.244.1.2'])]);
    await iptables.restore('*nat\n:KUBE-SEP-LEFTOVER - [0:0]\nCOMMIT\n');
    const r = await proxier.sync(true);
    expect(r.full).toBe(true);
    expect(r.deleted.nat).toBe(1);
    expect(iptables.chains('nat', 'KUBE-SEP-LEFTOVER')).toEqual([]);
    expect(iptables.chain('nat', SVC('web')).length).toBe(2);
    for (const j of jumpRules('KUBE')) expect(iptables.chain(j.table, j.chain)).toContain(`-A ${j.chain} ${j.args.join(' ')}`);
    expect(applied.at(-1)).toMatch(/^\d+$/);
  });

  it('a partial sync rewrites only what changed, and nothing at all when nothing did', async () => {
    const { client, iptables, proxier, informers } = await setup([service('web', '10.96.0.10'), service('db', '10.96.0.11'), slice('web', ['10.244.1.2']), slice('db', ['10.244.1.9'])]);
    await proxier.sync(true);
    const before = iptables.restores.length;
    expect((await proxier.sync(false)).restored).toBe(false);
    expect(iptables.restores.length).toBe(before);

    const s = client.peek<EndpointSlice>('endpointslices', 'default', 'web-1')!;
    await client.resource<EndpointSlice>('endpointslices').update({ ...s, endpoints: [...s.endpoints, { addresses: ['10.244.2.2'], conditions: { ready: true } }] });
    const slices = informers.informer<EndpointSlice>('endpointslices');
    await waitFor(() => slices.store.get('default/web-1')?.endpoints.length === 2, { what: 'cache updated' });
    const r = await proxier.sync(false);
    expect(r.written).toEqual({ nat: 2, filter: 0 }); // the service chain and the new endpoint's chain
    expect(iptables.restores.at(-1)).not.toContain(SVC('db'));
    expect(iptables.chain('nat', SVC('web')).filter((l) => l.includes('-SEP-'))).toHaveLength(2);
  });

  it('an endpoint leaving a UDP Service: its flows are deleted after the rules changed; a conntrack failure does not fail the sync', async () => {
    const udp = (name: string): Service => ({ ...service(name, '10.96.0.53'), spec: { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }] } });
    const udpSlice = (ips: string[]): EndpointSlice => ({ ...slice('dns', ips), ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }] });
    const conntrack = new FakeConntrack();
    const { client, proxier, informers } = await setup([udp('dns'), udpSlice(['10.244.1.2', '10.244.1.3'])], { conntrack });
    await proxier.sync(true);
    expect(conntrack.deletions).toEqual([]);
    const s = client.peek<EndpointSlice>('endpointslices', 'default', 'dns-1')!;
    const updated = await client.resource<EndpointSlice>('endpointslices').update({ ...s, endpoints: s.endpoints.slice(1) });
    const slices = informers.informer<EndpointSlice>('endpointslices');
    await waitFor(() => slices.store.get('default/dns-1')?.metadata.resourceVersion === updated.metadata.resourceVersion, { what: 'cache updated' });
    conntrack.fail = true;
    await proxier.sync(false);
    expect(conntrack.deletions).toEqual([{ protocol: 'udp', origDst: '10.96.0.53', origPortDst: 53, replySrc: '10.244.1.2', replyPortSrc: 5353 }]);
    expect(proxier.metrics.render()).toMatch(/kubeproxy_conntrack_delete_failures_total 1/);
  });

  it('a failed restore makes the next sync full', async () => {
    const { iptables, proxier } = await setup([service('web', '10.96.0.10'), slice('web', ['10.244.1.2'])]);
    iptables.failNextRestore = true;
    await expect(proxier.sync(true)).rejects.toThrow(/injected/);
    const saves = iptables.saves;
    // The Proxier forgot what it applied: even a "partial" request rewrites everything.
    const r = await proxier.sync(false);
    expect(r.written.nat).toBeGreaterThan(3);
    expect(iptables.saves).toBe(saves);
  });
});

describe('Proxier running', () => {
  it('follows services and slices as they change, and removes a deleted service’s chains', async () => {
    const { client, iptables, proxier, signal, applied } = await setup([service('web', '10.96.0.10')], { minSyncPeriodMs: 0 });
    const running = proxier.run(signal);
    await waitFor(() => iptables.chain('filter', 'KUBE-SERVICES').some((l) => l.includes('has no endpoints')), { what: 'REJECT while no endpoints' });
    await client.resource<EndpointSlice>('endpointslices').create(slice('web', ['10.244.1.2', '10.244.1.3']));
    await waitFor(() => iptables.chain('nat', SVC('web')).length === 3, { what: 'two endpoints' });
    expect(iptables.chain('filter', 'KUBE-SERVICES')).toEqual([]);
    await client.resource<Service>('services').delete('default', 'web');
    await waitFor(() => iptables.chains('nat', 'KUBE-S').join() === 'KUBE-SERVICES', { what: 'service chains gone' });
    expect(Number(applied.at(-1))).toBeGreaterThan(0);
    proxier.controller.queue.shutDown();
    await running;
  });
});
