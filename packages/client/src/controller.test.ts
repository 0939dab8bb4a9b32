import type { Pod } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { Controller } from './controller.js';
import { Informer } from './informer.js';
import { ItemExponentialRateLimiter } from './rate-limiter.js';
import { FakeApiClient } from './testing/fake-api-client.js';
import { FakeClock } from './testing/fake-clock.js';
import { waitFor } from './testing/wait-for.js';
import { WorkQueue } from './workqueue.js';

const pod = (name: string): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name }, spec: { containers: [] } });

describe('Controller', () => {
  it('reconciles only after its informers synced, with keys from handlers', async () => {
    const fake = new FakeApiClient({ objects: [pod('a'), pod('b')] });
    const inf = new Informer<Pod>(fake, 'pods');
    const seen: Array<{ key: string; cached: boolean }> = [];
    const c = new Controller({
      name: 'test',
      workers: 2,
      informers: [inf],
      reconcile: async (key) => {
        seen.push({ key, cached: inf.store.get(key) !== undefined });
      },
    });
    inf.addEventHandler({ onAdd: (o) => c.enqueue(o), onUpdate: (_o, n) => c.enqueue(n) });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([]); // informer not started: no reconcile
    inf.start(ac.signal);
    await waitFor(() => seen.length === 2);
    expect(seen.every((s) => s.cached)).toBe(true);
    expect(seen.map((s) => s.key).sort()).toEqual(['ns/a', 'ns/b']);
    ac.abort();
    await running;
  });

  it('retries a failing key with growing back-off and forgets it after success', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ clock, rateLimiter: new ItemExponentialRateLimiter(100, 10_000) });
    const attempts: number[] = [];
    const c = new Controller({
      name: 'retry',
      queue,
      reconcile: async () => {
        attempts.push(clock.now());
        if (attempts.length < 4) throw new Error('boom');
        return { requeueAfter: 60_000 };
      },
    });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.enqueue('ns/x');
    await clock.tick(0);
    await clock.tick(100);
    await clock.tick(200);
    await clock.tick(400);
    const t0 = attempts[0]!;
    expect(attempts.map((t) => t - t0)).toEqual([0, 100, 300, 700]);
    expect(queue.numRequeues('ns/x')).toBe(0); // forgotten on success
    await clock.tick(60_000); // requeueAfter
    expect(attempts).toHaveLength(5);
    ac.abort();
    await running;
  });

  it('on abort lets the running reconcile finish and takes no new keys', async () => {
    let release!: () => void;
    const started: string[] = [];
    const finished: string[] = [];
    const c = new Controller({
      name: 'stop',
      reconcile: async (key) => {
        started.push(key);
        await new Promise<void>((r) => (release = r));
        finished.push(key);
      },
    });
    const ac = new AbortController();
    const running = c.run(ac.signal);
    c.enqueue('k1');
    c.enqueue('k2');
    await waitFor(() => started.length === 1);
    ac.abort();
    let done = false;
    void running.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false); // still waiting for k1
    release();
    await running;
    expect(finished).toEqual(['k1']);
    expect(started).toEqual(['k1']);
    expect(c.queue.isShuttingDown()).toBe(true);
  });

  it('enqueueOwner queues the controller owner key, filtered by kind', async () => {
    const c = new Controller({ name: 'own', reconcile: async () => {} });
    const p = pod('p');
    p.metadata.ownerReferences = [
      { apiVersion: 'v1', kind: 'Other', name: 'o', uid: '1' },
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: '2', controller: true },
    ];
    c.enqueueOwner(p, 'Deployment');
    expect(c.queue.len()).toBe(0);
    c.enqueueOwner(p, 'ReplicaSet');
    expect(await c.queue.get()).toBe('ns/rs');
  });
});
