import { createLogger } from '@flotilla/observability';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from './server.js';
import { allowAllAuthorizer, tokenAuthenticator } from './testing/auth-fakes.js';
import { MemoryStorage } from './testing/memory-storage.js';

let app: ApiServer;
let storage: MemoryStorage;
const auth = { authorization: 'Bearer admin' };

const readyPod = (name: string, phase = 'Running') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image: 'x' }] },
  status: { phase, conditions: [{ type: 'Ready', status: 'True' }] },
});

async function budget(status: Record<string, unknown>) {
  const created = await storage.create('poddisruptionbudgets', { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'b', namespace: 'default' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } });
  await storage.guaranteedUpdate('poddisruptionbudgets', 'default', 'b', (o) => ({ ...o, status: { observedGeneration: created.metadata.generation ?? 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, ...status } }));
}

const evict = (name: string, body: unknown = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name } }) =>
  app.inject({ method: 'POST', url: `/api/v1/namespaces/default/pods/${name}/eviction`, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

beforeEach(async () => {
  storage = new MemoryStorage();
  app = createApiServer({ storage, authenticator: tokenAuthenticator({ admin: { name: 'admin', groups: ['system:masters'] } }), authorizer: allowAllAuthorizer, logger: createLogger('test', { level: 'silent' }) });
  await app.ready();
  for (const n of ['a', 'b', 'c']) await storage.create('pods', readyPod(n));
});

describe('pods/eviction', () => {
  it('without a budget deletes the pod and answers 201 Success', async () => {
    const res = await evict('a');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ kind: 'Status', status: 'Success' });
    await expect(storage.get('pods', 'default', 'a')).rejects.toThrow();
  });

  it('takes the budget\'s last allowance once, then 429 with a DisruptionBudget cause', async () => {
    await budget({ disruptionsAllowed: 1 });
    expect((await evict('a')).statusCode).toBe(201);
    const pdb = (await storage.get('poddisruptionbudgets', 'default', 'b')) as unknown as { status: { disruptionsAllowed: number; disruptedPods: Record<string, string> } };
    expect(pdb.status.disruptionsAllowed).toBe(0);
    expect(Object.keys(pdb.status.disruptedPods)).toEqual(['a']);
    const refused = await evict('b');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ reason: 'TooManyRequests', message: "Cannot evict pod as it would violate the pod's disruption budget.", details: { causes: [{ reason: 'DisruptionBudget' }] } });
    expect(await storage.get('pods', 'default', 'b')).toBeDefined();
  });

  it('a budget not yet observed at its generation refuses; finished pods go without a budget check', async () => {
    await budget({ disruptionsAllowed: 5, observedGeneration: 0 });
    expect((await evict('a')).statusCode).toBe(429);
    await storage.create('pods', readyPod('done', 'Succeeded'));
    expect((await evict('done')).statusCode).toBe(201);
  });

  it('bad input: unknown pod 404, wrong kind or name 400, GET 405', async () => {
    expect((await evict('ghost')).statusCode).toBe(404);
    expect((await evict('a', { kind: 'Pod' })).statusCode).toBe(400);
    const mismatch = await evict('a', { kind: 'Eviction', metadata: { name: 'b' } });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json().message).toContain('does not match');
    expect((await app.inject({ method: 'GET', url: '/api/v1/namespaces/default/pods/a/eviction', headers: auth })).statusCode).toBe(405);
  });
});
