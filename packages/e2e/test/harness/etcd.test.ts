import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { countEtcdPrefix, deleteEtcdPrefix, etcdEndpoints, freePort, startPrivateEtcd } from '../../src/index.js';

// The clean-up every e2e test relies on: deleting a prefix removes exactly
// the keys under it, against the real etcd.

const put = async (key: string, value: string) => {
  const res = await fetch(`${etcdEndpoints()[0]}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') }),
  });
  expect(res.status).toBe(200);
};

describe('deleteEtcdPrefix', () => {
  const base = `/e2e-harness-${randomBytes(6).toString('hex')}`;
  afterEach(async () => {
    await deleteEtcdPrefix(etcdEndpoints(), base);
  });

  it('deletes the keys under the prefix and nothing beside it', async () => {
    await put(`${base}/a/1`, 'x');
    await put(`${base}/a/2`, 'x');
    await put(`${base}/ab/1`, 'x');
    expect(await countEtcdPrefix(etcdEndpoints(), `${base}/a/`)).toBe(2);
    expect(await deleteEtcdPrefix(etcdEndpoints(), `${base}/a/`)).toBe(2);
    expect(await countEtcdPrefix(etcdEndpoints(), `${base}/a/`)).toBe(0);
    expect(await countEtcdPrefix(etcdEndpoints(), `${base}/ab/`)).toBe(1);
  });

  it('deletes a prefix of more keys than one deletion takes, in several, and nothing beside it', async () => {
    // 1,000 keys: two full chunks of 400 and a last one of 200.
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => put(`${base}/many/${i + j}`, 'x')));
    await put(`${base}/manyx`, 'x');
    expect(await deleteEtcdPrefix(etcdEndpoints(), `${base}/many/`)).toBe(1000);
    expect(await countEtcdPrefix(etcdEndpoints(), `${base}/many/`)).toBe(0);
    expect(await countEtcdPrefix(etcdEndpoints(), `${base}/manyx`)).toBe(1);
  });

  it('refuses to delete the whole keyspace', async () => {
    await expect(deleteEtcdPrefix(etcdEndpoints(), '/')).rejects.toThrow(/refusing/);
  });
});

describe('startPrivateEtcd', () => {
  // Ports come from freePort(): another test's etcd can take one between the pick and the bind.
  // The new member then exits, but the other etcd answers on that port; the harness must not
  // hand that etcd out as the test's own (a test that freezes or kills "its" etcd would act on a
  // process that serves nothing).
  it('refuses to start on a client port another etcd already serves, rather than handing that etcd out', async () => {
    const first = await startPrivateEtcd();
    try {
      const taken = Number(new URL(first.endpoint).port);
      await expect(startPrivateEtcd({ ports: { client: taken, peer: await freePort() } })).rejects.toThrow(/etcd exited: .*address already in use/s);
      // The first is untouched.
      const res = await fetch(`${first.endpoint}/health`);
      expect(res.ok).toBe(true);
    } finally {
      await first.close();
    }
  }, 60_000);
});
