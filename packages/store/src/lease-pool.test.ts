import { describe, expect, it } from 'vitest';
import { isLeaseNotFound, LeasePool } from './lease-pool.js';

function pool(opts: { ttlSeconds?: number; reuseSeconds?: number; maxObjects?: number } = {}) {
  let clock = 1_000_000;
  const grants: number[] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const p = new LeasePool({
    ttlSeconds: opts.ttlSeconds ?? 3600,
    ...(opts.reuseSeconds !== undefined ? { reuseSeconds: opts.reuseSeconds } : {}),
    ...(opts.maxObjects !== undefined ? { maxObjects: opts.maxObjects } : {}),
    now: () => clock,
    grant: async (ttl) => {
      grants.push(ttl);
      if (hold) await new Promise<void>((r) => (release = r));
      return String(grants.length);
    },
  });
  return {
    p,
    grants,
    tick: (ms: number) => (clock += ms),
    holdGrants: () => (hold = true),
    releaseGrant: () => {
      hold = false;
      release?.();
    },
  };
}

describe('LeasePool', () => {
  it('grants the TTL plus the reuse window and hands the lease out for the window only', async () => {
    const { p, grants, tick } = pool({ ttlSeconds: 3600 });
    expect(p.reuseSeconds).toBe(60); // Kubernetes' reuse window at its 1 h event TTL
    expect(await p.lease()).toBe('1');
    expect(grants).toEqual([3660]);
    tick(59_000);
    expect(await p.lease()).toBe('1'); // 3601 s left: an object attached now still lives its hour
    tick(1_001);
    expect(await p.lease()).toBe('2'); // under an hour left: a new lease
    expect(grants).toEqual([3660, 3660]);
  });

  it('a short TTL gets a short window (at least a second)', () => {
    expect(pool({ ttlSeconds: 2 }).p.reuseSeconds).toBe(1);
    expect(pool({ ttlSeconds: 600 }).p.reuseSeconds).toBe(10);
    expect(pool({ ttlSeconds: 86_400 }).p.reuseSeconds).toBe(60);
  });

  it('carries at most maxObjects writes per lease', async () => {
    const { p } = pool({ maxObjects: 3 });
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push(await p.lease());
    expect(ids).toEqual(['1', '1', '1', '2', '2', '2', '3']);
  });

  it('writes that arrive while a lease is being granted share that one grant', async () => {
    const { p, grants, holdGrants, releaseGrant } = pool({ maxObjects: 256 });
    holdGrants();
    const waiting = Promise.all(Array.from({ length: 10 }, () => p.lease()));
    await Promise.resolve();
    releaseGrant();
    expect(await waiting).toEqual(Array(10).fill('1'));
    expect(grants).toHaveLength(1);
  });

  it('after forget, the next write gets a new lease; forgetting an old one changes nothing', async () => {
    const { p } = pool();
    expect(await p.lease()).toBe('1');
    p.forget('1');
    expect(await p.lease()).toBe('2');
    p.forget('1');
    expect(await p.lease()).toBe('2');
  });

  it('refuses a TTL of 0 or less', () => {
    expect(() => pool({ ttlSeconds: 0 })).toThrow(/more than 0 seconds/);
  });

  it('recognises etcd\'s refusal of an unknown lease, as EtcdKv and the store report it', () => {
    expect(isLeaseNotFound(new Error('etcd create /registry/events/a/b: 5 NOT_FOUND: etcdserver: requested lease not found'))).toBe(true);
    expect(isLeaseNotFound(new Error('etcd create /registry/events/a/b: 14 UNAVAILABLE: etcdserver: leader changed'))).toBe(false);
  });
});
