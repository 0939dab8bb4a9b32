import type { KubeObject, Pod } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../testing/memory-storage.js';
import { DefaultAuthorizer, nodeNameOf } from './authorizer.js';
import { mayReference, NodeGraph, podReferences } from './node-graph.js';
import type { RequestAttributes, UserInfo, Verb } from './types.js';

const admin: UserInfo = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
const component: UserInfo = { name: 'scheduler', groups: ['system:flotilla-components'] };
const n1: UserInfo = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
const fakeNode: UserInfo = { name: 'system:node:n1', groups: ['system:authenticated'] };
const alice: UserInfo = { name: 'alice', groups: ['system:authenticated'] };

const pod = (nodeName?: string): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' },
  spec: nodeName ? { nodeName, containers: [] } : { containers: [] },
});
const node = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
const lease = (name: string): KubeObject => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' } });

const req = (user: UserInfo, verb: Verb, resource: string, more: Partial<RequestAttributes> = {}): RequestAttributes =>
  ({ user, verb, group: '', resource, ...more });

const authz = new DefaultAuthorizer();

describe('DefaultAuthorizer.authorize', () => {
  it.each<[string, RequestAttributes, boolean, RegExp?]>([
    ['masters do anything', req(admin, 'deletecollection', 'secrets', { namespace: 'x' }), true],
    ['components do anything', req(component, 'create', 'bindings', { namespace: 'x' }), true],
    ['plain users are denied', req(alice, 'get', 'pods', { namespace: 'x', name: 'a' }), false, /user "alice" is not in a group/],
    ['a node name without system:nodes is not a node', req(fakeNode, 'get', 'pods', { namespace: 'x' }), false, /not in a group/],
    ['node lists pods', req(n1, 'list', 'pods'), true],
    ['node watches services', req(n1, 'watch', 'services'), true],
    ['node gets endpoints', req(n1, 'get', 'endpoints', { namespace: 'default', name: 'web' }), true],
    ['node lists nodes', req(n1, 'list', 'nodes'), true],
    ['node gets another node', req(n1, 'get', 'nodes', { name: 'n2' }), true],
    ['node reads namespaces', req(n1, 'get', 'namespaces', { name: 'default' }), true],
    ['node reads a configmap without a graph', req(n1, 'get', 'configmaps', { namespace: 'a', name: 'c' }), false, /no relationship found between node 'n1' and this object/],
    ['node lists configmaps', req(n1, 'list', 'configmaps', { namespace: 'a' }), false, /cannot list configmaps/],
    ['node reads leases', req(n1, 'get', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'n2' }), true],
    ['node reads a pod status', req(n1, 'get', 'pods', { subresource: 'status', namespace: 'a', name: 'p' }), true],
    ['node cannot read secrets', req(n1, 'get', 'secrets', { namespace: 'a', name: 's' }), false, /no relationship found/],
    ['node cannot list secrets', req(n1, 'list', 'secrets', { namespace: 'a' }), false, /node "n1" cannot list secrets/],
    ['node cannot list deployments', req(n1, 'list', 'deployments', { group: 'apps' }), false, /cannot list deployments\.apps/],
    ['node creates a node (name from body)', req(n1, 'create', 'nodes'), true],
    ['node updates itself', req(n1, 'update', 'nodes', { name: 'n1' }), true],
    ['node patches its status', req(n1, 'patch', 'nodes', { name: 'n1', subresource: 'status' }), true],
    ['node writes another node', req(n1, 'update', 'nodes', { name: 'n2' }), false, /node "n1" cannot update nodes of node "n2"/],
    ['node writes another node status', req(n1, 'update', 'nodes', { name: 'n2', subresource: 'status' }), false, /cannot update nodes\/status of node "n2"/],
    ['node deletes itself', req(n1, 'delete', 'nodes', { name: 'n1' }), false, /cannot delete nodes/],
    ['node creates its lease', req(n1, 'create', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }), true],
    ['node renews its lease', req(n1, 'update', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'n1' }), true],
    ['node renews another lease', req(n1, 'update', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'n2' }), false, /cannot update lease "n2"/],
    ['node writes a lease elsewhere', req(n1, 'create', 'leases', { group: 'coordination.k8s.io', namespace: 'default' }), false, /only write leases in namespace "kube-node-lease"/],
    ['node deletes its lease', req(n1, 'delete', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'n1' }), false],
    ['node patches pods/status (admit decides)', req(n1, 'patch', 'pods', { subresource: 'status', namespace: 'a', name: 'p' }), true],
    ['node deletes a pod (admit decides)', req(n1, 'delete', 'pods', { namespace: 'a', name: 'p' }), true],
    ['node updates a pod spec', req(n1, 'update', 'pods', { namespace: 'a', name: 'p' }), false, /cannot update pods/],
    ['node creates a pod', req(n1, 'create', 'pods', { namespace: 'a' }), false, /cannot create pods/],
    ['node binds a pod', req(n1, 'create', 'pods', { subresource: 'binding', namespace: 'a', name: 'p' }), false, /cannot create pods\/binding/],
    ['node deletes pods in bulk', req(n1, 'deletecollection', 'pods', { namespace: 'a' }), false],
    ['node creates events', req(n1, 'create', 'events', { namespace: 'anywhere' }), true],
    ['node patches events.k8s.io events', req(n1, 'patch', 'events', { group: 'events.k8s.io', namespace: 'a', name: 'e' }), true],
    ['node deletes events', req(n1, 'delete', 'events', { namespace: 'a', name: 'e' }), false],
    ['node creates a namespace', req(n1, 'create', 'namespaces'), false, /cannot create namespaces/],
  ])('%s', (_, attrs, allowed, reason) => {
    const d = authz.authorize(attrs);
    expect(d.allowed).toBe(allowed);
    if (reason) expect(d.reason).toMatch(reason);
  });
});

