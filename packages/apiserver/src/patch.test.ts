import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPatch } from './patch.js';
import { startTestApiServer, testDeployment, testPod, type TestApiServer } from './testing/index.js';

describe('merge patch (RFC 7386)', () => {
  it('merges objects, deletes with null, replaces lists', () => {
    expect(applyPatch('merge', { a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({ a: { c: 2, d: 3 }, l: [3] });
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc = { metadata: { labels: { a: '1' } }, list: [1, 2, 3] };
  it('add, remove, replace, move, copy and test', () => {
    const out = applyPatch('json', doc, [
      { op: 'add', path: '/metadata/labels/b', value: '2' },
      { op: 'remove', path: '/list/0' },
      { op: 'add', path: '/list/-', value: 9 },
      { op: 'replace', path: '/metadata/labels/a', value: 'x' },
      { op: 'copy', from: '/metadata/labels/a', path: '/copied' },
      { op: 'move', from: '/copied', path: '/moved' },
      { op: 'test', path: '/list', value: [2, 3, 9] },
      { op: 'add', path: '/a~1b', value: true },
    ]);
    expect(out).toEqual({ metadata: { labels: { a: 'x', b: '2' } }, list: [2, 3, 9], moved: 'x', 'a/b': true });
    expect(doc.list).toEqual([1, 2, 3]);
  });
  it('a failing test or a missing path is 422, a malformed patch 400', () => {
    expect(() => applyPatch('json', doc, [{ op: 'test', path: '/list/0', value: 5 }])).toThrow(expect.objectContaining({ reason: 'Invalid' }));
    expect(() => applyPatch('json', doc, [{ op: 'remove', path: '/nope' }])).toThrow(expect.objectContaining({ reason: 'Invalid' }));
    expect(() => applyPatch('json', doc, [{ op: 'replace', path: '/list/7', value: 1 }])).toThrow(expect.objectContaining({ reason: 'Invalid' }));
    expect(() => applyPatch('json', doc, { op: 'add' })).toThrow(expect.objectContaining({ reason: 'BadRequest' }));
    expect(() => applyPatch('json', doc, [{ op: 'frobnicate', path: '/a' }])).toThrow(expect.objectContaining({ reason: 'BadRequest' }));
    expect(() => applyPatch('json', doc, [{ op: 'add', path: 'no-slash', value: 1 }])).toThrow(expect.objectContaining({ reason: 'BadRequest' }));
  });
});

describe('strategic merge patch', () => {
  const pod = {
    metadata: { name: 'p', finalizers: ['a'] },
    spec: {
      containers: [
        { name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }], ports: [{ containerPort: 80, name: 'http' }], volumeMounts: [{ mountPath: '/d', name: 'v' }] },
        { name: 'b', image: 'b:1' },
      ],
      volumes: [{ name: 'v', emptyDir: {} }],
      tolerations: [{ key: 'k' }],
    },
    status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }] },
  };
  it('merges lists of objects by their merge keys', () => {
    const out = applyPatch('strategic', pod, {
      metadata: { finalizers: ['b'] },
      spec: {
        $setElementOrder: undefined,
        '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }],
        containers: [{ name: 'a', image: 'a:2', env: [{ name: 'Y', value: '3' }, { name: 'Z', value: '4' }], ports: [{ containerPort: 80, protocol: 'TCP' }] }],
        tolerations: [{ key: 'other' }],
      },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    }) as any;
    expect(out.spec.containers).toHaveLength(2);
    expect(out.spec.containers[0].image).toBe('a:2');
    expect(out.spec.containers[0].env).toEqual([{ name: 'X', value: '1' }, { name: 'Y', value: '3' }, { name: 'Z', value: '4' }]);
    expect(out.spec.containers[0].ports).toEqual([{ containerPort: 80, name: 'http', protocol: 'TCP' }]);
    expect(out.spec.containers[0].volumeMounts).toEqual([{ mountPath: '/d', name: 'v' }]);
    expect(out.spec.containers[1]).toEqual({ name: 'b', image: 'b:1' });
    expect(out.spec.tolerations).toEqual([{ key: 'other' }]);
    expect(out.status.conditions).toEqual([{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }]);
    expect(out.metadata.finalizers).toEqual(['a', 'b']);
    expect(JSON.stringify(out)).not.toContain('$');
  });
  it('honours $patch delete and replace, null and $deleteFromPrimitiveList', () => {
    const out = applyPatch('strategic', pod, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] },
      spec: {
        containers: [{ name: 'b', $patch: 'delete' }],
        volumes: [{ $patch: 'replace' }, { name: 'w', hostPath: { path: '/x' } }],
        tolerations: null,
      },
      status: { $patch: 'replace', phase: 'Running' },
    }) as any;
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['a']);
    expect(out.spec.volumes).toEqual([{ name: 'w', hostPath: { path: '/x' } }]);
    expect(out.spec.tolerations).toBeUndefined();
    expect(out.status).toEqual({ phase: 'Running' });
    expect(out.metadata.finalizers).toEqual([]);
  });
  it('$retainKeys keeps only the listed keys', () => {
    const out = applyPatch('strategic', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } }, { strategy: { $retainKeys: ['type'], type: 'Recreate' } });
    expect(out).toEqual({ strategy: { type: 'Recreate' } });
  });
});

