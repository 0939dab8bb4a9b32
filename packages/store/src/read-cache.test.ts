import { createLogger } from '@flotilla/observability';
import type { IEvent, IKeyValue } from 'etcd3';
import type { RangeResponse } from './etcd-proto.js';
import type { ReadCacheOptions } from './read-cache.js';
import { describe, expect, it } from 'vitest';
import { ReadCache, STALE } from './read-cache.js';
import type { WatchHandlers, WatchRequest, WatchStream } from './watch-stream.js';

const kv = (key: string, rev: number, value = `{"metadata":{"name":"${key}"}}`): IKeyValue =>
  ({ key: Buffer.from(key), value: Buffer.from(value), mod_revision: String(rev), create_revision: String(rev), version: '1', lease: '0' }) as IKeyValue;

/** A fake etcd: one range answer, and the watch handlers the cache registers. */
function fakes(kvs: IKeyValue[], revision: number) {
  const watches: Array<{ req: WatchRequest; handlers: WatchHandlers; cancelled: boolean }> = [];
  const client: ReadCacheOptions['client'] = { range: async () => ({ kvs, header: { revision: String(revision) } }) as unknown as RangeResponse };
  const stream = {
    watch: (req: WatchRequest, handlers: WatchHandlers) => {
      const w = { req, handlers, cancelled: false };
      watches.push(w);
      return () => (w.cancelled = true);
    },
  } as unknown as WatchStream;
  return { client, stream, watches };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('ReadCache', () => {
  it('answers only revisions it has caught up with, and applies puts and deletes in order', async () => {
    const f = fakes([kv('/r/pods/default/a', 5)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(cache.lookup('/r/pods/default/a', 1)).toBe(STALE); // not loaded
    cache.start();
    await settle();
    expect(cache.ready).toBe(true);
    expect(f.watches[0]!.req.startRevision).toBe(11);
    expect(f.watches[0]!.req.prevKv).toBe(false);
    expect((cache.lookup('/r/pods/default/a', 10) as { modRevision: string }).modRevision).toBe('5');
    expect(cache.lookup('/r/pods/default/b', 10)).toBeUndefined();
    // A read that started after revision 12 was written must wait for it.
    expect(cache.lookup('/r/pods/default/a', 12)).toBe(STALE);
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: kv('/r/pods/default/b', 11) },
      { type: 'Delete', kv: kv('/r/pods/default/a', 12, '') },
    ] as IEvent[]);
    expect(cache.revision).toBe(12);
    expect(cache.lookup('/r/pods/default/a', 12)).toBeUndefined();
    expect((cache.lookup('/r/pods/default/b', 12) as { modRevision: string }).modRevision).toBe('11');
    // A replay after a reconnect changes nothing.
    f.watches[0]!.handlers.onEvents([{ type: 'Put', kv: kv('/r/pods/default/a', 9) }] as IEvent[]);
    expect(cache.lookup('/r/pods/default/a', 12)).toBeUndefined();
  });

  it('ranges over one resource or one namespace in key order, following puts and deletes', async () => {
    const f = fakes([kv('/r/pods/b/x', 3), kv('/r/pods/a/z', 4), kv('/r/podtemplates/a/y', 5), kv('/r/pods/a/c', 6)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    expect(cache.range('/r/pods/', 1)).toBe(STALE); // not loaded
    cache.start();
    await settle();
    const keys = (base: string, atLeast = 10) => {
      const r = cache.range(base, atLeast);
      return r === STALE ? r : r.kvs.map(([k]) => k);
    };
    expect(keys('/r/pods/')).toEqual(['/r/pods/a/c', '/r/pods/a/z', '/r/pods/b/x']);
    expect(keys('/r/pods/a/')).toEqual(['/r/pods/a/c', '/r/pods/a/z']);
    expect(keys('/r/podtemplates/')).toEqual(['/r/podtemplates/a/y']);
    expect(keys('/r/services/')).toEqual([]);
    expect(keys('/r/pods/', 11)).toBe(STALE); // behind the asked revision
    f.watches[0]!.handlers.onEvents([
      { type: 'Put', kv: kv('/r/pods/a/a', 11) },
      { type: 'Delete', kv: kv('/r/pods/a/z', 12, '') },
      { type: 'Delete', kv: kv('/r/podtemplates/a/y', 13, '') },
      { type: 'Put', kv: kv('/r/pods/a/c', 14, '{"v":2}') },
    ] as IEvent[]);
    const r = cache.range('/r/pods/a/', 14);
    expect(r !== STALE && r.revision).toBe(14);
    expect(r !== STALE && r.kvs.map(([k, v]) => [k, v.modRevision])).toEqual([['/r/pods/a/a', '11'], ['/r/pods/a/c', '14']]);
    expect(keys('/r/podtemplates/', 14)).toEqual([]);
  });

  it('drops the copy when etcd cancels its watch (compaction) and reloads on the next start', async () => {
    const f = fakes([kv('/r/pods/default/a', 5)], 10);
    const cache = new ReadCache({ client: f.client, stream: f.stream, keyPrefix: '/r/', log: createLogger('test', { level: 'silent' }) });
    cache.start();
    await settle();
    f.watches[0]!.handlers.onCanceled(20, 'compacted');
    expect(cache.ready).toBe(false);
    expect(cache.lookup('/r/pods/default/a', 1)).toBe(STALE);
    cache.start();
    await settle();
    expect(cache.ready).toBe(true);
    expect(f.watches).toHaveLength(2);
    cache.close();
    expect(f.watches[1]!.cancelled).toBe(true);
  });
});
