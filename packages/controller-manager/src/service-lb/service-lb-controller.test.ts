import { SERVICE_NAME_LABEL, type EndpointSlice, type Node, type Service } from '@flotilla/api';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, node, type FakeCluster } from '../fixtures.js';
import { desiredIngress, ServiceLBController } from './service-lb-controller.js';

const withIP = (n: Node, ip: string, ready = true): Node => ({
  ...n,
  status: { ...n.status, addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const lb = (name: string, spec: Partial<Service['spec']> = {}): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { type: 'LoadBalancer', clusterIP: '10.96.0.20', selector: { app: name }, ports: [{ name: 'http', port: 80, nodePort: 30080 }], externalTrafficPolicy: 'Cluster', ...spec },
});
const slice = (svc: string, nodes: string[]): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${svc}-x`, namespace: 'default', labels: { [SERVICE_NAME_LABEL]: svc } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: nodes.map((n, i) => ({ addresses: [`10.244.${i}.2`], nodeName: n, conditions: { ready: true } })),
});
const nodes = [withIP(node('n2'), '10.250.0.12'), withIP(node('n1'), '10.250.0.11'), withIP(node('n3'), '10.250.0.13', false)];

describe('desiredIngress', () => {
  it('Cluster: every Ready node, sorted by address; Local: only Ready nodes holding a ready endpoint', () => {
    expect(desiredIngress(lb('web'), nodes, [])).toEqual([{ ip: '10.250.0.11' }, { ip: '10.250.0.12' }]);
    expect(desiredIngress(lb('web', { externalTrafficPolicy: 'Local' }), nodes, [slice('web', ['n2', 'n3'])])).toEqual([{ ip: '10.250.0.12' }]);
    expect(desiredIngress(lb('web', { externalTrafficPolicy: 'Local' }), nodes, [])).toEqual([]);
  });
});

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

describe('ServiceLBController', () => {
  it('writes the ingress through /status, once; clears it when the type changes; leaves another loadBalancerClass alone', async () => {
    cluster = fakeCluster([...nodes, lb('web'), lb('other', { loadBalancerClass: 'example.com/lb' }), slice('web', ['n1'])]);
    const c = new ServiceLBController(cluster.deps);
    await cluster.sync();
    await c.sync('default/web');
    await c.sync('default/other');
    expect(cluster.writes()).toEqual(['update services/status default/web']);
    await cluster.cached<Service>('services', 'default/web', (s) => (s?.status?.loadBalancer?.ingress?.length ?? 0) === 2);
    await c.sync('default/web');
    expect(cluster.writes()).toHaveLength(1);
    const svc = cluster.client.peek<Service>('services', 'default', 'web')!;
    await cluster.client.resource<Service>('services').update({ ...svc, spec: { ...svc.spec, type: 'NodePort' } });
    await cluster.cached<Service>('services', 'default/web', (s) => s?.spec?.type === 'NodePort');
    await c.sync('default/web');
    expect(cluster.client.peek<Service>('services', 'default', 'web')!.status?.loadBalancer).toEqual({});
  });
});
