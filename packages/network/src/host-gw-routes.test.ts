import type { Node } from '@flotilla/api';
import { InformerFactory, silentLogger } from '@flotilla/client';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { Registry } from '@flotilla/observability';
import { afterEach, describe, expect, it } from 'vitest';
import { desiredRoutes, HostGatewayRoutes, planRoutes } from './host-gw-routes.js';
import { FakeRouteTable } from './testing/fake-route-table.js';

function node(name: string, podCIDR?: string, ip?: string): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
    status: ip ? { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } : {},
  };
}

describe('desiredRoutes', () => {
  it.each<{ name: string; nodes: Node[]; self?: string; want: string[] }>([
    { name: 'every other node with a range and an InternalIP', nodes: [node('a', '10.244.0.0/24', '10.250.0.11'), node('b', '10.244.1.0/24', '10.250.0.12'), node('c', '10.244.2.0/24', '10.250.0.13')], self: 'a', want: ['10.244.1.0/24>10.250.0.12', '10.244.2.0/24>10.250.0.13'] },
    { name: 'no self: every node (the control plane\'s machine)', nodes: [node('a', '10.244.0.0/24', '10.250.0.11'), node('b', '10.244.1.0/24', '10.250.0.12')], want: ['10.244.0.0/24>10.250.0.11', '10.244.1.0/24>10.250.0.12'] },
    { name: 'nodes without a range or an address are skipped', nodes: [node('a', undefined, '10.250.0.11'), node('b', '10.244.1.0/24'), node('c', '10.244.2.0/24', '10.250.0.13')], want: ['10.244.2.0/24>10.250.0.13'] },
    { name: 'a range two nodes claim goes to the first by name; our own range is never routed away', nodes: [node('z', '10.244.5.0/24', '10.250.0.19'), node('m', '10.244.5.0/24', '10.250.0.15'), node('self', '10.244.7.0/24', '10.250.0.11'), node('dup', '10.244.7.0/24', '10.250.0.12')], self: 'self', want: ['10.244.5.0/24>10.250.0.15'] },
  ])('$name', ({ nodes, self, want }) => {
    expect(desiredRoutes(nodes, self).map((r) => `${r.dst}>${r.via}`)).toEqual(want);
  });
});

describe('planRoutes', () => {
  it('replaces missing and changed routes, deletes unwanted ones, leaves equal ones', () => {
    const plan = planRoutes(
      [{ dst: '10.244.1.0/24', via: '10.250.0.12' }, { dst: '10.244.2.0/24', via: '10.250.0.99' }, { dst: '10.244.3.0/24', via: '10.250.0.14' }],
      [{ dst: '10.244.1.0/24', via: '10.250.0.12' }, { dst: '10.244.2.0/24', via: '10.250.0.13' }, { dst: '10.244.9.0/24', via: '10.250.0.19' }],
    );
    expect(plan).toEqual({ replace: [{ dst: '10.244.2.0/24', via: '10.250.0.99' }, { dst: '10.244.3.0/24', via: '10.250.0.14' }], remove: ['10.244.9.0/24'] });
  });
});

describe('HostGatewayRoutes', () => {
  let ac = new AbortController();
  afterEach(() => {
    ac.abort();
    ac = new AbortController();
  });

  it('follows nodes coming, changing and going, and counts what it did', async () => {
    const client = new FakeApiClient({ objects: [node('self', '10.244.0.0/24', '10.250.0.11'), node('b', '10.244.1.0/24', '10.250.0.12')] });
    const factory = new InformerFactory(client);
    const routes = new FakeRouteTable();
    routes.routes.set('10.244.66.0/24', '10.250.0.66'); // left by a node that vanished while we were down
    const registry = new Registry();
    const sync = new HostGatewayRoutes({ nodes: factory.informer<Node>('nodes'), nodeName: 'self', routes, logger: silentLogger, registry });
    factory.start(ac.signal);
    const running = sync.run(ac.signal);
    await waitFor(() => routes.routes.size === 1 && routes.routes.get('10.244.1.0/24') === '10.250.0.12', { what: 'route to b, stale one gone' });
    await client.resource<Node>('nodes').create(node('c', '10.244.2.0/24', '10.250.0.13'));
    await waitFor(() => routes.routes.get('10.244.2.0/24') === '10.250.0.13', { what: 'route to c' });
    const b = await client.resource<Node>('nodes').get(undefined, 'b');
    b.status!.addresses = [{ type: 'InternalIP', address: '10.250.0.22' }];
    await client.resource<Node>('nodes').updateStatus(b);
    await waitFor(() => routes.routes.get('10.244.1.0/24') === '10.250.0.22', { what: 'route to b via its new address' });
    await client.resource('nodes').delete(undefined, 'c');
    await waitFor(() => !routes.routes.has('10.244.2.0/24'), { what: 'route to c removed' });
    expect(routes.actions).toEqual(['replace 10.244.1.0/24 via 10.250.0.12', 'delete 10.244.66.0/24', 'replace 10.244.2.0/24 via 10.250.0.13', 'replace 10.244.1.0/24 via 10.250.0.22', 'delete 10.244.2.0/24']);
    expect(registry.render()).toMatch(/flotilla_network_routes_programmed 1/);
    ac.abort();
    await running;
  });

  it('a route the kernel refuses fails the sync (counted, retried) without holding up the others', async () => {
    const client = new FakeApiClient({ objects: [node('b', '10.244.1.0/24', '10.250.0.12'), node('c', '10.244.2.0/24', '192.0.2.1')] });
    const factory = new InformerFactory(client);
    const routes = new FakeRouteTable();
    routes.failing.add('10.244.2.0/24');
    const registry = new Registry();
    const sync = new HostGatewayRoutes({ nodes: factory.informer<Node>('nodes'), routes, logger: silentLogger, registry });
    factory.start(ac.signal);
    await factory.waitForSync(ac.signal);
    await expect(sync.sync()).rejects.toThrow(/10\.244\.2\.0\/24 via 192\.0\.2\.1/);
    expect(routes.routes.get('10.244.1.0/24')).toBe('10.250.0.12');
    expect(registry.render()).toMatch(/flotilla_network_route_sync_errors_total 1/);
  });
});
