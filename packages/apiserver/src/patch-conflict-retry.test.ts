import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { conflict, type KubeObject } from '@flotilla/api';
import { MemoryStorage, startTestApiServer, testPod, type TestApiServer } from './testing/index.js';

const PODS = '/api/v1/namespaces/default/pods';
const TYPES = {
  merge: { 'content-type': 'application/merge-patch+json' },
  strategic: { 'content-type': 'application/strategic-merge-patch+json' },
  json: { 'content-type': 'application/json-patch+json' },
};

/**
 * MemoryStorage answers reads without yielding, so concurrent writers never
 * interleave; a read that takes a few ms (as an etcd round trip does) lets
 * them all read the same version and conflict, as they do in production.
 */
class SlowReadStorage extends MemoryStorage {
  override async get(resource: string, namespace: string | undefined, name: string): Promise<KubeObject> {
    const obj = await super.get(resource, namespace, name);
    await sleep(1 + Math.floor(Math.random() * 3));
    return obj;
  }
}

let s: TestApiServer;
beforeEach(async () => {
  s = await startTestApiServer({ storage: new SlowReadStorage() });
});
afterEach(async () => {
  await s.close();
});

/** A patch setting label `l<i>` in the given patch type. */
function labelPatch(type: keyof typeof TYPES, i: number): unknown {
  if (type === 'json') return [{ op: 'add', path: `/metadata/labels/l${i}`, value: String(i) }];
  return { metadata: { labels: { [`l${i}`]: String(i) } } };
}

describe('PATCH without a resourceVersion (unconditional) under contention', () => {
  it('30 concurrent merge patches on one pod all succeed and every label lands', async () => {
    expect((await s.request('POST', PODS, testPod('web'))).status).toBe(201);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => s.request('PATCH', `${PODS}/web`, labelPatch('merge', i), TYPES.merge)));
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(200));
    const labels = (await s.request('GET', `${PODS}/web`)).body.metadata.labels;
    for (let i = 0; i < 30; i++) expect(labels[`l${i}`]).toBe(String(i));
  });

  it('concurrent merge, strategic and JSON patches all apply', async () => {
    expect((await s.request('POST', PODS, testPod('web'))).status).toBe(201);
    const types = Object.keys(TYPES) as Array<keyof typeof TYPES>;
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const type = types[i % types.length]!;
        return s.request('PATCH', `${PODS}/web`, labelPatch(type, i), TYPES[type]);
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(200));
    const labels = (await s.request('GET', `${PODS}/web`)).body.metadata.labels;
    expect(Object.keys(labels).sort()).toEqual(['app', ...Array.from({ length: 30 }, (_, i) => `l${i}`)].sort());
  });

  it('a patch carrying a stale resourceVersion still fails with 409 at once', async () => {
    const created = await s.request('POST', PODS, testPod('web'));
    const rv = created.body.metadata.resourceVersion as string;
    expect((await s.request('PATCH', `${PODS}/web`, { metadata: { labels: { a: '1' } } }, TYPES.merge)).status).toBe(200);
    const started = Date.now();
    const stale = await s.request('PATCH', `${PODS}/web`, { metadata: { resourceVersion: rv, labels: { b: '1' } } }, TYPES.merge);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await s.request('GET', `${PODS}/web`)).body.metadata.labels.b).toBeUndefined();
  });

  it('gives up with 409 after a bounded number of tries when every write conflicts', async () => {
    class AlwaysConflicting extends MemoryStorage {
      updates = 0;
      override async update(resource: string, obj: KubeObject): Promise<KubeObject> {
        if (obj.metadata.labels?.stuck) {
          this.updates++;
          throw conflict(resource, obj.metadata.name ?? '', 'the object has been modified');
        }
        return super.update(resource, obj);
      }
    }
    const storage = new AlwaysConflicting();
    const srv = await startTestApiServer({ storage });
    try {
      expect((await srv.request('POST', PODS, testPod('web'))).status).toBe(201);
      const res = await srv.request('PATCH', `${PODS}/web`, { metadata: { labels: { stuck: '1' } } }, TYPES.merge);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ kind: 'Status', reason: 'Conflict' });
      expect(storage.updates).toBeGreaterThan(5);
      expect(storage.updates).toBeLessThanOrEqual(101);
    } finally {
      await srv.close();
    }
  }, 20_000);
});
