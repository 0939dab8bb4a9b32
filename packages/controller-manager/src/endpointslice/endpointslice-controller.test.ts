import { ENDPOINTSLICE_CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, type EndpointSlice, type Pod, type Service } from '@flotilla/api';
import { waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createRunning, fakeCluster, pod, service, type FakeCluster } from '../fixtures.js';
import { desiredEndpoints, EndpointSliceController, planSlices } from './endpointslice-controller.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

const svc = (name = 'web', ports?: Parameters<typeof service>[2]): Service => {
  const s = service(name, { app: 'web' }, ports);
  s.metadata.uid = `uid-${name}`;
  return s;
};
const withPorts = (p: Pod, ports: Array<{ name: string; containerPort: number }>): Pod => ({ ...p, spec: { ...p.spec!, containers: [{ name: 'c', image: 'x', ports }] } });
const uid = (p: Pod): Pod => ({ ...p, metadata: { ...p.metadata, uid: `uid-${p.metadata.name}` } });
const managed = (name: string, ports: EndpointSlice['ports'], endpoints: EndpointSlice['endpoints'], svcName = 'web'): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name,
    namespace: 'default',
    labels: { [SERVICE_NAME_LABEL]: svcName, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER_NAME },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svcName, uid: `uid-${svcName}`, controller: true, blockOwnerDeletion: true }],
  },
  addressType: 'IPv4',
  ports,
  endpoints,
});
const ips = (slices: EndpointSlice[]) => slices.map((s) => s.endpoints.map((e) => e.addresses[0]));

describe('desiredEndpoints', () => {
  const cases: Array<{ name: string; pod: Pod; svc?: Service; want: unknown }> = [
    { name: 'ready pod', pod: pod('a', { ip: '10.0.0.1', node: 'n1' }), want: { ready: true, serving: true, terminating: false } },
    { name: 'not ready pod', pod: pod('a', { ip: '10.0.0.1', ready: false }), want: { ready: false, serving: false, terminating: false } },
    { name: 'ready and terminating', pod: pod('a', { ip: '10.0.0.1', meta: { deletionTimestamp: '2024-01-01T00:00:00Z' } }), want: { ready: false, serving: true, terminating: true } },
    { name: 'not ready and terminating', pod: pod('a', { ip: '10.0.0.1', ready: false, meta: { deletionTimestamp: '2024-01-01T00:00:00Z' } }), want: { ready: false, serving: false, terminating: true } },
    {
      name: 'publishNotReadyAddresses: always ready',
      pod: pod('a', { ip: '10.0.0.1', ready: false, meta: { deletionTimestamp: '2024-01-01T00:00:00Z' } }),
      svc: { ...svc(), spec: { ...svc().spec, publishNotReadyAddresses: true } },
      want: { ready: true, serving: true, terminating: true },
    },
    { name: 'no IP: left out', pod: pod('a', {}), want: undefined },
    { name: 'finished: left out', pod: { ...pod('a', { ip: '10.0.0.1' }), status: { phase: 'Failed', podIP: '10.0.0.1' } }, want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { groups } = desiredEndpoints(c.svc ?? svc(), [c.pod]);
      const eps = [...groups.values()].flatMap((g) => g.endpoints);
      expect(eps[0]?.conditions).toEqual(c.want);
    });
  }

  it('sets nodeName, targetRef, and hostname only when the subdomain names the Service', () => {
    const a = uid(pod('a', { ip: '10.0.0.1', node: 'n1', spec: { hostname: 'h-a', subdomain: 'web' } }));
    const b = uid(pod('b', { ip: '10.0.0.2', spec: { hostname: 'h-b', subdomain: 'other' } }));
    const eps = [...desiredEndpoints(svc(), [a, b]).groups.values()].flatMap((g) => g.endpoints);
    expect(eps[0]).toEqual({ addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', hostname: 'h-a', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } });
    expect(eps[1]!.hostname).toBeUndefined();
  });

  it('resolves named target ports per pod and reports names no container declares', () => {
    const s = svc('web', [{ name: 'http', port: 80, targetPort: 'web' }]);
    const { groups, unresolved } = desiredEndpoints(s, [
      withPorts(pod('a', { ip: '10.0.0.1' }), [{ name: 'web', containerPort: 8080 }]),
      withPorts(pod('b', { ip: '10.0.0.2' }), [{ name: 'web', containerPort: 9090 }]),
      withPorts(pod('c', { ip: '10.0.0.3' }), [{ name: 'web', containerPort: 8080 }]),
      withPorts(pod('d', { ip: '10.0.0.4' }), [{ name: 'other', containerPort: 7070 }]),
    ]);
    expect([...groups.values()].map((g) => ({ ports: g.ports, ips: g.endpoints.map((e) => e.addresses[0]) }))).toEqual([
      { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], ips: ['10.0.0.1', '10.0.0.3'] },
      { ports: [{ name: 'http', port: 9090, protocol: 'TCP' }], ips: ['10.0.0.2'] },
      { ports: [], ips: ['10.0.0.4'] },
    ]);
    expect(unresolved).toEqual([{ pod: 'd', port: 'web' }]);
  });
});

