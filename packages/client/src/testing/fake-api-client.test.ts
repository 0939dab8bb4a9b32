import { ApiError, type Deployment, type Pod } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { FakeApiClient } from './fake-api-client.js';

const pod = (name: string, labels: Record<string, string> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: 'ns', name, labels },
  spec: { containers: [{ name: 'c', image: 'i' }] },
});

const code = (p: Promise<unknown>) => p.then(() => 0, (e: unknown) => (e instanceof ApiError ? e.code : -1));

describe('FakeApiClient', () => {
  it('records writes (not reads or seeds) so a test can assert the exact actions', async () => {
    const fake = new FakeApiClient({ objects: [pod('seeded')] });
    const pods = fake.resource<Pod>('pods');
    await pods.get('ns', 'seeded');
    await pods.create(pod('new'));
    await pods.patch('ns', 'new', { metadata: { labels: { a: 'b' } } });
    await fake.bind('ns', 'new', 'n1');
    await pods.delete('ns', 'seeded');
    expect(fake.actions.map((a) => [a.verb, a.resource, a.subresource, a.name])).toEqual([
      ['create', 'pods', undefined, 'new'],
      ['patch', 'pods', undefined, 'new'],
      ['create', 'pods', 'binding', 'new'],
      ['delete', 'pods', undefined, 'seeded'],
    ]);
  });

  it('enforces compare-and-swap on resourceVersion and AlreadyExists/NotFound', async () => {
    const fake = new FakeApiClient();
    const pods = fake.resource<Pod>('pods');
    const a = await pods.create(pod('a'));
    expect(await code(pods.create(pod('a')))).toBe(409);
    await pods.update({ ...a, metadata: { ...a.metadata, labels: { v: '1' } } });
    expect(await code(pods.update({ ...a, metadata: { ...a.metadata, labels: { v: 'stale' } } }))).toBe(409);
    expect(await code(pods.get('ns', 'missing'))).toBe(404);
    expect(await code(fake.bind('ns', 'a', 'n1'))).toBe(0);
    expect(await code(fake.bind('ns', 'a', 'n2'))).toBe(409);
  });

  it('keeps status out of main-resource updates and spec out of status updates; bumps generation on spec change', async () => {
    const fake = new FakeApiClient();
    const pods = fake.resource<Pod>('pods');
    const a = await pods.create(pod('a'));
    const withStatus = await pods.updateStatus({ ...a, status: { phase: 'Running' } });
    expect(withStatus.status?.phase).toBe('Running');
    expect(withStatus.metadata.generation).toBe(1);
    const u = await pods.update({ ...withStatus, status: { phase: 'Failed' }, spec: { ...withStatus.spec!, nodeName: 'x' } });
    expect(u.status?.phase).toBe('Running');
    expect(u.metadata.generation).toBe(2);
  });

  it('deletes in two steps while finalizers remain', async () => {
    const fake = new FakeApiClient();
    const pods = fake.resource<Pod>('pods');
    const p = pod('f');
    p.metadata.finalizers = ['x/y'];
    await pods.create(p);
    const marked = await pods.delete('ns', 'f');
    expect(marked?.metadata.deletionTimestamp).toBeTruthy();
    expect(fake.peek('pods', 'ns', 'f')).toBeDefined();
    await pods.patch('ns', 'f', [{ op: 'remove', path: '/metadata/finalizers' }], 'json');
    expect(fake.peek('pods', 'ns', 'f')).toBeUndefined();
  });

  it('lists with label and field selectors and pages', async () => {
    const fake = new FakeApiClient({ objects: [pod('a', { app: 'web' }), pod('b', { app: 'db' }), pod('c', { app: 'web' })] });
    const pods = fake.resource<Pod>('pods');
    expect((await pods.list('ns', { labelSelector: 'app in (web)' })).items.map((p) => p.metadata.name)).toEqual(['a', 'c']);
    expect((await pods.list(undefined, { fieldSelector: 'metadata.name!=a' })).items.map((p) => p.metadata.name)).toEqual(['b', 'c']);
    const p1 = await pods.list('ns', { limit: 2 });
    const p2 = await pods.list('ns', { limit: 2, continue: p1.metadata.continue });
    expect([...p1.items, ...p2.items].map((p) => p.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(p2.metadata.continue).toBeUndefined();
  });

  it('serves the scale subresource', async () => {
    const d: Deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: 'ns', name: 'd' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [] } } },
    };
    const fake = new FakeApiClient({ objects: [d] });
    const deps = fake.resource<Deployment>('deployments');
    const s = await deps.getScale('ns', 'd');
    expect(s.spec?.replicas).toBe(2);
    expect(s.status?.selector).toBe('app=d');
    await deps.updateScale('ns', 'd', { ...s, spec: { replicas: 5 } });
    expect(fake.peek<Deployment>('deployments', 'ns', 'd')?.spec?.replicas).toBe(5);
  });

  it('lets a reactor inject failures', async () => {
    const fake = new FakeApiClient();
    fake.prependReactor((a) => {
      if (a.verb === 'create' && a.resource === 'pods') throw new ApiError('ServiceUnavailable', 'etcd down');
    });
    expect(await code(fake.resource('pods').create(pod('a')))).toBe(503);
  });
});
