import type { Endpoints, Pod, Service } from '@flotilla/api';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunning, fakeCluster, pod, service, type FakeCluster } from '../fixtures.js';
import { computeSubsets, EndpointsController } from './endpoints-controller.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

async function setup(objects: Parameters<typeof fakeCluster>[0]) {
  cluster = fakeCluster(objects);
  const c = new EndpointsController({ ...cluster.deps });
  await cluster.sync();
  return { cluster, c };
}

const withPorts = (p: Pod, ports: Array<{ name: string; containerPort: number }>): Pod => ({
  ...p,
  spec: { ...p.spec!, containers: [{ name: 'c', image: 'x', ports }] },
});

describe('computeSubsets', () => {
  it('splits ready and not-ready pods and leaves out pods without IP, terminating or finished', () => {
    const svc = service('web', { app: 'web' });
    const pods = [
      pod('b', { ip: '10.0.0.2', node: 'n1' }),
      pod('a', { ip: '10.0.0.1', node: 'n2' }),
      pod('slow', { ip: '10.0.0.3', ready: false }),
      pod('noip', {}),
      pod('going', { ip: '10.0.0.4', meta: { deletionTimestamp: '2024-01-01T00:00:00Z' } }),
      { ...pod('done', { ip: '10.0.0.5' }), status: { phase: 'Succeeded', podIP: '10.0.0.5' } } as Pod,
    ];
    for (const [i, p] of pods.entries()) p.metadata.uid = `uid-${i}`;
    expect(computeSubsets(svc, pods)).toEqual([
      {
        addresses: [
          { ip: '10.0.0.1', nodeName: 'n2', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-1' } },
          { ip: '10.0.0.2', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-0' } },
        ],
        notReadyAddresses: [{ ip: '10.0.0.3', targetRef: { kind: 'Pod', namespace: 'default', name: 'slow', uid: 'uid-2' } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
  });

  it('resolves named target ports per pod: different numbers, different subsets; pods without the name are left out', () => {
    const svc = service('web', { app: 'web' }, [{ name: 'http', port: 80, targetPort: 'web' }]);
    const pods = [
      withPorts(pod('a', { ip: '10.0.0.1' }), [{ name: 'web', containerPort: 8080 }]),
      withPorts(pod('b', { ip: '10.0.0.2' }), [{ name: 'web', containerPort: 9090 }]),
      withPorts(pod('c', { ip: '10.0.0.3' }), [{ name: 'other', containerPort: 7070 }]),
    ];
    const subsets = computeSubsets(svc, pods);
    expect(subsets.map((s) => ({ ips: s.addresses?.map((a) => a.ip), ports: s.ports }))).toEqual([
      { ips: ['10.0.0.1'], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      { ips: ['10.0.0.2'], ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
    ]);
  });

  it('defaults targetPort to the service port and publishes not-ready addresses when asked', () => {
    const svc = service('web', { app: 'web' }, [{ port: 80 }]);
    svc.spec!.publishNotReadyAddresses = true;
    const subsets = computeSubsets(svc, [pod('a', { ip: '10.0.0.1', ready: false })]);
    expect(subsets).toHaveLength(1);
    expect(subsets[0]!.addresses?.map((a) => a.ip)).toEqual(['10.0.0.1']);
    expect(subsets[0]!.notReadyAddresses).toBeUndefined();
    expect(subsets[0]!.ports).toEqual([{ port: 80, protocol: 'TCP' }]);
  });
});

describe('EndpointsController.sync', () => {
  it('creates the Endpoints of a selector Service, then writes nothing while nothing changes', async () => {
    const { cluster, c } = await setup([service('web', { app: 'web' }), pod('a', { ip: '10.0.0.1' }), pod('x', { ip: '10.0.0.9', labels: { app: 'db' } })]);
    await c.sync('default/web');
    expect(cluster.writes()).toEqual(['create endpoints default/web']);
    const ep = cluster.client.peek<Endpoints>('endpoints', 'default', 'web')!;
    expect(ep.subsets?.[0]?.addresses?.map((a) => a.targetRef?.name)).toEqual(['a']);
    await cluster.cached('endpoints', 'default/web');
    cluster.client.clearActions();
    await c.sync('default/web');
    expect(cluster.writes()).toEqual([]);
  });

  it('leaves Services without a selector (and their hand-made Endpoints) alone', async () => {
    const manual: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext', namespace: 'default' }, subsets: [{ addresses: [{ ip: '192.0.2.1' }], ports: [{ port: 5432 }] }] };
    const { cluster, c } = await setup([service('ext', undefined), manual, pod('a', { ip: '10.0.0.1' })]);
    await c.sync('default/ext');
    expect(cluster.writes()).toEqual([]);
  });

  it('deletes the Endpoints when the Service is gone', async () => {
    const stale: Endpoints = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets: [] };
    const { cluster, c } = await setup([stale]);
    await c.sync('default/web');
    expect(cluster.writes()).toEqual(['delete endpoints default/web']);
  });
});

describe('EndpointsController running', () => {
  it('follows pods as they come, change readiness and go', async () => {
    const { cluster, c } = await setup([service('web', { app: 'web' })]);
    const running = c.run(cluster.signal);
    const { client } = cluster;
    const pods = client.resource<Pod>('pods');
    const ep = () => client.peek<Endpoints>('endpoints', 'default', 'web');
    const ips = () => {
      const s = ep()?.subsets ?? [];
      return { ready: s.flatMap((x) => x.addresses ?? []).map((a) => a.ip), notReady: s.flatMap((x) => x.notReadyAddresses ?? []).map((a) => a.ip) };
    };
    await waitFor(() => ep(), { what: 'empty endpoints created' });
    expect(ep()!.subsets).toEqual([]);

    // As on a real server, a create starts the pod Pending: its IP and readiness come through /status.
    await createRunning(pods, pod('a', { ip: '10.0.0.1', ready: false }));
    await waitFor(() => ips().notReady.includes('10.0.0.1'), { what: 'a not ready' });
    expect(ips().ready).toEqual([]);

    const a = client.peek<Pod>('pods', 'default', 'a')!;
    a.status!.conditions = [{ type: 'Ready', status: 'True' }];
    await pods.updateStatus(a);
    await waitFor(() => ips().ready.includes('10.0.0.1'), { what: 'a ready' });
    expect(ips().notReady).toEqual([]);

    await createRunning(pods, pod('b', { ip: '10.0.0.2' }));
    await waitFor(() => ips().ready.length === 2, { what: 'b added' });

    // Relabelled out of the selector: gone from the endpoints.
    await pods.patch('default', 'b', { metadata: { labels: { app: 'other' } } });
    await waitFor(() => ips().ready.join() === '10.0.0.1', { what: 'b relabelled away' });

    await pods.delete('default', 'a');
    await waitFor(() => ips().ready.length === 0, { what: 'a deleted' });

    await client.resource<Service>('services').delete('default', 'web');
    await waitFor(() => !ep(), { what: 'endpoints deleted with the service' });
    cluster.stop();
    await running;
  });
});