describe('planSlices', () => {
  const s = svc();
  const port = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
  const pods = (n: number) => Array.from({ length: n }, (_, i) => uid(pod(`p${i}`, { ip: `10.0.0.${i + 1}` })));
  const desired = (ps: Pod[]) => desiredEndpoints(s, ps).groups;
  const ep = (p: Pod) => [...desired([p]).values()][0]!.endpoints[0]!;

  it('splits into slices of at most max endpoints, labelled and owned by the Service', () => {
    const plan = planSlices(s, desired(pods(5)), [], 2);
    expect(ips(plan.create)).toEqual([['10.0.0.1', '10.0.0.2'], ['10.0.0.3', '10.0.0.4'], ['10.0.0.5']]);
    expect(plan.create[0]!.metadata).toMatchObject({
      generateName: 'web-',
      labels: { [SERVICE_NAME_LABEL]: 'web', [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER_NAME },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }],
    });
    expect(plan.create[0]!.ports).toEqual(port);
  });

  it('writes nothing when the slices already match', () => {
    const first = planSlices(s, desired(pods(3)), [], 100).create[0]!;
    const existing = { ...first, metadata: { ...first.metadata, name: 'web-abc' } };
    expect(planSlices(s, desired(pods(3)), [existing], 100)).toEqual({ create: [], update: [], delete: [] });
  });

  it('keeps endpoints in their slice: one pod changing rewrites only its slice; a new pod fills free room', () => {
    const ps = pods(4);
    const e = ps.map(ep);
    const a = managed('web-a', port, [e[0]!, e[1]!]);
    const b = managed('web-b', port, [e[2]!]);
    const plan1 = planSlices(s, desired([ps[0]!, ps[1]!, uid(pod('p2', { ip: '10.0.0.3', ready: false }))]), [a, b], 2);
    expect(plan1.create).toEqual([]);
    expect(plan1.delete).toEqual([]);
    expect(plan1.update.map((u) => u.metadata.name)).toEqual(['web-b']);
    const plan2 = planSlices(s, desired(ps), [a, b], 2);
    expect(plan2.update.map((u) => [u.metadata.name, u.endpoints.map((x) => x.addresses[0])])).toEqual([['web-b', ['10.0.0.3', '10.0.0.4']]]);
    expect(plan2.create).toEqual([]);
  });

  it('deletes slices left empty or with a port list no pod has any more', () => {
    const e = pods(2).map(ep);
    const a = managed('web-a', port, [e[0]!]);
    const b = managed('web-b', port, [e[1]!]);
    const old = managed('web-old', [{ name: 'http', port: 9999, protocol: 'TCP' }], [e[1]!]);
    const plan = planSlices(s, desired(pods(1)), [a, b, old], 100);
    expect(plan.delete.map((d) => d.metadata.name).sort()).toEqual(['web-b', 'web-old']);
    expect(plan.update).toEqual([]);
  });

  it('keeps one empty slice for a Service with no endpoints', () => {
    expect(planSlices(s, new Map(), [], 100).create.map((c) => c.endpoints)).toEqual([[]]);
    const e = pods(1).map(ep);
    const plan = planSlices(s, new Map(), [managed('web-a', port, [e[0]!])], 100);
    expect(plan.delete).toEqual([]);
    expect(plan.update.map((u) => [u.metadata.name, u.endpoints, u.ports])).toEqual([['web-a', [], []]]);
  });
});

async function setup(objects: Parameters<typeof fakeCluster>[0], max?: number) {
  cluster = fakeCluster(objects);
  const c = new EndpointSliceController({ ...cluster.deps, maxEndpointsPerSlice: max });
  await cluster.sync();
  return { cluster, c };
}
const slicesOf = (cl: FakeCluster, name = 'web') => (cl.client.list(cl.client.resource('endpointslices').resource, 'default', {}).items as EndpointSlice[]).filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === name);

