import type { Secret } from '@flotilla/api';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeCluster, type FakeCluster } from '../fixtures.js';
import { BOOTSTRAP_TOKEN_SECRET_TYPE, TokenCleanerController, tokenExpiration } from './tokencleaner-controller.js';

let cluster: FakeCluster | undefined;
afterEach(() => cluster?.stop());

const b64 = (s: string) => Buffer.from(s).toString('base64');
const token = (id: string, expiration?: string, meta: Partial<Secret['metadata']> = {}, type: string = BOOTSTRAP_TOKEN_SECRET_TYPE): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system', uid: `uid-${id}`, ...meta },
  type,
  data: { 'token-id': b64(id), 'token-secret': b64('0123456789abcdef'), ...(expiration !== undefined ? { expiration: b64(expiration) } : {}) },
});

async function setup(objects: Secret[]) {
  cluster = fakeCluster(objects);
  const c = new TokenCleanerController({ ...cluster.deps });
  await cluster.sync();
  return { cluster, c };
}

describe('tokenExpiration', () => {
  it('reads RFC 3339 times, no expiration as never, anything else as unreadable', () => {
    expect(tokenExpiration(token('a', '2024-01-01T00:00:10Z'))).toBe(Date.UTC(2024, 0, 1, 0, 0, 10));
    expect(tokenExpiration(token('a', '2024-01-01T01:00:10+01:00'))).toBe(Date.UTC(2024, 0, 1, 0, 0, 10));
    expect(tokenExpiration(token('a'))).toBe('never');
    expect(tokenExpiration(token('a', 'tomorrow'))).toBe('unreadable');
    expect(tokenExpiration(token('a', '2024-01-01'))).toBe('unreadable');
  });
});

describe('TokenCleanerController.sync', () => {
  // The fake clock starts at 2024-01-01T00:00:00Z.
  it('deletes an expired token', async () => {
    const { cluster, c } = await setup([token('old001', '2023-12-31T23:59:59Z')]);
    await c.sync('kube-system/bootstrap-token-old001');
    expect(cluster.writes()).toEqual(['delete secrets kube-system/bootstrap-token-old001']);
    expect(cluster.client.peek('secrets', 'kube-system', 'bootstrap-token-old001')).toBeUndefined();
  });

  it('treats an unreadable expiration as expired, as Kubernetes does', async () => {
    const { cluster, c } = await setup([token('bad001', 'soon')]);
    await c.sync('kube-system/bootstrap-token-bad001');
    expect(cluster.writes()).toEqual(['delete secrets kube-system/bootstrap-token-bad001']);
  });

  it('looks again at a live token exactly when it expires, and leaves one without expiration alone', async () => {
    const { cluster, c } = await setup([token('new001', '2024-01-01T00:00:30Z'), token('forevr')]);
    expect(await c.sync('kube-system/bootstrap-token-new001')).toEqual({ requeueAfter: 30_000 });
    expect(await c.sync('kube-system/bootstrap-token-forevr')).toBeUndefined();
    cluster.clock.advance(30_000);
    await c.sync('kube-system/bootstrap-token-new001');
    expect(cluster.writes()).toEqual(['delete secrets kube-system/bootstrap-token-new001']);
  });

  it('leaves Secrets of another type alone, even with an expiration', async () => {
    const { cluster, c } = await setup([token('opaque', '2000-01-01T00:00:00Z', {}, 'Opaque')]);
    await c.sync('kube-system/bootstrap-token-opaque');
    expect(cluster.writes()).toEqual([]);
  });
});
