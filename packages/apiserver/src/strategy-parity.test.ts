/**
 * The fake client and the real REST path share each kind's strategy: the
 * same writes through both give the same generated names, generations,
 * statuses and subresource results. A difference here means a controller's
 * unit test (on the fake) would pass against behaviour the server does not have.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, Scale } from '@flotilla/api';
import { FakeApiClient } from '@flotilla/client/testing';
import { startTestApiServer, testDeployment, testPod, type TestApiServer } from './testing/index.js';

const NAME_SUFFIX = /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/;
const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';

/** What both paths must agree on (defaults and managedFields are the server's alone). */
function observed(o: KubeObject) {
  return { generation: o.metadata.generation, status: o.status, replicas: (o.spec as { replicas?: number } | undefined)?.replicas, labels: o.metadata.labels };
}

/** Server-owned metadata and a status a client must not be able to set on create. */
const forged = { uid: 'forged', resourceVersion: '42', generation: 7, creationTimestamp: '2000-01-01T00:00:00Z' };

describe('strategy parity: FakeApiClient vs the REST handlers', () => {
  let s: TestApiServer;
  let fake: FakeApiClient;

  beforeAll(async () => {
    s = await startTestApiServer();
    fake = new FakeApiClient();
  });
  afterAll(() => s.close());

  it('create: generateName, fresh uid, generation 1, status reset (a pod starts Pending, a Deployment with none)', async () => {
    const pod = testPod('', { metadata: { generateName: 'web-', labels: { app: 'web' }, ...forged }, status: { phase: 'Running' } });
    delete (pod.metadata as { name?: string }).name;
    const real = (await s.request('POST', PODS, pod)).body as KubeObject;
    const faked = await fake.resource('pods').create(structuredClone(pod));
    for (const o of [real, faked]) {
      expect(o.metadata.name).toMatch(NAME_SUFFIX);
      expect(o.metadata.uid).not.toBe('forged');
      expect(o.metadata.creationTimestamp).not.toBe(forged.creationTimestamp);
    }
    expect(observed(faked)).toEqual(observed(real));
    expect(real.status).toEqual({ phase: 'Pending' });

    const dep = { ...testDeployment('d'), status: { replicas: 9 } };
    dep.metadata = { ...dep.metadata, ...forged };
    const realDep = (await s.request('POST', DEPLOYS, dep)).body as KubeObject;
    const fakeDep = await fake.resource('deployments').create(structuredClone(dep));
    expect(observed(fakeDep)).toEqual(observed(realDep));
    expect(realDep.status).toBeUndefined();
  });

  it('update: status kept, generation moves on a spec change only', async () => {
    const deps = fake.resource('deployments');
    // Same status on both sides first, through /status.
    const realCur = (await s.request('GET', `${DEPLOYS}/d`)).body as KubeObject;
    const realWithStatus = (await s.request('PUT', `${DEPLOYS}/d/status`, { ...realCur, spec: { ...(realCur.spec as object), replicas: 50 }, status: { replicas: 1 } })).body as KubeObject;
    const fakeWithStatus = await deps.updateStatus({ ...(await deps.get('default', 'd')), spec: { ...((await deps.get('default', 'd')).spec as object), replicas: 50 }, status: { replicas: 1 } });
    expect(observed(fakeWithStatus)).toEqual(observed(realWithStatus));
    expect(observed(realWithStatus)).toMatchObject({ generation: 1, replicas: 2, status: { replicas: 1 } });

    // Labels only: generation stays; a status sent to the object is ignored.
    const relabel = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, labels: { team: 'a' } }, status: { replicas: 99 } });
    const realLabelled = (await s.request('PUT', `${DEPLOYS}/d`, relabel(realWithStatus))).body as KubeObject;
    const fakeLabelled = await deps.update(relabel(fakeWithStatus));
    expect(observed(fakeLabelled)).toEqual(observed(realLabelled));
    expect(observed(realLabelled)).toMatchObject({ generation: 1, status: { replicas: 1 } });

    // A spec change: generation 2.
    const rescale = (o: KubeObject) => ({ ...o, spec: { ...(o.spec as object), replicas: 4 } });
    const realScaled = (await s.request('PUT', `${DEPLOYS}/d`, rescale(realLabelled))).body as KubeObject;
    const fakeScaled = await deps.update(rescale(fakeLabelled));
    expect(observed(fakeScaled)).toEqual(observed(realScaled));
    expect(realScaled.metadata.generation).toBe(2);

    // A merge patch of the spec: generation 3 on both.
    const realPatched = (await s.request('PATCH', `${DEPLOYS}/d`, { spec: { replicas: 5 } }, { 'content-type': 'application/merge-patch+json' })).body as KubeObject;
    const fakePatched = await deps.patch('default', 'd', { spec: { replicas: 5 } }, 'merge');
    expect(observed(fakePatched)).toEqual(observed(realPatched));
    expect(realPatched.metadata.generation).toBe(3);
  });

  it('scale: the same Scale, and the same object after a scale write', async () => {
    const realScale = (await s.request('GET', `${DEPLOYS}/d/scale`)).body as Scale;
    const fakeScale = await fake.resource('deployments').getScale('default', 'd');
    const strip = (sc: Scale) => ({ ...sc, metadata: { name: sc.metadata.name, namespace: sc.metadata.namespace } });
    expect(strip(fakeScale)).toEqual(strip(realScale));
    const body = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'd', namespace: 'default' }, spec: { replicas: 7 } };
    const realAfter = (await s.request('PUT', `${DEPLOYS}/d/scale`, body)).body as Scale;
    const fakeAfter = await fake.resource('deployments').updateScale('default', 'd', body as Scale);
    expect(strip(fakeAfter)).toEqual(strip(realAfter));
    const real = (await s.request('GET', `${DEPLOYS}/d`)).body as KubeObject;
    expect(observed((await fake.resource('deployments').get('default', 'd')) as KubeObject)).toEqual(observed(real));
  });

  it('binding: nodeName, PodScheduled condition and a second bind refused, alike', async () => {
    await s.request('POST', PODS, testPod('b'));
    await fake.resource('pods').create(testPod('b'));
    const bind = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'b' }, target: { kind: 'Node', name: 'n1' } };
    expect((await s.request('POST', `${PODS}/b/binding`, bind)).status).toBe(201);
    await fake.bind('default', 'b', 'n1');
    const real = (await s.request('GET', `${PODS}/b`)).body as KubeObject;
    const faked = await fake.resource('pods').get('default', 'b');
    const shape = (o: KubeObject) => ({
      nodeName: (o.spec as { nodeName?: string }).nodeName,
      generation: o.metadata.generation,
      conditions: ((o.status as { conditions?: Array<Record<string, unknown>> }).conditions ?? []).map(({ lastTransitionTime: _t, ...c }) => c),
    });
    expect(shape(faked)).toEqual(shape(real));
    expect((await s.request('POST', `${PODS}/b/binding`, { ...bind, target: { kind: 'Node', name: 'n2' } })).status).toBe(409);
    await expect(fake.bind('default', 'b', 'n2')).rejects.toMatchObject({ reason: 'Conflict' });
  });

  it('delete with a finalizer: marked, generation moved once, then gone when the finalizer goes', async () => {
    const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, finalizers: ['example.com/hold'] }, data: { a: '1' } });
    await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('held'));
    await fake.resource('configmaps').create(cm('held'));
    await s.request('DELETE', '/api/v1/namespaces/default/configmaps/held');
    await fake.resource('configmaps').delete('default', 'held');
    const real = (await s.request('GET', '/api/v1/namespaces/default/configmaps/held')).body as KubeObject;
    const faked = await fake.resource('configmaps').get('default', 'held');
    for (const o of [real, faked]) {
      expect(o.metadata.deletionTimestamp).toBeDefined();
      expect(o.metadata.generation).toBe(2);
    }
    const release = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, finalizers: [] } });
    await s.request('PUT', '/api/v1/namespaces/default/configmaps/held', release(real));
    await fake.resource('configmaps').update(release(faked));
    expect((await s.request('GET', '/api/v1/namespaces/default/configmaps/held')).status).toBe(404);
    expect(fake.peek('configmaps', 'default', 'held')).toBeUndefined();
  });
});