describe('DefaultAuthorizer.admit', () => {
  const status = (verb: Verb) => req(n1, verb, 'pods', { subresource: 'status', namespace: 'default', name: 'web' });
  it.each<[string, RequestAttributes, KubeObject | undefined, KubeObject | undefined, boolean, RegExp?]>([
    ['node updates status of its own pod', status('update'), pod('n1'), pod('n1'), true],
    ['node updates status of a pod bound elsewhere', status('update'), pod('n2'), pod('n2'), false, /^node "n1" cannot update pods\/status of pod bound to "n2"$/],
    ['node patches status of an unbound pod', status('patch'), pod(), pod(), false, /cannot patch pods\/status of pod not bound to it/],
    ['node moves its pod via status', status('update'), pod('n1'), pod('n2'), false, /cannot change spec\.nodeName/],
    ['status body without spec keeps the binding', status('update'), pod('n1'), { ...pod(), spec: undefined }, true],
    ['node without the stored pod', status('update'), undefined, pod('n1'), false, /a pod it cannot see/],
    ['node deletes its pod', req(n1, 'delete', 'pods', { namespace: 'default', name: 'web' }), pod('n1'), undefined, true],
    ['node deletes a pod bound elsewhere', req(n1, 'delete', 'pods', { namespace: 'default', name: 'web' }), pod('n2'), undefined, false, /cannot delete pods of pod bound to "n2"/],
    ['node creates its own Node', req(n1, 'create', 'nodes'), undefined, node('n1'), true],
    ['node creates another Node', req(n1, 'create', 'nodes'), undefined, node('n2'), false, /cannot create nodes of node "n2"/],
    ['node writes its Node status', req(n1, 'update', 'nodes', { name: 'n1', subresource: 'status' }), node('n1'), node('n1'), true],
    ['node creates its Lease', req(n1, 'create', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }), undefined, lease('n1'), true],
    ['node creates another Lease', req(n1, 'create', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }), undefined, lease('n2'), false, /lease "n2"/],
    ['node creates a nameless Lease', req(n1, 'create', 'leases', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }), undefined, { metadata: { generateName: 'x' } }, false, /only create a lease named "n1"/],
    ['admit never allows what authorize denies', req(n1, 'update', 'nodes', { name: 'n2' }), node('n2'), node('n2'), false, /node "n2"/],
    ['masters pass admission', req(admin, 'update', 'pods', { subresource: 'status', namespace: 'd', name: 'web' }), pod('n2'), pod('n2'), true],
    ['components pass admission', req(component, 'delete', 'pods', { namespace: 'd', name: 'web' }), pod('n2'), undefined, true],
    ['events pass admission', req(n1, 'create', 'events', { namespace: 'x' }), undefined, { metadata: { name: 'e' } }, true],
  ])('%s', (_, attrs, oldObj, newObj, allowed, reason) => {
    const d = authz.admit(attrs, oldObj, newObj);
    expect(d.allowed).toBe(allowed);
    if (reason) expect(d.reason).toMatch(reason);
  });
});

describe('nodeNameOf', () => {
  it('needs both the user prefix and the group', () => {
    expect(nodeNameOf(n1)).toBe('n1');
    expect(nodeNameOf(fakeNode)).toBeUndefined();
    expect(nodeNameOf({ name: 'system:node:', groups: ['system:nodes'] })).toBeUndefined();
    expect(nodeNameOf({ name: 'n1', groups: ['system:nodes'] })).toBeUndefined();
  });
});

