import { randomBytes } from 'node:crypto';
import { etcdEndpoints } from '@flotilla/e2e';
import { describe, expect, it } from 'vitest';
import { runApiserverOp } from '../src/apiserver-bench.js';
import { deletePrefixPaced, etcdClient } from '../src/etcd-baseline.js';

// A seconds-long smoke run of the benchmark machinery against the real
// apiserver process and the test etcd: the benchmarks themselves are run by
// scripts/bench.sh, never by the test suite, and nothing here is timed.
describe('bench smoke', () => {
  it('drives the real apiserver with concurrent GETs and creates and counts every operation', async () => {
    const get = await runApiserverOp('get', 2, 300);
    expect(get.errors).toBe(0);
    expect(get.ops).toBeGreaterThan(0);
    expect(get.latency.count).toBe(get.ops);
    const create = await runApiserverOp('create', 2, 300);
    expect(create.errors).toBe(0);
    expect(create.ops).toBeGreaterThan(0);
  });
});

describe('deletePrefixPaced', () => {
  it('deletes every key under the prefix a chunk at a time and nothing beside it', async () => {
    const etcd = etcdClient(etcdEndpoints());
    const prefix = `/bench-paced-${randomBytes(4).toString('hex')}/`;
    const beside = `${prefix.slice(0, -1)}x`;
    try {
      await Promise.all(Array.from({ length: 250 }, (_, i) => etcd.put(`${prefix}k${i}`).value('v').exec()));
      await etcd.put(beside).value('stays');
      // 250 keys in chunks of 100: three deletions, the last one short.
      expect(await deletePrefixPaced(etcd, prefix, 100, 0)).toBe(250);
      expect(await etcd.getAll().prefix(prefix).count()).toBe(0);
      expect(await etcd.get(beside).string()).toBe('stays');
    } finally {
      await etcd.delete().prefix(prefix);
      await etcd.delete().key(beside);
      etcd.close();
    }
  });
});
