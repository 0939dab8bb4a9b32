import type { KubeObject } from '@flotilla/api';
import type { IEvent } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import type { ValueTransformer } from './encryption.js';
import { Change, ResourceHub, Subscription } from './watch-hub.js';

let rev = 100;
function change(type: 'Put' | 'Delete', name: string, node: string | undefined, prevNode?: string | null, version = '2'): Change {
  rev++;
  const value = (n: string | undefined) => Buffer.from(JSON.stringify({ metadata: { name, namespace: 'default' }, spec: { nodeName: n } }));
  const ev = {
    type,
    kv: { key: Buffer.from(`/r/pods/default/${name}`), mod_revision: String(rev), create_revision: '1', version: type === 'Delete' ? '0' : version, value: type === 'Delete' ? Buffer.alloc(0) : value(node), lease: '0' },
    prev_kv: prevNode === null ? (undefined as never) : { key: Buffer.from(`/r/pods/default/${name}`), mod_revision: String(rev - 1), create_revision: '1', version: '1', value: value(prevNode), lease: '0' },
  } as IEvent;
  return Object.assign(new Change(ev), { ev });
}

async function drain(sub: Subscription) {
  sub.end();
  const out: string[] = [];
  for await (const e of sub.events()) out.push(`${e.type} ${(e.object.spec as { nodeName?: string }).nodeName ?? '-'} ${e.object.metadata.resourceVersion}`);
  return out;
}

describe('Subscription', () => {
  it('turns predicate transitions into ADDED / DELETED like Kubernetes', async () => {
    const onN1 = (o: KubeObject) => (o.spec as { nodeName?: string }).nodeName === 'n1';
    const sub = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 0, predicate: onN1, bufferSize: 100 });
    const c1 = change('Put', 'a', undefined, null, '1'); // created off n1: nothing
    const c2 = change('Put', 'a', 'n1', undefined); // enters: ADDED
    const c3 = change('Put', 'a', 'n1', 'n1'); // stays: MODIFIED
    const c4 = change('Put', 'a', 'n2', 'n1'); // leaves: DELETED with the old state
    const c5 = change('Delete', 'a', undefined, 'n2'); // already out: nothing
    for (const c of [c1, c2, c3, c4, c5]) sub.offer(c);
    expect(await drain(sub)).toEqual([`ADDED n1 ${c2.rev}`, `MODIFIED n1 ${c3.rev}`, `DELETED n1 ${c4.rev}`]);
  });

  it('skips changes outside its prefix or at or before its revision', async () => {
    const sub = new Subscription({ keyPrefix: '/r/pods/other/', afterRevision: 0, bufferSize: 100 });
    sub.offer(change('Put', 'a', 'n1', null, '1'));
    expect(await drain(sub)).toEqual([]);
    const c = change('Put', 'b', 'n1', null, '1');
    const sub2 = new Subscription({ keyPrefix: '/r/pods/', afterRevision: c.rev, bufferSize: 100 });
    sub2.offer(c);
    expect(await drain(sub2)).toEqual([]);
  });

  it('fails with 410 when the consumer falls more than bufferSize behind', async () => {
    const sub = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 0, bufferSize: 2 });
    for (let i = 0; i < 3; i++) sub.offer(change('Put', `p${i}`, 'n1', null, '1'));
    const it = sub.events();
    await expect(it.next()).rejects.toMatchObject({ code: 410 });
  });
});

