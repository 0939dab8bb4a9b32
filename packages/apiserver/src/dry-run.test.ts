import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApiServer, testPod, type TestApiServer } from './testing/index.js';

const PODS = '/api/v1/namespaces/default/pods';
const SVCS = '/api/v1/namespaces/default/services';
const MERGE = { 'content-type': 'application/merge-patch+json' };

let s: TestApiServer;
beforeEach(async () => {
  s = await startTestApiServer();
});
afterEach(async () => {
  await s.close();
});

describe('dryRun=All (kubectl diff, --dry-run=server)', () => {
  it('create, update, patch and delete answer as usual but write nothing', async () => {
    const c = await s.request('POST', `${PODS}?dryRun=All`, testPod('web'));
    expect(c.status).toBe(201);
    expect(c.body.metadata).toMatchObject({ name: 'web', namespace: 'default' });
    expect(c.body.metadata.uid).toBeTruthy();
    expect((await s.request('GET', `${PODS}/web`)).status).toBe(404);
    const g = await s.request('POST', `${PODS}?dryRun=All`, testPod('', { metadata: { generateName: 'w-' } } as never));
    expect(g.body.metadata.name).toMatch(/^w-[a-z0-9]{5}$/);

    await s.request('POST', PODS, testPod('web'));
    const p = await s.request('PATCH', `${PODS}/web?dryRun=All`, { metadata: { labels: { v: '2' } } }, MERGE);
    expect(p.status).toBe(200);
    expect(p.body.metadata.labels.v).toBe('2');
    expect((await s.request('GET', `${PODS}/web`)).body.metadata.labels.v).toBeUndefined();
    const bad = await s.request('PATCH', `${PODS}/web?dryRun=All`, { spec: { containers: [{ name: 'main', image: '' }] } }, MERGE);
    expect(bad.status).toBe(422);

    expect((await s.request('DELETE', `${PODS}/web?dryRun=All`)).status).toBe(200);
    expect((await s.request('DELETE', `${PODS}?dryRun=All`)).status).toBe(200);
    expect((await s.request('GET', `${PODS}/web`)).status).toBe(200);
    expect((await s.request('POST', `${PODS}?dryRun=yes`, testPod('x'))).status).toBe(400);
  });

  it('a dry-run Service shows its allocation and its conflicts but takes nothing', async () => {
    const dry = await s.request('POST', `${SVCS}?dryRun=All`, { metadata: { name: 'a' }, spec: { type: 'NodePort', clusterIP: '10.96.7.7', ports: [{ port: 80, nodePort: 30077 }] } });
    expect(dry.status).toBe(201);
    expect(dry.body.spec.clusterIP).toBe('10.96.7.7');
    const real = await s.request('POST', SVCS, { metadata: { name: 'a' }, spec: { type: 'NodePort', clusterIP: '10.96.7.7', ports: [{ port: 80, nodePort: 30077 }] } });
    expect(real.status).toBe(201);
    const clash = await s.request('POST', `${SVCS}?dryRun=All`, { metadata: { name: 'b' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30077 }] } });
    expect(clash.status).toBe(422);
    expect(clash.body.message).toContain('provided port is already allocated');
  });
});

describe('dryRun in DeleteOptions (kubectl delete --dry-run=server)', () => {
  it('keeps the object', async () => {
    await s.request('POST', PODS, testPod('keep'));
    const d = await s.request('DELETE', `${PODS}/keep`, { kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'] });
    expect(d.status).toBe(200);
    expect((await s.request('GET', `${PODS}/keep`)).status).toBe(200);
    expect((await s.request('DELETE', `${PODS}/keep`, { dryRun: ['Some'] })).status).toBe(400);
  });
});