describe('node graph: a node reads only the Secrets and ConfigMaps its pods reference', () => {
  const refPod = (name: string, nodeName: string | undefined, namespace = 'default'): KubeObject => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      containers: [{ name: 'c', image: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }], envFrom: [{ configMapRef: { name: 'env' } }] }],
      initContainers: [{ name: 'i', image: 'x', envFrom: [{ secretRef: { name: 'init-secret' } }] }],
      volumes: [{ name: 'v', configMap: { name: 'files' } }, { name: 's', secret: { secretName: 'certs' } }],
    },
  });

  it('follows binding, references and deletion through the pod watch; recheck reads the store', async () => {
    const storage = new MemoryStorage();
    const graph = new NodeGraph(storage);
    const stop = new AbortController();
    const running = graph.run(stop.signal);
    const authz = new DefaultAuthorizer({ nodeGraph: graph });
    const get = (user: UserInfo, resource: string, name: string, namespace = 'default') => req(user, 'get', resource, { namespace, name });
    const n2: UserInfo = { name: 'system:node:n2', groups: ['system:nodes'] };
    try {
      await storage.create('pods', refPod('web', undefined));
      // Not bound yet: nobody may read.
      expect(await authz.recheck(get(n1, 'secrets', 'db'))).toMatchObject({ allowed: false });
      await storage.update('pods', { ...(await storage.get('pods', 'default', 'web')), spec: refPod('web', 'n1').spec });
      // recheck answers from the store even before the watch delivered the change.
      expect(await authz.recheck(get(n1, 'secrets', 'db'))).toEqual({ allowed: true });
      await waitUntil(() => authz.authorize(get(n1, 'secrets', 'db')).allowed);
      for (const [resource, name] of [['secrets', 'db'], ['configmaps', 'env'], ['secrets', 'init-secret'], ['configmaps', 'files'], ['secrets', 'certs']] as const) {
        expect(authz.authorize(get(n1, resource, name)).allowed, `${resource}/${name}`).toBe(true);
        const other = authz.authorize(get(n2, resource, name));
        expect(other).toMatchObject({ allowed: false, recheck: true });
        expect(await authz.recheck(get(n2, resource, name))).toMatchObject({ allowed: false, reason: "no relationship found between node 'n2' and this object" });
      }
      expect(authz.authorize(get(n1, 'secrets', 'unrelated')).allowed).toBe(false);
      expect(authz.authorize(get(n1, 'secrets', 'db', 'other-ns')).allowed).toBe(false);
      await storage.delete('pods', 'default', 'web');
      await waitUntil(() => !authz.authorize(get(n1, 'secrets', 'db')).allowed);
    } finally {
      stop.abort();
      await running;
    }
  });
});

describe('node graph: the first list', () => {
  const pod = (name: string, nodeName: string, spec: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'x' }], ...spec },
  });

  it('builds the graph from the stored JSON, as the etcd store answers a jsonOnly list', async () => {
    const storage = new MemoryStorage();
    await storage.create('pods', pod('plain', 'n1'));
    await storage.create('pods', pod('mounts', 'n1', { volumes: [{ name: 'v', secret: { secretName: 'certs' } }] }));
    await storage.create('pods', pod('env', 'n2', { containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'env' } }] }] }));
    // The etcd store's answer to jsonOnly: the items' JSON, no objects.
    const asText = Object.assign(Object.create(storage) as MemoryStorage, {
      list: async (...args: Parameters<MemoryStorage['list']>) => {
        const res = await storage.list(...args);
        return args[2]?.jsonOnly ? { ...res, items: [], json: res.items.map((o) => JSON.stringify(o)) } : res;
      },
    });
    const graph = new NodeGraph(asText);
    const stop = new AbortController();
    const running = graph.run(stop.signal);
    const authz = new DefaultAuthorizer({ nodeGraph: graph });
    const get = (user: UserInfo, resource: string, name: string) => req(user, 'get', resource, { namespace: 'default', name });
    const n2: UserInfo = { name: 'system:node:n2', groups: ['system:nodes'] };
    try {
      await waitUntil(() => graph.ready);
      expect(authz.authorize(get(n1, 'secrets', 'certs')).allowed).toBe(true);
      expect(authz.authorize(get(n2, 'configmaps', 'env')).allowed).toBe(true);
      expect(authz.authorize(get(n2, 'secrets', 'certs')).allowed).toBe(false);
      expect(authz.authorize(get(n1, 'configmaps', 'env')).allowed).toBe(false);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('decodes only pods whose JSON names a field that references a Secret or ConfigMap', () => {
    for (const spec of [
      { volumes: [{ name: 'v', secret: { secretName: 's' } }] },
      { volumes: [{ name: 'v', configMap: { name: 'c' } }] },
      { containers: [{ name: 'c', image: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }] },
      { containers: [{ name: 'c', image: 'x', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] }] },
      { initContainers: [{ name: 'c', image: 'x', envFrom: [{ secretRef: { name: 's' } }] }] },
      { ephemeralContainers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'c' } }] }] },
    ]) {
      const text = JSON.stringify(pod('p', 'n1', spec));
      expect(podReferences(JSON.parse(text) as Pod).length, text).toBe(1);
      expect(mayReference(text), text).toBe(true);
    }
    // A pod that references nothing is not decoded (one with the words in its values would only cost a decode).
    const plain = pod('p', 'n1', { containers: [{ name: 'c', image: 'x', args: ['sleep', '3600'] }] });
    expect(podReferences(plain as Pod)).toEqual([]);
    expect(mayReference(JSON.stringify(plain))).toBe(false);
  });
});

async function waitUntil(fn: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}