describe('ResourceHub with indexed watchers', () => {
  // A stream that records the hub's handlers, so the test feeds it etcd events directly.
  function fakeHub(transformer?: ValueTransformer) {
    let handlers: { onEvents: (events: IEvent[]) => void; onCreated?: () => void } | undefined;
    const stream = {
      watch: (_req: unknown, h: typeof handlers) => {
        handlers = h;
        queueMicrotask(() => h!.onCreated?.());
        return () => undefined;
      },
    };
    const hub = new ResourceHub({ stream: stream as never, resourcePrefix: '/r/pods/', historySize: 100, log: createLogger('test', { level: 'silent' }), onBroken: () => undefined, ...(transformer ? { transformer } : {}) });
    return { hub, started: hub.start(100), feed: (...changes: Change[]) => handlers!.onEvents(changes.map((c) => (c as unknown as { ev: IEvent }).ev)) };
  }

  // A kubelet's watch (spec.nodeName=node) from revision 100, through the hub's index.
  const podsOfNode = (node: string) => {
    const nodeName = (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '';
    return new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100, predicate: (o) => nodeName(o) === node, index: { name: 'spec.nodeName', value: node, valueOf: nodeName } });
  };

  it("offers a change only to the watchers of the object's node, old and new, and unindexed watchers get everything", async () => {
    const { hub, started, feed } = fakeHub();
    await started;
    const calls = { n1: 0, n2: 0 };
    const nodeName = (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '';
    const onNode = (n: 'n1' | 'n2') => ({
      predicate: (o: KubeObject) => (calls[n]++, nodeName(o) === n),
      index: { name: 'spec.nodeName', value: n, valueOf: nodeName },
    });
    const n1 = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100, ...onNode('n1') });
    const n2 = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100, ...onNode('n2') });
    const all = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100 });
    for (const s of [n1, n2, all]) hub.attach(s);
    expect(hub.size).toBe(3);
    rev = 100;
    const events = [
      change('Put', 'a', undefined, null, '1'), // created unbound: n1 and n2 never asked
      change('Put', 'a', 'n1', undefined), // bound to n1
      change('Put', 'a', 'n1', 'n1'), // status update on n1
      change('Put', 'a', 'n2', 'n1'), // moved: leaves n1, enters n2
      change('Delete', 'a', undefined, 'n2'), // deleted from n2
    ];
    feed(...events);
    const [, bound, updated, moved, deleted] = events.map((c) => c.rev);
    expect(await drain(n1)).toEqual([`ADDED n1 ${bound}`, `MODIFIED n1 ${updated}`, `DELETED n1 ${moved}`]);
    expect(await drain(n2)).toEqual([`ADDED n2 ${moved}`, `DELETED n2 ${deleted}`]);
    expect(await drain(all)).toHaveLength(5);
    // n2's predicate ran only for the two changes that involve n2 (twice for the move: now and before).
    expect(calls.n2).toBe(3);
    expect(hub.size).toBe(0);
  });

  it("reports progress for bookmarks: the hub's revision once nothing is queued (changes it was never offered included), else just short of the first queued event", async () => {
    const { hub, started, feed } = fakeHub();
    await started;
    const n1 = podsOfNode('n1');
    hub.attach(n1);
    expect(n1.progress()).toBe(100);
    rev = 100;
    const elsewhere = [change('Put', 'x', 'n2', null, '1'), change('Put', 'y', 'n2', null, '1')];
    feed(...elsewhere);
    // Never offered to n1 (another node's pods), yet nothing can be missing up to there.
    expect(n1.progress()).toBe(elsewhere[1]!.rev);
    const mine = [change('Put', 'a', 'n1', null, '1'), change('Put', 'b', 'n1', null, '1')];
    const later = change('Put', 'z', 'n2', null, '1');
    feed(...mine, later);
    // Two events queued: nothing is handed out yet, so no further than before them.
    expect(n1.progress()).toBe(elsewhere[1]!.rev);
    const it = n1.events();
    await it.next();
    expect(n1.progress()).toBe(mine[0]!.rev);
    await it.next();
    expect(n1.progress()).toBe(later.rev);
    // Ended, it no longer follows the hub: later changes were never offered to it.
    n1.end();
    feed(change('Put', 'w', 'n2', null, '1'));
    expect(n1.progress()).toBe(later.rev);
  });

  it('learns the previous value of a key it has not seen from the previous version', async () => {
    const { hub, started, feed } = fakeHub();
    await started;
    const n1 = podsOfNode('n1');
    hub.attach(n1);
    rev = 100;
    // A pod bound before the hub started moves away: its watcher still sees it leave.
    const moved = change('Put', 'b', 'n2', 'n1');
    feed(moved);
    expect(await drain(n1)).toEqual([`DELETED n1 ${moved.rev}`]);
  });

  it('shares one decoded object among the watchers of a fan-out, and decodes the stored bytes again for a watcher resuming from the history', async () => {
    const { hub, started, feed } = fakeHub();
    await started;
    const first = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100 });
    const second = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100 });
    hub.attach(first);
    hub.attach(second);
    rev = 100;
    const c = change('Put', 'a', 'n1', null, '1');
    feed(c);
    const [a, b] = [(await first.events().next()).value!, (await second.events().next()).value!];
    expect(a.object).toBe(b.object);
    // The history keeps the bytes, not the object: a late watcher gets its own copy, equal and as frozen.
    const late = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100 });
    hub.attach(late);
    const replayed = (await late.events().next()).value!;
    expect(replayed.object).not.toBe(a.object);
    expect(replayed).toEqual(a);
    expect(replayed.object.metadata.resourceVersion).toBe(String(c.rev));
    expect(Object.isFrozen(replayed.object.spec)).toBe(true);
  });

  it("replays to a node's resuming watcher its own pods' changes, and decodes no other node's", async () => {
    const decoded: string[] = [];
    const counting: ValueTransformer = {
      toStorage: (_r, _k, plain) => plain,
      fromStorage: (key, stored) => (decoded.push(key), stored),
    };
    const { hub, started, feed } = fakeHub(counting);
    await started;
    const nodeName = (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '';
    const onNode = (n: string) => ({ predicate: (o: KubeObject) => nodeName(o) === n, index: { name: 'spec.nodeName', value: n, valueOf: nodeName } });
    hub.attach(new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100, ...onNode('n1') }));
    rev = 100;
    const changes: Change[] = [];
    for (let i = 0; i < 30; i++) changes.push(change('Put', `p${i}`, `n${i % 3}`, null, '1'));
    changes.push(change('Put', 'p1', 'n2', 'n1')); // leaves n1 for n2
    feed(...changes);
    decoded.length = 0;
    const resumed = new Subscription({ keyPrefix: '/r/pods/', afterRevision: 100, bufferSize: 100, ...onNode('n2') });
    hub.attach(resumed);
    const got = await drain(resumed);
    expect(got).toHaveLength(11);
    expect(got.slice(0, 2)).toEqual([`ADDED n2 ${changes[2]!.rev}`, `ADDED n2 ${changes[5]!.rev}`]);
    expect(got.at(-1)).toBe(`ADDED n2 ${changes[30]!.rev}`);
    // The 10 pods created on n2, and the move (its new and previous state): nothing of n0's.
    const concerned = new Set(['/r/pods/default/p1', ...Array.from({ length: 10 }, (_, j) => `/r/pods/default/p${3 * j + 2}`)]);
    expect(decoded.filter((k) => !concerned.has(k))).toEqual([]);
    expect(decoded).toHaveLength(12);
  });
});