describe('EndpointSliceController.sync', () => {
  it('creates the slices of a selector Service, then writes nothing while nothing changes', async () => {
    const { cluster, c } = await setup([svc(), uid(pod('a', { ip: '10.0.0.1' })), uid(pod('b', { ip: '10.0.0.2' })), uid(pod('x', { ip: '10.0.0.9', labels: { app: 'db' } }))]);
    await c.sync('default/web');
    expect(cluster.writes()).toEqual(['create endpointslices default/']);
    expect(ips(slicesOf(cluster))).toEqual([['10.0.0.1', '10.0.0.2']]);
    const name = slicesOf(cluster)[0]!.metadata.name!;
    await cluster.cached('endpointslices', `default/${name}`);
    cluster.client.clearActions();
    await c.sync('default/web');
    expect(cluster.writes()).toEqual([]);
  });

  it('leaves Services without a selector and their user-made slices alone', async () => {
    const mine = managed('ext-1', [{ port: 5432 }], [{ addresses: ['192.0.2.1'] }], 'ext');
    delete mine.metadata.labels![MANAGED_BY_LABEL];
    const { cluster, c } = await setup([service('ext', undefined), mine, uid(pod('a', { ip: '10.0.0.1' }))]);
    await c.sync('default/ext');
    expect(cluster.writes()).toEqual([]);
  });

  it('deletes its slices (not the user’s) when the Service is gone', async () => {
    const ours = managed('web-1', [], []);
    const theirs = managed('web-2', [], []);
    theirs.metadata.labels![MANAGED_BY_LABEL] = 'someone-else';
    const { cluster, c } = await setup([ours, theirs]);
    await c.sync('default/web');
    expect(cluster.writes()).toEqual(['delete endpointslices default/web-1']);
  });

  it('records a Warning Event for a targetPort name no container declares', async () => {
    const { cluster, c } = await setup([svc('web', [{ name: 'http', port: 80, targetPort: 'nope' }]), uid(pod('a', { ip: '10.0.0.1' }))]);
    await c.sync('default/web');
    await cluster.recorder.flush();
    const events = (cluster.client.list(cluster.client.resource('events').resource, 'default', {}).items as unknown as Array<{ reason: string }>);
    expect(events.map((e) => e.reason)).toContain('FailedToResolvePort');
  });
});

describe('EndpointSliceController running', () => {
  it('follows pods through readiness and termination, splitting at the maximum', async () => {
    const { cluster, c } = await setup([svc()], 2);
    const running = c.run(cluster.signal);
    const pods = cluster.client.resource<Pod>('pods');
    const conds = () =>
      Object.fromEntries(
        slicesOf(cluster)
          .flatMap((s) => s.endpoints)
          .map((e) => [e.targetRef!.name, `${e.conditions?.ready}/${e.conditions?.serving}/${e.conditions?.terminating}`]),
      );
    await waitFor(() => slicesOf(cluster).length === 1, { what: 'empty slice' });
    // b holds a finalizer, so deleting it leaves it terminating.
    // As on a real server, a create starts the pod Pending: its IP and readiness come through /status.
    for (const n of ['a', 'b', 'c']) await createRunning(pods, pod(n, { ip: `10.0.0.${n.charCodeAt(0) - 96}`, node: 'n1', meta: n === 'b' ? { finalizers: ['test/hold'] } : {} }));
    await waitFor(() => Object.keys(conds()).length === 3, { what: 'three endpoints' });
    expect(slicesOf(cluster).map((s) => s.endpoints.length).sort()).toEqual([1, 2]);

    const a = cluster.client.peek<Pod>('pods', 'default', 'a')!;
    a.status!.conditions = [{ type: 'Ready', status: 'False' }];
    await pods.updateStatus(a);
    await waitFor(() => conds().a === 'false/false/false', { what: 'a unready' });

    await pods.delete('default', 'b');
    await waitFor(() => conds().b === 'false/true/true', { what: 'b terminating' });
    const b = cluster.client.peek<Pod>('pods', 'default', 'b')!;
    await pods.update({ ...b, metadata: { ...b.metadata, finalizers: [] } });
    await pods.delete('default', 'a');
    await waitFor(() => JSON.stringify(Object.keys(conds())) === '["c"]', { what: 'only c left' });
    expect(slicesOf(cluster)).toHaveLength(1);
    cluster.stop();
    await running;
  });
});
