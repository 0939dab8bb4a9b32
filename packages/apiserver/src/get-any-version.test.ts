import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { MemoryStorage, startTestApiServer, testPod, type TestApiServer } from './testing/index.js';

const PODS = '/api/v1/namespaces/default/pods';

/** A storage with a read cache that lags: it holds the first version of each object it was asked to keep. */
class LaggingCacheStorage extends MemoryStorage {
  readonly cache = new Map<string, KubeObject>();
  consistentReads = 0;
  override async get(resource: string, namespace: string | undefined, name: string): Promise<KubeObject> {
    this.consistentReads++;
    return super.get(resource, namespace, name);
  }
  getCached(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const hit = this.cache.get(`${resource}/${namespace ?? ''}/${name}`);
    return hit ? structuredClone(hit) : undefined;
  }
}

let s: TestApiServer | undefined;
afterEach(async () => {
  await s?.close();
});

describe('GET with resourceVersion=0 (any version)', () => {
  it('is answered from the read cache, possibly stale; without it, or when the cache lacks the object, the read is consistent', async () => {
    const storage = new LaggingCacheStorage();
    s = await startTestApiServer({ storage });
    const created = (await s.request('POST', PODS, testPod('web'))).body as KubeObject;
    storage.cache.set('pods/default/web', created);
    const labelled = (await s.request('PATCH', `${PODS}/web`, { metadata: { labels: { v: '2' } } }, { 'content-type': 'application/merge-patch+json' })).body as KubeObject;
    storage.consistentReads = 0;

    const any = await s.request('GET', `${PODS}/web?resourceVersion=0`);
    expect(any.status).toBe(200);
    expect(any.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(storage.consistentReads).toBe(0);

    const latest = await s.request('GET', `${PODS}/web`);
    expect(latest.body.metadata.resourceVersion).toBe(labelled.metadata.resourceVersion);
    expect(storage.consistentReads).toBe(1);

    // Not cached: the consistent read answers (and says NotFound for what does not exist).
    expect((await s.request('POST', PODS, testPod('api'))).status).toBe(201);
    storage.consistentReads = 0;
    expect((await s.request('GET', `${PODS}/api?resourceVersion=0`)).body.metadata.name).toBe('api');
    expect((await s.request('GET', `${PODS}/nope?resourceVersion=0`)).status).toBe(404);
    expect(storage.consistentReads).toBe(2);
  });
});
