import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApiServer, type TestApiServer } from './testing/index.js';

const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';
const APPLY = { 'content-type': 'application/apply-patch+yaml' };

const manifest = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: x}]
`;

let s: TestApiServer;
beforeEach(async () => {
  s = await startTestApiServer();
});
afterEach(async () => {
  await s.close();
});

describe('server-side apply over HTTP', () => {
  it('needs a fieldManager (422) and refuses force on other patch types (422)', async () => {
    const r = await s.request('PATCH', `${DEPLOYS}/web`, manifest(1), APPLY);
    expect(r.status).toBe(422);
    expect(r.body.details.causes).toEqual([{ reason: 'FieldValueRequired', field: 'fieldManager', message: 'is required for apply patch' }]);
    const f = await s.request('PATCH', `${DEPLOYS}/web?force=true`, {}, { 'content-type': 'application/merge-patch+json' });
    expect(f.status).toBe(422);
  });

  it('creates (201), updates (200), conflicts (409) and forces; a dry run changes nothing', async () => {
    const c = await s.request('PATCH', `${DEPLOYS}/web?fieldManager=a`, manifest(2), APPLY);
    expect(c.status).toBe(201);
    expect(c.body.metadata.managedFields).toMatchObject([{ manager: 'a', operation: 'Apply' }]);
    expect(c.body.spec.strategy.type).toBe('RollingUpdate');
    const u = await s.request('PATCH', `${DEPLOYS}/web?fieldManager=a`, manifest(3), APPLY);
    expect(u.status).toBe(200);
    expect(u.body.spec.replicas).toBe(3);
    const x = await s.request('PATCH', `${DEPLOYS}/web?fieldManager=b`, manifest(4), APPLY);
    expect(x.status).toBe(409);
    expect(x.body).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409, message: 'Apply failed with 1 conflict: conflict with "a": .spec.replicas' });
    const dry = await s.request('PATCH', `${DEPLOYS}/web?fieldManager=b&force=true&dryRun=All`, manifest(4), APPLY);
    expect(dry.status).toBe(200);
    expect(dry.body.spec.replicas).toBe(4);
    expect((await s.request('GET', `${DEPLOYS}/web`)).body.spec.replicas).toBe(3);
    const forced = await s.request('PATCH', `${DEPLOYS}/web?fieldManager=b&force=true`, manifest(4), APPLY);
    expect(forced.status).toBe(200);
    expect(forced.body.spec.replicas).toBe(4);
    expect(forced.body.metadata.managedFields.map((m: { manager: string }) => m.manager)).toEqual(['a', 'b']);
  });

  it('records an update under its fieldManager or its user agent\'s program name, and keeps the others', async () => {
    const body = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'x' }] } } } };
    const c = await s.request('POST', DEPLOYS, body, { 'user-agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/abc' });
    expect(c.body.metadata.managedFields).toMatchObject([{ manager: 'kubectl', operation: 'Update', apiVersion: 'apps/v1' }]);
    const p = await s.request('PATCH', `${DEPLOYS}/web?fieldManager=scaler`, { spec: { replicas: 7 } }, { 'content-type': 'application/merge-patch+json' });
    const entries = p.body.metadata.managedFields as Array<{ manager: string; fieldsV1: any }>;
    expect(entries.map((e) => e.manager)).toEqual(['kubectl', 'scaler']);
    expect(entries[1]!.fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
  });
});

describe('server-side apply of status', () => {
  it('applies status through /status, owned by a status manager, leaving spec alone', async () => {
    await s.request('PATCH', `${DEPLOYS}/web?fieldManager=a`, manifest(2), APPLY);
    const st = await s.request('PATCH', `${DEPLOYS}/web/status?fieldManager=ctl`, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nstatus: {replicas: 2, readyReplicas: 1}\n', APPLY);
    expect(st.status).toBe(200);
    expect(st.body.status).toMatchObject({ replicas: 2, readyReplicas: 1 });
    expect(st.body.spec.replicas).toBe(2);
    const ctl = st.body.metadata.managedFields.find((m: { manager: string }) => m.manager === 'ctl');
    expect(ctl).toMatchObject({ operation: 'Apply', subresource: 'status', fieldsV1: { 'f:status': { 'f:replicas': {}, 'f:readyReplicas': {} } } });
  });
});
