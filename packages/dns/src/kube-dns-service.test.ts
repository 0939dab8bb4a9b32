import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Endpoints, Service } from '@flotilla/api';
import { FakeApiClient, stopWithRequestsInFlight, unansweredResource, type Unanswered } from '@flotilla/client/testing';
import { KubeDnsRegistrar, SKIP_MIRROR_LABEL } from './kube-dns-service.js';

const get = async <T>(c: FakeApiClient, kind: string, apiVersion: string, name: string) => (await c.resource<T & { metadata: object; apiVersion: string; kind: string }>({ apiVersion, kind }).get('kube-system', name)) as T;

describe('KubeDnsRegistrar', () => {
  it('creates the kube-dns Service, its slice and Endpoints, and writes nothing more while nothing changes', async () => {
    const client = new FakeApiClient();
    const r = new KubeDnsRegistrar(client, { clusterIP: '10.96.0.10', address: '10.250.0.1', port: 53, identity: 'cp' });
    await r.reconcileOnce();
    const svc = await get<Service>(client, 'Service', 'v1', 'kube-dns');
    expect(svc.spec).toMatchObject({ clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] });
    expect(svc.spec?.selector).toBeUndefined();
    const slice = await get<EndpointSlice>(client, 'EndpointSlice', 'discovery.k8s.io/v1', r.objectName);
    expect(slice.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'flotilla-dns' });
    expect(slice.endpoints).toEqual([{ addresses: ['10.250.0.1'], conditions: { ready: true, serving: true, terminating: false } }]);
    expect(slice.ports).toEqual([{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }]);
    const ep = await get<Endpoints>(client, 'Endpoints', 'v1', 'kube-dns');
    expect(ep.metadata.labels?.[SKIP_MIRROR_LABEL]).toBe('true');
    expect(ep.subsets).toEqual([{ addresses: [{ ip: '10.250.0.1' }], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }]);

    const writes = () => client.actions.filter((a) => a.resource !== 'leases').length;
    const before = writes();
    await r.reconcileOnce();
    expect(writes()).toBe(before);
  });

  it('lists every live server, drops one whose lease expired, and leaves on deregister', async () => {
    const client = new FakeApiClient();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const a = new KubeDnsRegistrar(client, { clusterIP: '10.96.0.10', address: '10.250.0.1', port: 53, identity: 'a', leaseSeconds: 15, now: () => now });
    const b = new KubeDnsRegistrar(client, { clusterIP: '10.96.0.10', address: '10.250.0.12', port: 53, identity: 'b', leaseSeconds: 15, now: () => now });
    await a.reconcileOnce();
    await b.reconcileOnce();
    const ips = async () => (await get<Endpoints>(client, 'Endpoints', 'v1', 'kube-dns')).subsets?.flatMap((s) => s.addresses?.map((x) => x.ip) ?? []) ?? [];
    expect(await ips()).toEqual(['10.250.0.1', '10.250.0.12']);

    // b stops renewing; 20 s later a's round drops it.
    now += 20_000;
    await a.reconcileOnce();
    expect(await ips()).toEqual(['10.250.0.1']);
    await expect(client.resource({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }).get('kube-system', b.objectName)).rejects.toThrow();

    await a.deregister();
    expect(await ips()).toEqual([]);
  });

  it('puts the dns ports back on a Service someone changed, keeping its ClusterIP', async () => {
    const client = new FakeApiClient();
    client.seed({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'kube-system', name: 'kube-dns' }, spec: { clusterIP: '10.96.0.10', selector: { app: 'x' }, ports: [{ name: 'x', port: 1 }] } } as Service);
    await new KubeDnsRegistrar(client, { clusterIP: '10.96.0.10', address: '10.250.0.1', port: 1053, identity: 'a' }).reconcileOnce();
    const svc = await get<Service>(client, 'Service', 'v1', 'kube-dns');
    expect(svc.spec?.selector).toBeUndefined();
    expect(svc.spec?.ports?.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['dns', 53, 1053],
      ['dns-tcp', 53, 1053],
    ]);
  });

  it('stops within its deadline when the apiserver stops answering: the round in flight and the leaving are given up', async () => {
    const hung: Unanswered = { calls: 0, givenUp: 0 };
    const client = unansweredResource(new FakeApiClient(), 'leases', ['get', 'create', 'update', 'delete', 'list'], hung);
    const r = new KubeDnsRegistrar(client, { clusterIP: '10.96.0.10', address: '10.250.0.1', port: 53, identity: 'a' });
    // Without a deadline on the registrar's requests, this never returns.
    await stopWithRequestsInFlight(hung, (signal) => r.run(signal));
    expect(hung.givenUp).toBe(hung.calls);
  });
});
