/**
 * An agent's own credential reaches nothing beyond its node (Kubernetes'
 * Node authorizer + NodeRestriction): with node A's token, against a real
 * `flotilla apiserver` on etcd, every request about node B, B's pods and
 * Lease, Secrets and ConfigMaps no pod of A uses, and cluster-wide writes is
 * refused with 403 and changes nothing; the same requests about A itself
 * pass. (bad-input.test.ts already covers a node writing another node's
 * status and deleting an unbound pod; this fills in the rest.)
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, startApiServer, type Endpoint, type TestApiServer } from '../../src/index.js';

const id = randomBytes(3).toString('hex');
const A = `na-${id}`;
const B = `nb-${id}`;
const ns = `nodeauth-${id}`;
const MERGE = { 'content-type': 'application/merge-patch+json' };
const SMP = { 'content-type': 'application/strategic-merge-patch+json' };

let srv: TestApiServer;
let admin: Endpoint;
let asA: Endpoint;

const pod = (name: string, node: string, env: Array<Record<string, unknown>> = [], volumes: Array<Record<string, unknown>> = []) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'flotilla/busybox:1', env }], volumes },
});

async function ok(res: Promise<{ status: number; text: string }>, code = 200): Promise<void> {
  const r = await res;
  expect(r.status, r.text).toBe(code);
}

beforeAll(async () => {
  srv = await startApiServer({ extraNodes: [A, B] });
  admin = srv.endpoint();
  asA = srv.endpoint(srv.nodeToken(A));
  await ok(apiRequest(admin, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }), 201);
  for (const n of [A, B]) {
    await ok(apiRequest(admin, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n } }), 201);
    await ok(
      apiRequest(admin, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: n }, spec: { holderIdentity: n, leaseDurationSeconds: 40 } }),
      201,
    );
  }
  for (const name of ['used', 'unused', 'b-only']) {
    await ok(apiRequest(admin, 'POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { k: 'dg==' } }), 201);
    await ok(apiRequest(admin, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } }), 201);
  }
  // A's pod uses secret "used" (env) and configmap "used" (volume); B's pod uses the "b-only" ones.
  await ok(apiRequest(admin, 'POST', `/api/v1/namespaces/${ns}/pods`, pod('on-a', A, [{ name: 'S', valueFrom: { secretKeyRef: { name: 'used', key: 'k' } } }], [{ name: 'v', configMap: { name: 'used' } }])), 201);
  await ok(apiRequest(admin, 'POST', `/api/v1/namespaces/${ns}/pods`, pod('on-b', B, [{ name: 'S', valueFrom: { secretKeyRef: { name: 'b-only', key: 'k' } } }], [{ name: 'v', configMap: { name: 'b-only' } }])), 201);
}, 60_000);

afterAll(async () => {
  await srv?.stop();
});

/** The stored object's resourceVersion (admin's view), to prove a refused write changed nothing. */
const rv = async (path: string) => ((await apiRequest(admin, 'GET', path)).json() as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

describe('a node\'s credential is confined to its node', () => {
  it('reads only the Secrets and ConfigMaps its own pods use; never lists or watches them', async () => {
    await ok(apiRequest(asA, 'GET', `/api/v1/namespaces/${ns}/secrets/used`));
    await ok(apiRequest(asA, 'GET', `/api/v1/namespaces/${ns}/configmaps/used`));
    for (const path of [
      `/api/v1/namespaces/${ns}/secrets/unused`,
      `/api/v1/namespaces/${ns}/secrets/b-only`,
      `/api/v1/namespaces/${ns}/configmaps/unused`,
      `/api/v1/namespaces/${ns}/configmaps/b-only`,
      `/api/v1/namespaces/${ns}/secrets`,
      '/api/v1/secrets',
      `/api/v1/namespaces/${ns}/secrets?watch=1`,
      `/api/v1/namespaces/${ns}/configmaps`,
    ]) {
      const r = await apiRequest(asA, 'GET', path);
      expect(r.status, `${path}: ${r.text}`).toBe(403);
      expect(r.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    }
    // Nor may it write them, even the ones it reads.
    await ok(apiRequest(asA, 'PATCH', `/api/v1/namespaces/${ns}/secrets/used`, { data: { k: 'eA==' } }, MERGE), 403);
    await ok(apiRequest(asA, 'POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'planted' } }), 403);
    await ok(apiRequest(asA, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/used`), 403);
  });

  it('writes its own Node, status and Lease, not another node\'s', async () => {
    const nodeB = `/api/v1/nodes/${B}`;
    const leaseB = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${B}`;
    const before = [await rv(nodeB), await rv(leaseB)];
    await ok(apiRequest(asA, 'PATCH', nodeB, { metadata: { labels: { hijacked: 'yes' } } }, MERGE), 403);
    await ok(apiRequest(asA, 'PATCH', `${nodeB}/status`, { status: { capacity: { cpu: '1000' } } }, MERGE), 403);
    await ok(apiRequest(asA, 'PATCH', leaseB, { spec: { holderIdentity: A } }, MERGE), 403);
    await ok(apiRequest(asA, 'DELETE', leaseB), 403);
    await ok(apiRequest(asA, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: `nc-${id}` } }), 403);
    // A Lease of its own name outside kube-node-lease, or one named for B inside it.
    await ok(apiRequest(asA, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: A } }), 403);
    expect([await rv(nodeB), await rv(leaseB)]).toEqual(before);

    await ok(apiRequest(asA, 'PATCH', `/api/v1/nodes/${A}`, { metadata: { labels: { mine: 'yes' } } }, MERGE));
    await ok(apiRequest(asA, 'PATCH', `/api/v1/nodes/${A}/status`, { status: { capacity: { cpu: '2' } } }, MERGE));
    await ok(apiRequest(asA, 'PATCH', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${A}`, { spec: { renewTime: new Date().toISOString().replace('Z', '000Z') } }, MERGE));
  });

  it('writes the status of and deletes only the pods bound to it; creates none; changes no pod spec', async () => {
    const podB = `/api/v1/namespaces/${ns}/pods/on-b`;
    const podA = `/api/v1/namespaces/${ns}/pods/on-a`;
    const before = await rv(podB);
    await ok(apiRequest(asA, 'PATCH', `${podB}/status`, { status: { phase: 'Failed', message: 'sabotage' } }, MERGE), 403);
    const cur = (await apiRequest(asA, 'GET', podB)).json() as Record<string, unknown>;
    await ok(apiRequest(asA, 'PUT', `${podB}/status`, { ...cur, status: { phase: 'Failed' } }), 403);
    await ok(apiRequest(asA, 'DELETE', podB), 403);
    await ok(apiRequest(asA, 'POST', `/api/v1/namespaces/${ns}/pods`, pod('planted', B)), 403);
    await ok(apiRequest(asA, 'POST', `/api/v1/namespaces/${ns}/pods`, pod('planted-own', A)), 403);
    await ok(apiRequest(asA, 'PATCH', `${podB}/ephemeralcontainers`, { spec: { ephemeralContainers: [{ name: 'x', image: 'flotilla/busybox:1' }] } }, SMP), 403);
    await ok(apiRequest(asA, 'POST', `${podB}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'on-b', namespace: ns } }), 403);
    // Its own pod: no spec change, no binding elsewhere through the status.
    await ok(apiRequest(asA, 'PATCH', podA, { metadata: { labels: { x: 'y' } } }, MERGE), 403);
    await ok(apiRequest(asA, 'PATCH', `${podA}/ephemeralcontainers`, { spec: { ephemeralContainers: [{ name: 'x', image: 'flotilla/busybox:1' }] } }, SMP), 403);
    expect(await rv(podB)).toBe(before);

    await ok(apiRequest(asA, 'PATCH', `${podA}/status`, { status: { phase: 'Running' } }, MERGE));
    await ok(apiRequest(asA, 'DELETE', podA));
  });

  it('namespaces, cluster-wide objects and other kinds are out of reach', async () => {
    await ok(apiRequest(asA, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `evil-${id}` } }), 403);
    await ok(apiRequest(asA, 'DELETE', `/api/v1/namespaces/${ns}`), 403);
    await ok(apiRequest(asA, 'POST', `/api/v1/namespaces/${ns}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } }), 403);
    await ok(apiRequest(asA, 'GET', `/apis/apps/v1/namespaces/${ns}/deployments`), 403);
    await ok(apiRequest(asA, 'GET', `/api/v1/nodes/${B}/proxy/metrics`), 403);
  });
});
