import { afterEach, describe, expect, it } from 'vitest';
import { startTestApiServer, testPod, type TestApiServer } from './testing/index.js';

const PODS = '/api/v1/namespaces/default/pods';
const PCS = '/apis/scheduling.k8s.io/v1/priorityclasses';
const pc = (name: string, value: number, extra: Record<string, unknown> = {}) => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra });
const withClass = (name: string, priorityClassName: string, extra: Record<string, unknown> = {}) => {
  const p = testPod(name);
  p.spec = { ...(p.spec as object), priorityClassName, ...extra };
  return p;
};

describe('pod priority admission', () => {
  let s: TestApiServer;
  afterEach(() => s?.close());

  it("writes the named class's value and preemption policy into the pod", async () => {
    s = await startTestApiServer();
    expect((await s.request('POST', PCS, pc('high', 1000, { preemptionPolicy: 'Never' }))).status).toBe(201);
    const r = await s.request('POST', PODS, withClass('a', 'high'));
    expect(r.status).toBe(201);
    expect(r.body.spec).toMatchObject({ priorityClassName: 'high', priority: 1000, preemptionPolicy: 'Never' });
    const sys = await s.request('POST', PODS, withClass('b', 'system-node-critical'));
    expect(sys.body.spec).toMatchObject({ priority: 2_000_001_000, preemptionPolicy: 'PreemptLowerPriority' });
  });

  it('refuses an unknown class and a priority that contradicts the class (403), storing nothing', async () => {
    s = await startTestApiServer();
    await s.request('POST', PCS, pc('high', 1000));
    const unknown = await s.request('POST', PODS, withClass('a', 'nope'));
    expect(unknown.status).toBe(403);
    expect(unknown.body.message).toContain('no PriorityClass with name nope was found');
    const wrong = await s.request('POST', PODS, withClass('b', 'high', { priority: 5 }));
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toContain('priority admission controller computed 1000');
    expect((await s.request('GET', PODS)).body.items).toHaveLength(0);
  });

  it('gives a pod naming no class the global default (the lowest one), or leaves it alone without one', async () => {
    s = await startTestApiServer();
    const plain = await s.request('POST', PODS, testPod('plain'));
    expect(plain.body.spec.priority).toBeUndefined();
    const t = await startTestApiServer();
    try {
      await t.request('POST', PCS, pc('default-a', 50, { globalDefault: true }));
      await t.request('POST', PCS, pc('default-b', 20, { globalDefault: true }));
      const r = await t.request('POST', PODS, testPod('x'));
      expect(r.body.spec).toMatchObject({ priorityClassName: 'default-b', priority: 20 });
    } finally {
      await t.close();
    }
  });

  it('kubectl-style Table and immutable value over HTTP', async () => {
    s = await startTestApiServer();
    const created = (await s.request('POST', PCS, pc('high', 1000))).body;
    const changed = await s.request('PUT', `${PCS}/high`, { ...created, value: 2000 });
    expect(changed.status).toBe(422);
    expect(changed.body.details.causes.map((c: { field: string }) => c.field)).toEqual(['value']);
    const table = await s.request('GET', PCS, undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(table.body.rows[0].cells.slice(0, 3)).toEqual(['high', 1000, false]);
  });
});
