import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RESOURCES } from '@flotilla/api';
import type { ResourceInfo } from '@flotilla/api';
import { fakeAuthorizer, startTestApiServer, testDeployment, testPod, tokenAuthenticator, type TestApiServer } from './testing/index.js';

const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';

let s: TestApiServer;
beforeEach(async () => {
  s = await startTestApiServer();
});
afterEach(async () => {
  await s.close();
});

function expectStatus(body: any, code: number, reason: string) {
  expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason });
}

describe('CRUD', () => {
  it('creates, gets, lists, updates and deletes a pod', async () => {
    const c = await s.request('POST', PODS, testPod('web'));
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web', namespace: 'default' }, status: { phase: 'Pending' } });
    expect(c.body.metadata.uid).toBeTruthy();
    expect(c.body.metadata.resourceVersion).toBeTruthy();

    const g = await s.request('GET', `${PODS}/web`);
    expect(g.status).toBe(200);
    expect(g.body.metadata.uid).toBe(c.body.metadata.uid);

    const l = await s.request('GET', PODS);
    expect(l.body).toMatchObject({ kind: 'PodList', apiVersion: 'v1' });
    expect(l.body.metadata.resourceVersion).toBeTruthy();
    expect(l.body.items.map((p: any) => [p.kind, p.metadata.name])).toEqual([['Pod', 'web']]);

    const all = await s.request('GET', '/api/v1/pods');
    expect(all.body.items).toHaveLength(1);

    const obj = g.body;
    obj.metadata.labels = { app: 'web', tier: 'front' };
    const u = await s.request('PUT', `${PODS}/web`, obj);
    expect(u.status).toBe(200);
    expect(u.body.metadata.labels.tier).toBe('front');

    const stale = await s.request('PUT', `${PODS}/web`, obj);
    expect(stale.status).toBe(409);
    expectStatus(stale.body, 409, 'Conflict');

    // No resourceVersion: unconditional.
    delete obj.metadata.resourceVersion;
    obj.metadata.labels = { app: 'x' };
    const un = await s.request('PUT', `${PODS}/web`, obj);
    expect(un.status).toBe(200);
    expect(un.body.metadata.labels).toEqual({ app: 'x' });

    const d = await s.request('DELETE', `${PODS}/web`);
    expect(d.status).toBe(200);
    expect(d.body.metadata.name).toBe('web');
    const gone = await s.request('GET', `${PODS}/web`);
    expect(gone.status).toBe(404);
    expectStatus(gone.body, 404, 'NotFound');
  });

  it('accepts YAML and fills in a missing apiVersion and kind', async () => {
    const yaml = 'metadata:\n  name: y\nspec:\n  containers:\n  - name: c\n    image: i\n';
    const r = await s.request('POST', PODS, yaml, { 'content-type': 'application/yaml' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'y' } });
  });

  it('serves cluster-scoped resources and named groups', async () => {
    const n = await s.request('POST', '/api/v1/nodes', { metadata: { name: 'n1' } });
    expect(n.status).toBe(201);
    expect(n.body.metadata.namespace).toBeUndefined();
    expect((await s.request('GET', '/api/v1/nodes/n1')).status).toBe(200);
    const d = await s.request('POST', DEPLOYS, testDeployment('d'));
    expect(d.status).toBe(201);
    expect(d.body).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment' });
    expect((await s.request('GET', '/apis/apps/v1/deployments')).body.items).toHaveLength(1);
  });

  it('generates names from generateName', async () => {
    const r = await s.request('POST', PODS, { ...testPod(''), metadata: { generateName: 'web-' } });
    expect(r.status).toBe(201);
    expect(r.body.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
  });

  it('rejects a second create with AlreadyExists', async () => {
    await s.request('POST', PODS, testPod('a'));
    const r = await s.request('POST', PODS, testPod('a'));
    expect(r.status).toBe(409);
    expectStatus(r.body, 409, 'AlreadyExists');
  });
});

