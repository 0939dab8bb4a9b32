import type { KubeObject } from '@flotilla/api';
import type { IEvent } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { Change, Subscription } from './watch-hub.js';

let rev = 100;
function change(type: 'Put' | 'Delete', name: string, node: string | undefined, prevNode?: string | null, version = '2'): Change {
  rev++;
  const value = (n: string | undefined) => Buffer.from(JSON.stringify({ metadata: { name, namespace: 'default' }, spec: { nodeName: n } }));
  return new Change({
    type,
    kv: { key: Buffer.from(`/r/pods/default/${name}`), mod_revision: String(rev), create_revision: '1', version: type === 'Delete' ? '0' : version, value: type === 'Delete' ? Buffer.alloc(0) : value(node), lease: '0' },
    prev_kv: prevNode === null ? (undefined as never) : { key: Buffer.from(`/r/pods/default/${name}`), mod_revision: String(rev - 1), create_revision: '1', version: '1', value: value(prevNode), lease: '0' },
  } as IEvent);
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
