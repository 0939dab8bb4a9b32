import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL, type EndpointSlice, type Endpoints } from '@flotilla/api';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, service, type FakeCluster } from '../fixtures.js';
import { EndpointSliceMirroringController, ENDPOINTSLICE_MIRRORING_CONTROLLER_NAME, mirroredGroups, SKIP_MIRROR_LABEL } from './endpointslice-mirroring-controller.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

const endpoints = (name: string, labels: Record<string, string> = {}): Endpoints => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name, namespace: 'default', labels, uid: `uid-ep-${name}` },
  subsets: [{ addresses: [{ ip: '192.0.2.1' }, { ip: '192.0.2.2', nodeName: 'n1' }], notReadyAddresses: [{ ip: '192.0.2.3' }], ports: [{ name: 'pg', port: 5432 }] }],
});

async function setup(objects: Parameters<typeof fakeCluster>[0]) {
  cluster = fakeCluster(objects);
  const c = new EndpointSliceMirroringController({ ...cluster.deps });
  await cluster.sync();
  return { cluster, c };
}
const slices = (cl: FakeCluster) => cl.client.list(cl.client.resource('endpointslices').resource, 'default', {}).items as EndpointSlice[];

describe('mirroredGroups', () => {
  it('one group per subset port list; addresses ready, notReadyAddresses not', () => {
    const g = [...mirroredGroups(endpoints('db')).values()];
    expect(g).toHaveLength(1);
    expect(g[0]!.ports).toEqual([{ name: 'pg', port: 5432, protocol: 'TCP' }]);
    expect(g[0]!.endpoints.map((e) => [e.addresses[0], e.conditions?.ready])).toEqual([['192.0.2.1', true], ['192.0.2.2', true], ['192.0.2.3', false]]);
  });
});

describe('EndpointSliceMirroringController.sync', () => {
  const cases = [
    { name: 'mirrors the Endpoints of a Service without a selector', objects: () => [service('db', undefined), endpoints('db')], want: 1 },
    { name: 'leaves a selector Service to the EndpointSlice controller', objects: () => [service('db', { app: 'db' }), endpoints('db')], want: 0 },
    { name: 'skips Endpoints labelled skip-mirror', objects: () => [service('db', undefined), endpoints('db', { [SKIP_MIRROR_LABEL]: 'true' })], want: 0 },
    { name: 'mirrors nothing without a Service', objects: () => [endpoints('db')], want: 0 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { cluster, c: ctl } = await setup(c.objects());
      await ctl.sync('default/db');
      const got = slices(cluster);
      expect(got).toHaveLength(c.want);
      if (c.want) {
        expect(got[0]!.metadata.labels).toMatchObject({ [SERVICE_NAME_LABEL]: 'db', [MANAGED_BY_LABEL]: ENDPOINTSLICE_MIRRORING_CONTROLLER_NAME });
        expect(got[0]!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Endpoints', name: 'db' });
        // Nothing changes: nothing is written.
        await cluster.cached('endpointslices', `default/${got[0]!.metadata.name}`);
        cluster.client.clearActions();
        await ctl.sync('default/db');
        expect(cluster.writes()).toEqual([]);
      }
    });
  }
});