describe('request errors', () => {
  it('400 for malformed JSON and YAML, wrong kind, namespace or name mismatch', async () => {
    expectStatus((await s.request('POST', PODS, '{"metadata":')).body, 400, 'BadRequest');
    expectStatus((await s.request('POST', PODS, 'a: [', { 'content-type': 'application/yaml' })).body, 400, 'BadRequest');
    expectStatus((await s.request('POST', PODS, '[1,2]')).body, 400, 'BadRequest');
    expectStatus((await s.request('POST', PODS, { ...testPod('p'), kind: 'Service' })).body, 400, 'BadRequest');
    expectStatus((await s.request('POST', PODS, { ...testPod('p'), apiVersion: 'apps/v1' })).body, 400, 'BadRequest');
    const p = testPod('p');
    p.metadata.namespace = 'other';
    expectStatus((await s.request('POST', PODS, p)).body, 400, 'BadRequest');
    await s.request('POST', PODS, testPod('q'));
    expectStatus((await s.request('PUT', `${PODS}/q`, testPod('zz'))).body, 400, 'BadRequest');
    expect((await s.request('GET', PODS)).body.items.map((x: any) => x.metadata.name)).toEqual(['q']);
  });

  it('413 for bodies over the limit', async () => {
    const r = await s.request('POST', PODS, JSON.stringify({ ...testPod('big'), data: 'x'.repeat(1.6 * 1024 * 1024) }));
    expect(r.status).toBe(413);
    expectStatus(r.body, 413, 'RequestEntityTooLarge');
  });

  it('415 for unknown media types and for a PATCH without a patch type', async () => {
    expect((await s.request('POST', PODS, 'x', { 'content-type': 'text/plain' })).status).toBe(415);
    await s.request('POST', PODS, testPod('a'));
    expect((await s.request('PATCH', `${PODS}/a`, '{}', { 'content-type': 'application/json' })).status).toBe(415);
  });

  it('404 for unknown resources, paths and subresources; 405 for wrong methods', async () => {
    expectStatus((await s.request('GET', '/api/v1/widgets')).body, 404, 'NotFound');
    expectStatus((await s.request('GET', '/apis/nope/v1/things')).body, 404, 'NotFound');
    expectStatus((await s.request('GET', '/nothing/here')).body, 404, 'NotFound');
    expectStatus((await s.request('GET', `${PODS}/a/scale`)).body, 404, 'NotFound');
    expectStatus((await s.request('GET', '/api/v1/namespaces/default/nodes/n')).body, 404, 'NotFound');
    expectStatus((await s.request('POST', `${PODS}/a`, testPod('a'))).body, 405, 'MethodNotAllowed');
    expectStatus((await s.request('GET', `${PODS}/a/b/c`)).body, 404, 'NotFound');
  });

  it('422 with the field path of every cause', async () => {
    const pods = RESOURCES.find((r) => r.plural === 'pods')!;
    const strict: ResourceInfo = {
      ...pods,
      validate: (o) => {
        const errs = [];
        const cs = (o.spec as any)?.containers;
        if (!Array.isArray(cs) || cs.length === 0) errs.push({ type: 'FieldValueRequired' as const, field: 'spec.containers', message: 'Required value' });
        else cs.forEach((c: any, i: number) => !c.image && errs.push({ type: 'FieldValueRequired' as const, field: `spec.containers[${i}].image`, message: 'Required value' }));
        if (o.metadata.labels?.bad) errs.push({ type: 'FieldValueInvalid' as const, field: 'metadata.labels', message: 'bad label' });
        return errs;
      },
    };
    const t = await startTestApiServer({ resources: RESOURCES.map((r) => (r === pods ? strict : r)) });
    try {
      const r = await t.request('POST', PODS, { metadata: { name: 'x', labels: { bad: 'y' } }, spec: { containers: [{ name: 'a' }, { name: 'b', image: 'i' }, { name: 'c' }] } });
      expect(r.status).toBe(422);
      expectStatus(r.body, 422, 'Invalid');
      expect(r.body.details.causes.map((c: any) => c.field)).toEqual(['spec.containers[0].image', 'spec.containers[2].image', 'metadata.labels']);
      expect((await t.request('GET', PODS)).body.items).toHaveLength(0);
    } finally {
      await t.close();
    }
  });

  it('a create in a missing namespace is 404, in a terminating one 403', async () => {
    const r = await s.request('POST', '/api/v1/namespaces/nope/pods', testPod('a'));
    expect(r.status).toBe(404);
    expect(r.body.message).toContain('namespaces "nope" not found');
    await s.request('POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } });
    const d = await s.request('DELETE', '/api/v1/namespaces/doomed');
    expect(d.status).toBe(200);
    expect(d.body.status.phase).toBe('Terminating');
    expect(d.body.metadata.finalizers).toContain('kubernetes');
    const f = await s.request('POST', '/api/v1/namespaces/doomed/pods', testPod('a'));
    expect(f.status).toBe(403);
    expectStatus(f.body, 403, 'Forbidden');
  });

  it('creates the system namespaces once, even when several servers start', async () => {
    const t = await startTestApiServer({ storage: s.storage });
    await t.close();
    const names = (await s.request('GET', '/api/v1/namespaces')).body.items.map((n: any) => n.metadata.name).sort();
    expect(names).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
  });
});

describe('status, scale and binding subresources', () => {
  it('main-resource writes keep status; /status writes only status', async () => {
    const c = (await s.request('POST', DEPLOYS, testDeployment('d'))).body;
    expect(c.status).toBeUndefined();
    const st = await s.request('PUT', `${DEPLOYS}/d/status`, { ...c, spec: { ...c.spec, replicas: 9 }, status: { replicas: 2, readyReplicas: 1 } });
    expect(st.status).toBe(200);
    expect(st.body.status).toEqual({ replicas: 2, readyReplicas: 1 });
    expect(st.body.spec.replicas).toBe(2);
    const main = await s.request('PUT', `${DEPLOYS}/d`, { ...st.body, spec: { ...st.body.spec, replicas: 3 }, status: { replicas: 100 } });
    expect(main.body.spec.replicas).toBe(3);
    expect(main.body.status).toEqual({ replicas: 2, readyReplicas: 1 });
    expect(main.body.metadata.generation).toBe(2);
    const p = await s.request('PATCH', `${DEPLOYS}/d/status`, { status: { readyReplicas: 2 } }, { 'content-type': 'application/merge-patch+json' });
    expect(p.body.status).toEqual({ replicas: 2, readyReplicas: 2 });
    expect((await s.request('GET', `${DEPLOYS}/d/status`)).body.status.readyReplicas).toBe(2);
  });

  it('scale: GET, PUT, PATCH on deployments and replicasets', async () => {
    await s.request('POST', DEPLOYS, testDeployment('d', 2));
    const g = await s.request('GET', `${DEPLOYS}/d/scale`);
    expect(g.body).toMatchObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'd', namespace: 'default' }, spec: { replicas: 2 }, status: { replicas: 0, selector: 'app=d' } });
    const p = await s.request('PATCH', `${DEPLOYS}/d/scale`, { spec: { replicas: 5 } }, { 'content-type': 'application/merge-patch+json' });
    expect(p.status).toBe(200);
    expect(p.body.spec.replicas).toBe(5);
    expect((await s.request('GET', `${DEPLOYS}/d`)).body.spec.replicas).toBe(5);
    const u = await s.request('PUT', `${DEPLOYS}/d/scale`, { ...p.body, spec: { replicas: 1 } });
    expect(u.body.spec.replicas).toBe(1);
    expect((await s.request('PUT', `${DEPLOYS}/d/scale`, { ...p.body, spec: { replicas: 4 } })).status).toBe(409);
    const bad = await s.request('PUT', `${DEPLOYS}/d/scale`, { spec: { replicas: -1 } });
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes[0].field).toBe('spec.replicas');
    const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r' }, spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
    expect((await s.request('POST', '/apis/apps/v1/namespaces/default/replicasets', rs)).status).toBe(201);
    expect((await s.request('GET', '/apis/apps/v1/namespaces/default/replicasets/r/scale')).body.spec.replicas).toBe(1);
  });

  it('binding sets nodeName once and adds PodScheduled', async () => {
    await s.request('POST', PODS, testPod('p'));
    const b = await s.request('POST', `${PODS}/p/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n1' } });
    expect(b.status).toBe(201);
    expect(b.body).toMatchObject({ kind: 'Status', status: 'Success' });
    const pod = (await s.request('GET', `${PODS}/p`)).body;
    expect(pod.spec.nodeName).toBe('n1');
    expect(pod.status.conditions).toContainEqual(expect.objectContaining({ type: 'PodScheduled', status: 'True' }));
    const again = await s.request('POST', `${PODS}/p/binding`, { target: { name: 'n2' } });
    expect(again.status).toBe(409);
    expect((await s.request('GET', `${PODS}/p`)).body.spec.nodeName).toBe('n1');
    // The legacy bindings collection.
    await s.request('POST', PODS, testPod('q'));
    expect((await s.request('POST', '/api/v1/namespaces/default/bindings', { metadata: { name: 'q' }, target: { name: 'n2' } })).status).toBe(201);
    expect((await s.request('GET', `${PODS}/q`)).body.spec.nodeName).toBe('n2');
    const noTarget = await s.request('POST', `${PODS}/q/binding`, { metadata: { name: 'q' } });
    expect(noTarget.status).toBe(422);
    expect(noTarget.body.details.causes[0].field).toBe('target');
    expect((await s.request('POST', `${PODS}/missing/binding`, { target: { name: 'n' } })).status).toBe(404);
  });

  it('pods/log answers 404 Status until a handler is plugged in, then the handler', async () => {
    await s.request('POST', PODS, testPod('p'));
    expectStatus((await s.request('GET', `${PODS}/p/log`)).body, 404, 'NotFound');
    const t = await startTestApiServer({
      podLogHandler: async (target, _req, reply) => {
        await reply.type('text/plain').send(`logs of ${target.namespace}/${target.name} tail=${target.query.tailLines}`);
      },
    });
    try {
      const r = await t.request('GET', `${PODS}/p/log?tailLines=5`);
      expect(r.body).toBe('logs of default/p tail=5');
    } finally {
      await t.close();
    }
  });
});

describe('delete', () => {
  it('deletes bound pods gracefully, unbound and grace-0 pods at once', async () => {
    await s.request('POST', PODS, testPod('unbound'));
    const d1 = await s.request('DELETE', `${PODS}/unbound`);
    expect(d1.status).toBe(200);
    expect((await s.request('GET', `${PODS}/unbound`)).status).toBe(404);

    await s.request('POST', PODS, { ...testPod('bound'), spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] } });
    const d2 = await s.request('DELETE', `${PODS}/bound`);
    expect(d2.status).toBe(200);
    expect(d2.body.metadata.deletionTimestamp).toBeTruthy();
    expect(d2.body.metadata.deletionGracePeriodSeconds).toBe(30);
    expect((await s.request('GET', `${PODS}/bound`)).status).toBe(200);
    // The agent finishes with grace 0.
    const d3 = await s.request('DELETE', `${PODS}/bound`, { gracePeriodSeconds: 0 });
    expect(d3.status).toBe(200);
    expect((await s.request('GET', `${PODS}/bound`)).status).toBe(404);

    await s.request('POST', PODS, { ...testPod('q'), spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] } });
    const d4 = await s.request('DELETE', `${PODS}/q?gracePeriodSeconds=5`);
    expect(d4.body.metadata.deletionGracePeriodSeconds).toBe(5);
  });

  it('returns a Success Status for other kinds; honours preconditions and propagation', async () => {
    const d = (await s.request('POST', DEPLOYS, testDeployment('d'))).body;
    const pre = await s.request('DELETE', `${DEPLOYS}/d`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'other' } });
    expect(pre.status).toBe(409);
    const fg = await s.request('DELETE', `${DEPLOYS}/d`, { propagationPolicy: 'Foreground' });
    expect(fg.status).toBe(200);
    expect(fg.body.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(fg.body.metadata.deletionTimestamp).toBeTruthy();
    await s.request('POST', DEPLOYS, testDeployment('o'));
    const or = await s.request('DELETE', `${DEPLOYS}/o?propagationPolicy=Orphan`);
    expect(or.body.metadata.finalizers).toEqual(['orphan']);
    await s.request('POST', DEPLOYS, testDeployment('b'));
    const bg = await s.request('DELETE', `${DEPLOYS}/b`, { propagationPolicy: 'Background', preconditions: { uid: (await s.request('GET', `${DEPLOYS}/o`)).body.metadata.uid } });
    expect(bg.status).toBe(409);
    const ok = await s.request('DELETE', `${DEPLOYS}/b?propagationPolicy=Background`);
    expect(ok.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'b', group: 'apps', kind: 'deployments' } });
    expect((await s.request('DELETE', `${DEPLOYS}/b`)).status).toBe(404);
    const badPolicy = await s.request('DELETE', `${DEPLOYS}/o?propagationPolicy=Sideways`);
    expect(badPolicy.status).toBe(422);
    void d;
  });

  it('deletecollection with a label selector', async () => {
    await s.request('POST', PODS, testPod('a'));
    await s.request('POST', PODS, { ...testPod('b'), metadata: { name: 'b', labels: { app: 'db' } } });
    const r = await s.request('DELETE', `${PODS}?labelSelector=app%3Dweb`);
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('PodList');
    expect(r.body.items.map((p: any) => p.metadata.name)).toEqual(['a']);
    expect((await s.request('GET', PODS)).body.items.map((p: any) => p.metadata.name)).toEqual(['b']);
  });
});

describe('lists', () => {
  beforeEach(async () => {
    for (const [name, app] of [['a', 'web'], ['b', 'web'], ['c', 'db'], ['d', 'web']]) {
      await s.request('POST', PODS, { ...testPod(name!), metadata: { name, labels: { app } } });
    }
    await s.request('POST', `${PODS}/c/binding`, { target: { name: 'n1' } });
  });

  it('filters by label and field selectors', async () => {
    const names = async (q: string) => (await s.request('GET', `${PODS}?${q}`)).body.items.map((p: any) => p.metadata.name);
    expect(await names('labelSelector=app%3Dweb')).toEqual(['a', 'b', 'd']);
    expect(await names('labelSelector=app!%3Dweb')).toEqual(['c']);
    expect(await names('labelSelector=app+in+(db,x)')).toEqual(['c']);
    expect(await names('fieldSelector=spec.nodeName%3Dn1')).toEqual(['c']);
    expect(await names('fieldSelector=metadata.name%3Db')).toEqual(['b']);
    expect(await names('fieldSelector=spec.nodeName%3D&labelSelector=app%3Dweb')).toEqual(['a', 'b', 'd']);
    expectStatus((await s.request('GET', `${PODS}?fieldSelector=spec.bogus%3D1`)).body, 400, 'BadRequest');
    expectStatus((await s.request('GET', `${PODS}?labelSelector=a%3D%3D%3D`)).body, 400, 'BadRequest');
  });

  it('pages with limit and continue at one revision', async () => {
    const p1 = (await s.request('GET', `${PODS}?limit=3`)).body;
    expect(p1.items.map((p: any) => p.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(p1.metadata.remainingItemCount).toBe(1);
    await s.request('POST', PODS, testPod('e'));
    const p2 = (await s.request('GET', `${PODS}?limit=3&continue=${encodeURIComponent(p1.metadata.continue)}`)).body;
    expect(p2.items.map((p: any) => p.metadata.name)).toEqual(['d']);
    expect(p2.metadata.continue).toBeUndefined();
    expect(p2.metadata.resourceVersion).toBe(p1.metadata.resourceVersion);
    expectStatus((await s.request('GET', `${PODS}?limit=x`)).body, 400, 'BadRequest');
  });

  it('answers a Table to kubectl get', async () => {
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    const t = (await s.request('GET', PODS, undefined, { accept })).body;
    expect(t).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
    expect(t.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
    expect(t.rows).toHaveLength(4);
    expect(t.rows[0].cells.slice(0, 3)).toEqual(['a', '0/1', 'Pending']);
    expect(t.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'a' } });
    const one = (await s.request('GET', `${PODS}/c?includeObject=Object`, undefined, { accept })).body;
    expect(one.rows[0].object.kind).toBe('Pod');
    expect(one.rows[0].cells[6]).toBe('n1');
  });
});

describe('discovery and misc endpoints', () => {
  it('serves /api, /apis, resource lists and /version', async () => {
    expect((await s.request('GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await s.request('GET', '/apis')).body;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: any) => g.name).sort()).toEqual(['apps', 'batch', 'certificates.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'networking.k8s.io', 'policy', 'scheduling.k8s.io']);
    expect((await s.request('GET', '/apis/apps')).body).toMatchObject({ kind: 'APIGroup', name: 'apps', preferredVersion: { groupVersion: 'apps/v1' } });
    const core = (await s.request('GET', '/api/v1')).body;
    expect(core).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
    const names = core.resources.map((r: any) => r.name);
    expect(names).toEqual(expect.arrayContaining(['pods', 'pods/status', 'pods/binding', 'pods/log', 'namespaces', 'nodes', 'services']));
    expect(core.resources.find((r: any) => r.name === 'pods')).toMatchObject({ singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'], categories: ['all'] });
    expect(core.resources.find((r: any) => r.name === 'endpoints').categories).toBeUndefined();
    const apps = (await s.request('GET', '/apis/apps/v1')).body;
    expect(apps.resources.find((r: any) => r.name === 'deployments').categories).toEqual(['all']);
    expect(apps.resources.find((r: any) => r.name === 'deployments/scale')).toMatchObject({ kind: 'Scale', group: 'autoscaling', version: 'v1' });
    expect((await s.request('GET', '/apis/nope/v1')).status).toBe(404);
    const v = (await s.request('GET', '/version')).body;
    expect(v).toMatchObject({ major: '1', minor: '32', gitVersion: 'v1.32.0-flotilla' });
    expect((await s.request('GET', '/openapi/v3')).body.paths['apis/apps/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]+$/);
    const oa = await s.request('GET', '/openapi/v2', undefined, { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' });
    expect(oa.status).toBe(200);
    expect(oa.body).toBe('');
  });

  it('health endpoints and metrics', async () => {
    expect((await s.request('GET', '/healthz')).body).toBe('ok');
    expect((await s.request('GET', '/livez')).body).toBe('ok');
    expect((await s.request('GET', '/readyz')).status).toBe(200);
    await s.request('GET', PODS);
    const m = (await s.request('GET', '/metrics')).body as string;
    expect(m).toContain('apiserver_request_total{code="200",resource="pods",subresource="",verb="LIST"} 1');
    expect(m).toContain('apiserver_request_duration_seconds_bucket{resource="pods",scope="namespace",subresource="",verb="LIST",le="+Inf"} 1');
    // The watch responses' lines and the socket writes that carried them (the writer's pacing is their ratio).
    expect(m).toMatch(/^flotilla_apiserver_watch_lines_total \d+$/m);
    expect(m).toMatch(/^flotilla_apiserver_watch_writes_total \d+$/m);
    s.storage.failWith = new (await import('@flotilla/api')).ApiError('ServiceUnavailable', 'etcd down');
    expect((await s.request('GET', '/readyz')).status).toBe(503);
    const r = await s.request('GET', PODS);
    expect(r.status).toBe(503);
    expectStatus(r.body, 503, 'ServiceUnavailable');
  });
});

describe('authentication and authorization', () => {
  it('401 without a user, 403 from authorize and admit; health needs no auth', async () => {
    const t = await startTestApiServer({
      authenticator: tokenAuthenticator({ good: { name: 'alice', groups: [] }, node: { name: 'system:node:n1', groups: ['system:nodes'] } }),
      authorizer: fakeAuthorizer(
        (a) => (a.user.name === 'alice' || a.resource === 'pods' ? { allowed: true } : { allowed: false, reason: 'nodes may only touch pods' }),
        (a, _old, obj) => (a.user.name === 'alice' || (obj?.spec as any)?.nodeName === 'n1' ? { allowed: true } : { allowed: false, reason: 'not bound to n1' }),
      ),
    });
    try {
      expectStatus((await t.request('GET', PODS)).body, 401, 'Unauthorized');
      expectStatus((await t.request('GET', '/version', undefined, { authorization: 'Bearer bad' })).body, 401, 'Unauthorized');
      expect((await t.request('GET', '/healthz')).status).toBe(200);
      expect((await t.request('GET', PODS, undefined, { authorization: 'Bearer good' })).status).toBe(200);
      const node = { authorization: 'Bearer node' };
      const f = await t.request('GET', '/api/v1/nodes', undefined, node);
      expectStatus(f.body, 403, 'Forbidden');
      expect(f.body.message).toContain('nodes may only touch pods');
      const c = await t.request('POST', PODS, testPod('p'), node);
      expectStatus(c.body, 403, 'Forbidden');
      expect(c.body.message).toContain('not bound to n1');
      expect((await t.request('POST', PODS, { ...testPod('p'), spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] } }, node)).status).toBe(201);
    } finally {
      await t.close();
    }
  });
});
