import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, openWatch, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';

// Events expire (kube-apiserver's --event-ttl, 1 h by default): a cluster
// that runs for months does not keep every Event it ever recorded.

const ns = 'e2e-event-ttl';

describe('flotilla apiserver --event-ttl', () => {
  let s: TestApiServer;

  beforeAll(async () => {
    s = await startApiServer({ extraArgs: ['--event-ttl', '2s'] });
    const res = await apiRequest(s.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('deletes an Event its TTL after its last write, as a watcher sees; a ConfigMap made with it stays', async () => {
    const base = `/api/v1/namespaces/${ns}/events`;
    const list = await apiRequest(s.endpoint(), 'GET', base);
    const watch = await openWatch(s.endpoint(), `${base}?watch=1&resourceVersion=${list.json().metadata.resourceVersion}`);
    try {
      const made = Date.now();
      const ev = await apiRequest(s.endpoint(), 'POST', base, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'web.started' },
        involvedObject: { kind: 'Pod', namespace: ns, name: 'web' },
        reason: 'Started',
        message: 'Started container web',
        type: 'Normal',
      });
      expect(ev.status, ev.text).toBe(201);
      const cm = await apiRequest(s.endpoint(), 'POST', `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stays' }, data: { a: '1' } });
      expect(cm.status, cm.text).toBe(201);
      const deleted = await waitFor(() => watch.events.find((e) => e.type === 'DELETED' && e.object?.metadata?.name === 'web.started'), { timeout: 20_000, message: 'the Event DELETED by its TTL' });
      expect(Date.now() - made).toBeGreaterThanOrEqual(2000);
      expect(deleted.object.reason).toBe('Started');
      expect((await apiRequest(s.endpoint(), 'GET', `${base}/web.started`)).status).toBe(404);
      expect((await apiRequest(s.endpoint(), 'GET', `/api/v1/namespaces/${ns}/configmaps/stays`)).status).toBe(200);
    } finally {
      watch.close();
    }
  });
});
