/**
 * The per-kind strategies over etcd: what the server owns on create and
 * update (generateName, uid, generation, status), the namespace and pod
 * deletion policies, and the Priority admission reading PriorityClasses
 * from the store — through EtcdStorage, under a private key prefix.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';
import { startTestApiServer, testDeployment, testPod, type TestApiServer } from '../src/testing/index.js';

const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean);
const prefix = `/flotilla-test-strategy-${randomBytes(6).toString('hex')}`;
const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';
const PCS = '/apis/scheduling.k8s.io/v1/priorityclasses';

/** Deletes every key under the prefix through etcd's JSON gateway (no etcd client outside the store). */
async function deletePrefix(p: string): Promise<void> {
  const key = Buffer.from(`${p}/`);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  await fetch(`${endpoints[0]}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }) });
}

let storage: EtcdStorage;
let s: TestApiServer;
beforeAll(async () => {
  storage = new EtcdStorage({ endpoints, prefix, logger: createLogger('store', { level: 'silent' }) });
  s = await startTestApiServer({ storage: storage as never });
});
afterAll(async () => {
  await s?.close();
  await storage?.close();
  await deletePrefix(prefix);
});

describe('strategies over etcd', () => {
  it('create: generateName, a server uid, generation 1, status reset; update: status kept, generation on spec changes only', async () => {
    const dep = { ...testDeployment('web'), status: { replicas: 9 } };
    dep.metadata = { generateName: 'web-', uid: 'forged', generation: 5 } as typeof dep.metadata;
    const c = await s.request('POST', DEPLOYS, dep);
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(c.body.metadata.uid).not.toBe('forged');
    expect(c.body.metadata.generation).toBe(1);
    expect(c.body.status).toBeUndefined();
    const item = `${DEPLOYS}/${c.body.metadata.name}`;

    const st = await s.request('PUT', `${item}/status`, { ...c.body, spec: { ...c.body.spec, replicas: 40 }, status: { replicas: 1 } });
    expect(st.body).toMatchObject({ spec: { replicas: 2 }, status: { replicas: 1 }, metadata: { generation: 1 } });
    const relabel = await s.request('PUT', item, { ...st.body, metadata: { ...st.body.metadata, labels: { a: 'b' } }, status: { replicas: 7 } });
    expect(relabel.body).toMatchObject({ status: { replicas: 1 }, metadata: { generation: 1, labels: { a: 'b' } } });
    const scaled = await s.request('PATCH', item, { spec: { replicas: 3 } }, { 'content-type': 'application/merge-patch+json' });
    expect(scaled.body.metadata.generation).toBe(2);
  });

  it('deletion policy: a namespace gets its finalizer and turns Terminating; a bound pod gets its grace period', async () => {
    await s.request('POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } });
    const ns = await s.request('DELETE', '/api/v1/namespaces/doomed');
    expect(ns.body).toMatchObject({ status: { phase: 'Terminating' }, metadata: { finalizers: ['kubernetes'] } });
    await s.request('POST', PODS, testPod('bound'));
    expect((await s.request('POST', `${PODS}/bound/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'bound' }, target: { kind: 'Node', name: 'n1' } })).status).toBe(201);
    const del = await s.request('DELETE', `${PODS}/bound`);
    // 1 on create, 2 when the binding set spec.nodeName, 3 when the delete marked it.
    expect(del.body.metadata).toMatchObject({ deletionGracePeriodSeconds: 30, generation: 3 });
    expect(del.body.spec.nodeName).toBe('n1');
  });

  it('Priority admission resolves a PriorityClass stored in etcd, and refuses an unknown one', async () => {
    expect((await s.request('POST', PCS, { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'batch-high' }, value: 5000 })).status).toBe(201);
    const p = testPod('prio');
    p.spec = { ...(p.spec as object), priorityClassName: 'batch-high' };
    const r = await s.request('POST', PODS, p);
    expect(r.body.spec).toMatchObject({ priority: 5000, preemptionPolicy: 'PreemptLowerPriority' });
    const bad = testPod('prio-bad');
    bad.spec = { ...(bad.spec as object), priorityClassName: 'missing' };
    expect((await s.request('POST', PODS, bad)).status).toBe(403);
  });
});
