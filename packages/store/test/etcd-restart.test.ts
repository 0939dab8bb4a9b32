import { startPrivateEtcd, type PrivateEtcd } from '@flotilla/e2e';
import { createLogger } from '@flotilla/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStorage, type StoreWatchEvent } from '../src/index.js';
import { eventually, pod, rejection } from './helpers.js';

// A private etcd (its own ports and data dir) that this test may stop and
// start; the shared test etcd is never touched.
describe('EtcdStorage across an etcd restart', () => {
  let etcd: PrivateEtcd;
  const start = () => etcd.start();
  const stop = () => etcd.kill();

  beforeAll(async () => {
    etcd = await startPrivateEtcd();
  });
  afterAll(async () => {
    await etcd?.close();
  });

  it('answers 503 while etcd is down, then works again and the shared watch resumes without losing events', async () => {
    const s = new EtcdStorage({ endpoints: [etcd.endpoint], prefix: '/flotilla-restart', requestTimeoutMs: 2000, logger: createLogger('store-test', { level: 'error' }) });
    try {
      await eventually(async () => (await s.currentRevision().catch(() => undefined)) !== undefined, 20_000, 'private etcd to start');
      const events: StoreWatchEvent[] = [];
      const ac = new AbortController();
      void (async () => {
        for await (const e of s.watch('pods', undefined, { signal: ac.signal })) events.push(e);
      })().catch(() => undefined);
      await eventually(async () => {
        await s.create('pods', pod('default', `before-${Date.now()}`));
        return events.length > 0;
      });

      await stop();
      const started = Date.now();
      expect((await rejection(s.get('pods', 'default', 'x'))).code).toBe(503);
      expect(Date.now() - started).toBeLessThan(10_000);

      await start();
      // Writes succeed again once etcd is back...
      await eventually(async () => (await s.create('pods', pod('default', 'after-1')).then(() => true, () => false)), 30_000, 'etcd back');
      await s.create('pods', pod('default', 'after-2'));
      // ...and the same watch delivers them, in order, with nothing lost.
      await eventually(() => events.some((e) => e.object.metadata.name === 'after-2'), 30_000, 'watch to resume');
      const names = events.map((e) => e.object.metadata.name!).filter((n) => n.startsWith('after-'));
      expect(names).toEqual(['after-1', 'after-2']);
      const revs = events.map((e) => Number(e.object.metadata.resourceVersion));
      expect(revs).toEqual([...revs].sort((a, b) => a - b));
      ac.abort();
    } finally {
      await s.close();
    }
  }, 90_000);
});
