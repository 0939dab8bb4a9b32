import type { KubeObject } from '@flotilla/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, Fixture, mapLimit, pod } from './helpers.js';

function event(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace },
    involvedObject: { kind: 'Pod', namespace, name: 'web-0' },
    reason: 'Started',
    message: 'Started container web',
    type: 'Normal',
    count: 1,
  } as KubeObject;
}

let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('EtcdStorage objects with a TTL (Events)', () => {
  it('an Event expires once its TTL has passed since its last write; a pod written beside it stays', async () => {
    const s = fx.store({ objectTtlSeconds: { events: 2 } });
    await s.create('events', event('ttl', 'first'));
    await s.create('pods', pod('ttl', 'stays'));
    const created = Date.now();
    // Its key carries an etcd lease; the pod's carries none.
    const lease = (await fx.etcd.get(`${fx.prefix}/events/ttl/first`).exec()).kvs[0]!.lease;
    expect(lease).not.toBe('0');
    expect((await fx.etcd.get(`${fx.prefix}/pods/ttl/stays`).exec()).kvs[0]!.lease).toBe('0');
    await eventually(() => s.get('events', 'ttl', 'first').then(() => false, (err: { code?: number }) => err.code === 404), 20_000, 'the Event to expire');
    // Not before its TTL (2 s), and gone by the TTL plus the 1 s reuse window plus etcd's expiry check.
    expect(Date.now() - created).toBeGreaterThanOrEqual(2000);
    expect((await s.get('pods', 'ttl', 'stays')).metadata.name).toBe('stays');
  });

  it('an update renews the TTL: the Event leaves the lease of its first write for one that lives a TTL from now', async () => {
    let clock = Date.now();
    const s = fx.store({ objectTtlSeconds: { events: 2 }, clock: () => clock });
    const key = `${fx.prefix}/events/renew/counted`;
    await s.create('events', event('renew', 'counted'));
    const first = (await fx.etcd.get(key).exec()).kvs[0]!.lease;
    // 1.5 s on, the first lease (3 s) has less than the TTL left: the update takes a new one.
    clock += 1500;
    await s.guaranteedUpdate('events', 'renew', 'counted', (e) => ({ ...e, count: 2 }) as KubeObject);
    const second = (await fx.etcd.get(key).exec()).kvs[0]!.lease;
    expect(second).not.toBe(first);
    // The first lease's end no longer takes the Event with it.
    await fx.etcd.leaseClient.leaseRevoke({ ID: first });
    expect((await s.get('events', 'renew', 'counted')).count).toBe(2);
    const { TTL } = await fx.etcd.leaseClient.leaseTimeToLive({ ID: second, keys: false });
    expect(Number(TTL)).toBeGreaterThanOrEqual(2);
  });

  it('no lease carries more than 256 Events, and a lease etcd lost is replaced on the next write', async () => {
    const s = fx.store({ objectTtlSeconds: { events: 3600 } });
    await mapLimit(Array.from({ length: 600 }, (_, i) => i), 32, (i) => s.create('events', event('many', `e-${i}`)));
    const kvs = (await fx.etcd.getAll().prefix(`${fx.prefix}/events/many/`).exec()).kvs;
    expect(kvs).toHaveLength(600);
    const perLease = new Map<string, number>();
    for (const kv of kvs) perLease.set(kv.lease, (perLease.get(kv.lease) ?? 0) + 1);
    expect(perLease.has('0')).toBe(false);
    expect(Math.max(...perLease.values())).toBeLessThanOrEqual(256);
    expect(perLease.size).toBe(3);
    // The current lease revoked behind the store's back (etcd restored, an operator): the next write succeeds on a new one.
    const current = kvs.find((kv) => kv.key.toString().endsWith('/e-599'))!.lease;
    await fx.etcd.leaseClient.leaseRevoke({ ID: current });
    const after = await s.create('events', event('many', 'after-revoke'));
    expect(after.metadata.name).toBe('after-revoke');
    const lease = (await fx.etcd.get(`${fx.prefix}/events/many/after-revoke`).exec()).kvs[0]!.lease;
    expect([...perLease.keys()]).not.toContain(lease);
    // Leave nothing behind for an hour: the test's own leases go now.
    for (const id of new Set([...perLease.keys(), lease])) await fx.etcd.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
  });
});
