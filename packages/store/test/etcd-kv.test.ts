/**
 * The lean etcd KV client (src/etcd-kv.ts) against real etcd processes of
 * this test's own: failover between members (calls and the watch stream),
 * a deadline on a frozen etcd, an unreachable first endpoint, and a range
 * far beyond gRPC's default 4 MiB message limit.
 */
import { freePort, freezeProcess, startPrivateEtcd, startPrivateEtcdCluster, type PrivateEtcd, type PrivateEtcdCluster } from '@flotilla/e2e';
import { createLogger } from '@flotilla/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCallError, EtcdKv } from '../src/etcd-kv.js';
import { prefixRangeEnd } from '../src/keys.js';
import { WatchStream } from '../src/watch-stream.js';
import { EtcdStorage } from '../src/index.js';
import { eventually, pod, rejection, uniquePrefix } from './helpers.js';

const quiet = createLogger('etcd-kv-test', { level: 'error' });

describe('EtcdKv on a 3-member cluster', () => {
  let cluster: PrivateEtcdCluster;
  beforeAll(async () => {
    cluster = await startPrivateEtcdCluster(3);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('fails over to another member when the one it talks to is killed, with no write lost', async () => {
    const kv = new EtcdKv({ endpoints: cluster.endpoints, requestTimeoutMs: 3000, logger: quiet });
    const store = new EtcdStorage({ endpoints: cluster.endpoints, prefix: uniquePrefix(), requestTimeoutMs: 3000, logger: quiet, readCache: false });
    try {
      const key = Buffer.from('/etcd-kv-test/failover');
      const put = await kv.txn({ compare: [], success: [{ request_put: { key, value: Buffer.from('one') } }], failure: [] });
      expect(put.succeeded).toBe(true);
      await store.create('pods', pod('default', 'before'));
      const first = kv.connectedEndpoint!;
      expect(cluster.endpoints).toContain(first);

      await cluster.members[cluster.endpoints.indexOf(first)]!.kill();
      // A leader election may be under way: "no leader" / "leader changed" are 503s until it ends.
      let read: Awaited<ReturnType<EtcdKv['range']>> | undefined;
      await eventually(async () => (read = await kv.range({ key }).catch(() => undefined)) !== undefined, 20_000, 'a read through another member');
      expect(read!.kvs[0]!.value.toString()).toBe('one');
      expect(kv.connectedEndpoint).toBeDefined();
      expect(kv.connectedEndpoint).not.toBe(first);
      await eventually(async () => (await store.create('pods', pod('default', 'after')).catch(() => undefined)) !== undefined, 20_000, 'a create through the store');
      expect((await store.get('pods', 'default', 'before')).metadata.name).toBe('before');
      expect((await store.list('pods', 'default')).items.map((p) => p.metadata.name).sort()).toEqual(['after', 'before']);
    } finally {
      kv.close();
      await store.close();
    }
  });
});

describe('EtcdKv watch stream on a 3-member cluster', () => {
  let cluster: PrivateEtcdCluster;
  beforeAll(async () => {
    cluster = await startPrivateEtcdCluster(3);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('resumes a watch on another member when the one its stream talks to is killed, missing and repeating nothing', async () => {
    const writer = new EtcdKv({ endpoints: cluster.endpoints, requestTimeoutMs: 3000, logger: quiet });
    const watcher = new EtcdKv({ endpoints: cluster.endpoints, requestTimeoutMs: 3000, logger: quiet });
    const stream = new WatchStream((h) => watcher.openWatch(h), quiet);
    const prefix = `${uniquePrefix()}/`;
    const seen: string[] = [];
    const put = async (name: string) => {
      await eventually(async () => (await writer.txn({ compare: [], success: [{ request_put: { key: Buffer.from(prefix + name), value: Buffer.from(name) } }], failure: [] }).catch(() => undefined)) !== undefined, 20_000, `put ${name}`);
    };
    try {
      const start = Number((await writer.range({ key: prefix })).header.revision) + 1;
      let created = 0;
      stream.watch(
        { key: Buffer.from(prefix), rangeEnd: prefixRangeEnd(prefix), startRevision: start },
        {
          onCreated: () => created++,
          onEvents: (events) => seen.push(...events.map((e) => `${e.type} ${e.kv.value.toString()}`)),
          onCanceled: (rev, why) => seen.push(`canceled ${rev} ${why}`),
        },
      );
      for (let i = 0; i < 5; i++) await put(`a${i}`);
      await eventually(() => seen.length === 5, 10_000, 'the first events');
      const first = watcher.connectedEndpoint!;
      await cluster.members[cluster.endpoints.indexOf(first)]!.kill();
      for (let i = 0; i < 5; i++) await put(`b${i}`);
      await eventually(() => seen.length === 10, 30_000, 'the events after the kill');
      expect(seen).toEqual([...[0, 1, 2, 3, 4].map((i) => `Put a${i}`), ...[0, 1, 2, 3, 4].map((i) => `Put b${i}`)]);
      expect(watcher.connectedEndpoint).not.toBe(first);
      expect(created).toBeGreaterThanOrEqual(2);
    } finally {
      stream.close();
      watcher.close();
      writer.close();
    }
  });
});

describe('EtcdKv on one etcd', () => {
  let etcd: PrivateEtcd;
  beforeAll(async () => {
    etcd = await startPrivateEtcd();
  });
  afterAll(async () => {
    const pid = etcd?.pid();
    if (pid) process.kill(pid, 'SIGCONT'); // never leave it frozen
    await etcd?.close();
  });

  it('skips an endpoint nobody listens on', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const kv = new EtcdKv({ endpoints: [dead, etcd.endpoint, dead], requestTimeoutMs: 3000, logger: quiet });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await kv.range({ key: '/etcd-kv-test/none' });
        expect(res.kvs).toEqual([]);
        expect(Number(res.header.revision)).toBeGreaterThan(0);
      }
      expect(kv.connectedEndpoint).toBe(etcd.endpoint);
    } finally {
      kv.close();
    }
  });

  it('gives up at the deadline on a frozen etcd (503 from the store), says so in its log, and works again once it answers', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('etcd-kv-test', { level: 'warn', destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
    const store = new EtcdStorage({ endpoints: [etcd.endpoint], prefix: uniquePrefix(), requestTimeoutMs: 500, logger, readCache: false });
    try {
      await store.create('pods', pod('default', 'a'));
      const pid = etcd.pid()!;
      await freezeProcess(pid);
      try {
        const started = Date.now();
        const err = await rejection(store.get('pods', 'default', 'a'));
        expect(err.code).toBe(503);
        expect(err.message).toMatch(/DEADLINE_EXCEEDED/);
        // One try and one retry, each bounded by the deadline.
        expect(Date.now() - started).toBeLessThan(5000);
        // Each miss is a warning naming the call and that nothing at all came back.
        const missed = lines.filter((l) => l.msg === 'etcd call missed its deadline');
        expect(missed).toHaveLength(2);
        for (const l of missed) {
          expect(l).toMatchObject({ call: '/etcdserverpb.KV/Range', bytes: 0 });
          expect(l.answeredAfterMs).toBeUndefined();
        }
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await eventually(async () => (await store.get('pods', 'default', 'a').catch(() => undefined)) !== undefined, 20_000, 'etcd to answer again');
    } finally {
      await store.close();
    }
  });

  it('takes an answer that came in while this process was stalled past the deadline, instead of calling it late and retrying', async () => {
    const kv = new EtcdKv({ endpoints: [etcd.endpoint], requestTimeoutMs: 300, logger: quiet });
    const pid = etcd.pid()!;
    try {
      await kv.range({ key: '/etcd-kv-test/stall' }); // connected
      await freezeProcess(pid);
      const call = kv.range({ key: '/etcd-kv-test/stall' }).then(
        (res) => ({ res }),
        (err: unknown) => ({ err }),
      );
      await new Promise((resolve) => setTimeout(resolve, 50)); // the request is in etcd's socket
      // etcd goes on and this process stalls (as in a long GC pause) past the 300 ms deadline while etcd
      // answers. The stall runs in the loop's check phase, so the next turn starts with timers (the
      // deadline), and only then reads sockets: as after a stall in any I/O callback.
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          process.kill(pid, 'SIGCONT');
          const until = Date.now() + 700;
          while (Date.now() < until) {
            // busy
          }
          resolve();
        }),
      );
      const outcome = await call;
      expect(outcome).toHaveProperty('res');
      expect(kv.stats.retries).toBe(0);
    } finally {
      process.kill(pid, 'SIGCONT');
      kv.close();
    }
  });

  it('reads a range of 10,000 keys (~20 MB, far beyond gRPC\'s default 4 MiB) in one response', async () => {
    const kv = new EtcdKv({ endpoints: [etcd.endpoint], requestTimeoutMs: 30_000, logger: quiet });
    const prefix = `${uniquePrefix()}/`;
    const value = Buffer.alloc(2000, 'v');
    try {
      const n = 10_000;
      const perTxn = 100; // etcd's --max-txn-ops is 128
      const txns: Promise<unknown>[] = [];
      for (let i = 0; i < n; i += perTxn) {
        const success = Array.from({ length: perTxn }, (_, j) => ({ request_put: { key: `${prefix}${String(i + j).padStart(6, '0')}`, value } }));
        txns.push(kv.txn({ success }));
      }
      await Promise.all(txns);
      const res = await kv.range({ key: prefix, range_end: prefixRangeEnd(prefix) });
      expect(res.kvs).toHaveLength(n);
      expect(res.count).toBe(String(n));
      expect(res.more).toBe(false);
      expect(res.kvs[n - 1]!.key.toString()).toBe(`${prefix}009999`);
      expect(res.kvs.every((kv) => kv.value.equals(value))).toBe(true);
      const page = await kv.range({ key: prefix, range_end: prefixRangeEnd(prefix), limit: 10 });
      expect(page.kvs).toHaveLength(10);
      expect(page.more).toBe(true);
      expect(page.count).toBe(String(n));
      // A response over the client's limit is refused, not buffered without bound.
      const small = new EtcdKv({ endpoints: [etcd.endpoint], maxReceiveMessageBytes: 1024 * 1024, logger: quiet });
      try {
        const err = await rejection(small.range({ key: prefix, range_end: prefixRangeEnd(prefix) }));
        expect(err).toBeInstanceOf(EtcdCallError);
        expect(err.message).toMatch(/RESOURCE_EXHAUSTED/);
      } finally {
        small.close();
      }
    } finally {
      await kv.txn({ success: [{ request_delete_range: { key: prefix, range_end: prefixRangeEnd(prefix) } }] }).catch(() => undefined);
      kv.close();
    }
  });

  it('keeps etcd\'s error text: a compacted revision is reported as etcd says it', async () => {
    const kv = new EtcdKv({ endpoints: [etcd.endpoint], logger: quiet });
    try {
      const err = await rejection(kv.range({ key: 'x', revision: 1e12 }));
      expect(err).toBeInstanceOf(EtcdCallError);
      expect(err.message).toMatch(/required revision is a future revision/);
      expect((err as EtcdCallError).code).toBe(11);
    } finally {
      kv.close();
    }
  });
});
