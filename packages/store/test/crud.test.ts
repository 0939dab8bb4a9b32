import type { KubeObject } from '@flotilla/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deepFreeze, EtcdStorage } from '../src/index.js';
import { Fixture, pod, rejection } from './helpers.js';

let fx: Fixture;
beforeEach(() => {
  fx = new Fixture();
});
afterEach(async () => {
  await fx.cleanup();
});

describe('EtcdStorage CRUD', () => {
  it('creates, gets, updates and deletes, with resourceVersion = etcd mod revision', async () => {
    const s = fx.store();
    const created = await s.create('pods', pod('default', 'web'));
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created.metadata.generation).toBe(1);

    const raw = await fx.etcd.get(`${fx.prefix}/pods/default/web`).exec();
    expect(raw.kvs[0]!.mod_revision).toBe(created.metadata.resourceVersion);
    expect(JSON.parse(raw.kvs[0]!.value.toString()).metadata.resourceVersion).toBeUndefined();

    const got = await s.get('pods', 'default', 'web');
    expect(got).toEqual(created);

    got.metadata.labels = { app: 'other' };
    const updated = await s.update('pods', got);
    expect(Number(updated.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect(updated.metadata.uid).toBe(created.metadata.uid);

    const del = await s.delete('pods', 'default', 'web');
    expect(del.deleted).toBe(true);
    expect(del.object.metadata.labels).toEqual({ app: 'other' });
    expect((await rejection(s.get('pods', 'default', 'web'))).code).toBe(404);
    expect((await rejection(s.delete('pods', 'default', 'web'))).code).toBe(404);
    expect((await rejection(s.update('pods', got))).code).toBe(404);
  });

  it('keys cluster-scoped objects without a namespace segment', async () => {
    const s = fx.store();
    await s.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    const raw = await fx.etcd.get(`${fx.prefix}/nodes/n1`).string();
    expect(raw).toContain('"n1"');
  });

  it('rejects a second create of the same name with AlreadyExists', async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'web'));
    const err = await rejection(s.create('pods', pod('default', 'web')));
    expect(err.code).toBe(409);
    expect(err.reason).toBe('AlreadyExists');
  });

  it('generates names and requires name or generateName', async () => {
    const s = fx.store();
    const p = pod('default', '');
    delete p.metadata.name;
    p.metadata.generateName = 'web-';
    const a = await s.create('pods', p);
    const b = await s.create('pods', p);
    expect(a.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(b.metadata.name).not.toBe(a.metadata.name);
    expect(p.metadata.name).toBeUndefined(); // the caller's object is not touched
    delete p.metadata.generateName;
    const err = await rejection(s.create('pods', p));
    expect(err.code).toBe(422);
    expect((err as unknown as { status: { details: { causes: Array<{ field: string }> } } }).status.details.causes[0]!.field).toBe('metadata.name');
  });

  it('lets exactly one of two updates from the same resourceVersion win', async () => {
    const s = fx.store();
    const created = await s.create('pods', pod('default', 'web'));
    const a = structuredClone(created);
    a.metadata.labels = { who: 'a' };
    const b = structuredClone(created);
    b.metadata.labels = { who: 'b' };
    const results = await Promise.allSettled([s.update('pods', a), s.update('pods', b)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason.code).toBe(409);
    expect(lost[0]!.reason.reason).toBe('Conflict');
    expect(lost[0]!.reason.message).toContain('the object has been modified; please apply your changes to the latest version and try again');
  });

  it('updates unconditionally without a resourceVersion, and guaranteedUpdate retries on conflicts', async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'web'));
    const blind = pod('default', 'web');
    blind.metadata.labels = { blind: 'yes' };
    expect((await s.update('pods', blind)).metadata.labels).toEqual({ blind: 'yes' });

    // 20 concurrent increments of one annotation: none may be lost.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        s.guaranteedUpdate('pods', 'default', 'web', (cur) => {
          const n = Number(cur.metadata.annotations?.count ?? '0');
          cur.metadata.annotations = { ...cur.metadata.annotations, count: String(n + 1) };
          return cur;
        }),
      ),
    );
    expect((await s.get('pods', 'default', 'web')).metadata.annotations?.count).toBe('20');
  });

  it("compares with the caller's frozen copy of the replaced version instead of decoding it again, and only with a frozen one at that version", async () => {
    const s = fx.store();
    const created = await s.create('pods', pod('default', 'web'));
    // A copy that claims a generation etcd does not hold, at the version being replaced: the update takes it
    // as the stored object (the proof that nothing was decoded), which a real caller's copy always is.
    const claim = (generation: number) => deepFreeze({ ...structuredClone(created), metadata: { ...structuredClone(created.metadata), generation } });
    const next = (image: string) => {
      const p = structuredClone(created);
      (p.spec as { containers: Array<{ image: string }> }).containers[0]!.image = image;
      return p;
    };
    expect((await s.update('pods', next('flotilla/busybox:2'), { current: claim(7) })).metadata.generation).toBe(8);
    const latest = await s.get('pods', 'default', 'web');
    expect(latest.metadata.generation).toBe(8);
    // Not frozen, or of another version: decoded from etcd as before.
    const unfrozen = { ...structuredClone(latest), metadata: { ...structuredClone(latest.metadata), generation: 40 } };
    expect((await s.update('pods', { ...next('flotilla/busybox:3'), metadata: { ...latest.metadata } }, { current: unfrozen })).metadata.generation).toBe(9);
    const stale = claim(70);
    expect((await s.update('pods', { ...next('flotilla/busybox:4'), metadata: { ...(await s.get('pods', 'default', 'web')).metadata } }, { current: stale })).metadata.generation).toBe(10);
    // A write that changes nothing answers a private object, not the caller's frozen one.
    const cur = deepFreeze(await s.get('pods', 'default', 'web'));
    const same = await s.update('pods', structuredClone(cur), { current: cur });
    expect(same).toEqual(cur);
    expect(same).not.toBe(cur);
    expect(Object.isFrozen(same)).toBe(false);
  });

  it('guaranteedUpdate with frozen: mutate gets a frozen object, a change of it throws, and a copy is written', async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'web'));
    await expect(
      s.guaranteedUpdate('pods', 'default', 'web', (cur) => {
        cur.metadata.labels = { changed: 'in place' };
        return cur;
      }, { frozen: true }),
    ).rejects.toThrow(TypeError);
    const out = await s.guaranteedUpdate('pods', 'default', 'web', (cur) => {
      expect(Object.isFrozen(cur.metadata)).toBe(true);
      return { ...cur, metadata: { ...cur.metadata, labels: { copied: 'yes' } } };
    }, { frozen: true });
    expect(out.metadata.labels).toEqual({ copied: 'yes' });
    expect((await s.get('pods', 'default', 'web')).metadata.labels).toEqual({ copied: 'yes' });
  });

  it('bumps generation only when something besides metadata and status changes', async () => {
    const s = fx.store();
    let p = await s.create('pods', pod('default', 'web'));
    p.metadata.labels = { x: 'y' };
    (p.status as Record<string, unknown>).phase = 'Running';
    p = await s.update('pods', p);
    expect(p.metadata.generation).toBe(1);
    (p.spec as { containers: Array<{ image: string }> }).containers[0]!.image = 'flotilla/busybox:2';
    p = await s.update('pods', p);
    expect(p.metadata.generation).toBe(2);
  });

  it('does not write an update that changes nothing', async () => {
    const s = fx.store();
    const p = await s.create('pods', pod('default', 'web'));
    const same = await s.update('pods', structuredClone(p));
    expect(same.metadata.resourceVersion).toBe(p.metadata.resourceVersion);
  });

  it('keeps an object with finalizers until an update removes them', async () => {
    const s = fx.store();
    const p = pod('default', 'web');
    p.metadata.finalizers = ['flotilla.io/test'];
    const created = await s.create('pods', p);
    const marked = await s.delete('pods', 'default', 'web');
    expect(marked.deleted).toBe(false);
    expect(marked.object.metadata.deletionTimestamp).toBeDefined();
    expect(marked.object.metadata.deletionGracePeriodSeconds).toBe(0);
    expect(marked.object.metadata.generation).toBe(created.metadata.generation! + 1);
    // A second delete changes nothing.
    const again = await s.delete('pods', 'default', 'web');
    expect(again.object.metadata.resourceVersion).toBe(marked.object.metadata.resourceVersion);
    // An update cannot clear the deletionTimestamp.
    const cur = await s.get('pods', 'default', 'web');
    delete cur.metadata.deletionTimestamp;
    cur.metadata.labels = { still: 'here' };
    const kept = await s.update('pods', cur);
    expect(kept.metadata.deletionTimestamp).toBe(marked.object.metadata.deletionTimestamp);
    // Removing the last finalizer deletes it.
    kept.metadata.finalizers = [];
    const last = await s.update('pods', kept);
    expect(last.metadata.finalizers).toEqual([]);
    expect((await rejection(s.get('pods', 'default', 'web'))).code).toBe(404);
  });

  it('marks an object with a grace period and only ever shortens it', async () => {
    const s = fx.store();
    await s.create('pods', pod('default', 'web', { nodeName: 'n1' }));
    const first = await s.delete('pods', 'default', 'web', { gracePeriodSeconds: 30 });
    expect(first.deleted).toBe(false);
    expect(first.object.metadata.deletionGracePeriodSeconds).toBe(30);
    const ts = Date.parse(first.object.metadata.deletionTimestamp!);
    expect(ts - Date.now()).toBeGreaterThan(25_000);
    const longer = await s.delete('pods', 'default', 'web', { gracePeriodSeconds: 60 });
    expect(longer.object.metadata.deletionTimestamp).toBe(first.object.metadata.deletionTimestamp);
    const shorter = await s.delete('pods', 'default', 'web', { gracePeriodSeconds: 5 });
    expect(shorter.object.metadata.deletionGracePeriodSeconds).toBe(5);
    expect(Date.parse(shorter.object.metadata.deletionTimestamp!)).toBeLessThan(ts);
    // Status updates during the grace period do not delete it.
    const cur = await s.get('pods', 'default', 'web');
    (cur.status as Record<string, unknown>).phase = 'Succeeded';
    await s.update('pods', cur);
    expect((await s.get('pods', 'default', 'web')).metadata.deletionGracePeriodSeconds).toBe(5);
    const gone = await s.delete('pods', 'default', 'web', { gracePeriodSeconds: 0 });
    expect(gone.deleted).toBe(true);
  });

  it('honours uid and resourceVersion preconditions on delete', async () => {
    const s = fx.store();
    const p = await s.create('pods', pod('default', 'web'));
    let err = await rejection(s.delete('pods', 'default', 'web', { preconditions: { uid: 'other' } }));
    expect(err.code).toBe(409);
    expect(err.message).toContain('Precondition failed: UID in precondition: other');
    err = await rejection(s.delete('pods', 'default', 'web', { preconditions: { resourceVersion: '1' } }));
    expect(err.code).toBe(409);
    const ok = await s.delete('pods', 'default', 'web', { preconditions: { uid: p.metadata.uid!, resourceVersion: p.metadata.resourceVersion! } });
    expect(ok.deleted).toBe(true);
  });

  it('answers 503 quickly when etcd cannot be reached', async () => {
    const s = new EtcdStorage({ endpoints: ['http://127.0.0.1:1'], prefix: fx.prefix, requestTimeoutMs: 2000 });
    try {
      const started = Date.now();
      const err = await rejection(s.get('pods', 'default', 'web'));
      expect(err.code).toBe(503);
      expect(Date.now() - started).toBeLessThan(10_000);
      const w = await rejection((async () => {
        for await (const _ of s.watch('pods', undefined)) break;
      })());
      expect(w.code).toBe(503);
    } finally {
      await s.close();
    }
  });

  it('does not let callers see or change each other\'s objects', async () => {
    const s = fx.store();
    const input: KubeObject = pod('default', 'web');
    const created = await s.create('pods', input);
    created.metadata.labels!.app = 'changed';
    expect((await s.get('pods', 'default', 'web')).metadata.labels!.app).toBe('web');
  });
});