describe('PATCH over HTTP', () => {
  let s: TestApiServer;
  const PODS = '/api/v1/namespaces/default/pods';
  beforeEach(async () => {
    s = await startTestApiServer();
    await s.request('POST', PODS, testPod('p'));
  });
  afterEach(() => s.close());

  it('applies every patch type', async () => {
    const m = await s.request('PATCH', `${PODS}/p`, { metadata: { labels: { tier: 'x' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(m.status).toBe(200);
    expect(m.body.metadata.labels).toEqual({ app: 'web', tier: 'x' });
    const j = await s.request('PATCH', `${PODS}/p`, [{ op: 'test', path: '/metadata/labels/tier', value: 'x' }, { op: 'remove', path: '/metadata/labels/tier' }], { 'content-type': 'application/json-patch+json' });
    expect(j.status).toBe(200);
    expect(j.body.metadata.labels).toEqual({ app: 'web' });
    const failed = await s.request('PATCH', `${PODS}/p`, [{ op: 'test', path: '/metadata/labels/app', value: 'nope' }], { 'content-type': 'application/json-patch+json' });
    expect(failed.status).toBe(422);
    expect(failed.body.kind).toBe('Status');
    const sm = await s.request('PATCH', `${PODS}/p`, { spec: { containers: [{ name: 'main', image: 'new:2' }] } }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(sm.status).toBe(200);
    expect(sm.body.spec.containers).toHaveLength(1);
    expect(sm.body.spec.containers[0].image).toBe('new:2');
  });

  it('a resourceVersion in the patch is a precondition; the main resource ignores status', async () => {
    const cur = (await s.request('GET', `${PODS}/p`)).body;
    const ok = await s.request('PATCH', `${PODS}/p`, { metadata: { resourceVersion: cur.metadata.resourceVersion, labels: { v: '1' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(ok.status).toBe(200);
    const stale = await s.request('PATCH', `${PODS}/p`, { metadata: { resourceVersion: cur.metadata.resourceVersion, labels: { v: '2' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(stale.status).toBe(409);
    const st = await s.request('PATCH', `${PODS}/p`, { status: { phase: 'Running' } }, { 'content-type': 'application/merge-patch+json' });
    expect(st.body.status.phase).toBe('Pending');
    const st2 = await s.request('PATCH', `${PODS}/p/status`, { status: { phase: 'Running' } }, { 'content-type': 'application/merge-patch+json' });
    expect(st2.body.status.phase).toBe('Running');
    const kindChange = await s.request('PATCH', `${PODS}/p`, { kind: 'Service' }, { 'content-type': 'application/merge-patch+json' });
    expect(kindChange.status).toBe(400);
    expect((await s.request('PATCH', `${PODS}/nope`, {}, { 'content-type': 'application/merge-patch+json' })).status).toBe(404);
  });

  it('takes what kubectl apply sends for a deployment', async () => {
    await s.request('POST', '/apis/apps/v1/namespaces/default/deployments', testDeployment('d'));
    const applyPatchBody = {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: {
        replicas: 3,
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'main' }, { name: 'side' }],
            containers: [{ name: 'main', image: 'v2' }, { name: 'side', image: 's' }],
          },
        },
      },
    };
    const r = await s.request('PATCH', '/apis/apps/v1/namespaces/default/deployments/d', applyPatchBody, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(r.status).toBe(200);
    expect(r.body.spec.replicas).toBe(3);
    expect(r.body.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)).toEqual(['main=v2', 'side=s']);
    expect(r.body.metadata.generation).toBe(2);
  });
});

describe('prototype safety', () => {
  it('a __proto__ key in any patch type never touches Object.prototype', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": {"__proto__": {"polluted": "yes"}}}');
    const m = applyPatch('merge', { a: {} }, evil) as any;
    const sm = applyPatch('strategic', { a: {} }, evil) as any;
    applyPatch('json', { a: {} }, [{ op: 'add', path: '/__proto__', value: { polluted: 'yes' } }]);
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.hasOwn(m, '__proto__')).toBe(true);
    expect(Object.hasOwn(sm.a, '__proto__')).toBe(true);
  });
});
