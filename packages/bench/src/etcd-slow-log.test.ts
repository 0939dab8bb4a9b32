import { describe, expect, it } from 'vitest';
import { goDurationMs, requestKind, summarizeEtcdSlowLog } from './etcd-slow-log.js';

const slow = (ts: string, took: string, prefix: string, request: string) =>
  JSON.stringify({ level: 'warn', ts, caller: 'etcdserver/util.go:167', msg: 'apply request took too long', took, 'expected-duration': '100ms', prefix, request, response: 'size:20' });
const TXN_PUT_POD =
  'header:<ID:7587 > txn:<compare:<target:MOD key:"/registry/pods/bench/p-1" mod_revision:0 > success:<request_put:<key:"/registry/pods/bench/p-1" value_size:2943 >> failure:<>>';
const TXN_PUT_LEASE =
  'header:<ID:7588 > txn:<compare:<target:MOD key:"/registry/leases/kube-node-lease/hollow-1" mod_revision:88 > success:<request_put:<key:"/registry/leases/kube-node-lease/hollow-1" value_size:310 >> failure:<request_range:<key:"/registry/leases/kube-node-lease/hollow-1" > >>';

describe("etcd's slow applies, from its log", () => {
  it('reads Go durations as etcd writes them', () => {
    expect(goDurationMs('116.5ms')).toBe(116.5);
    expect(goDurationMs('1.25s')).toBe(1250);
    expect(goDurationMs('1m2.5s')).toBe(62_500);
    expect(goDurationMs('950µs')).toBeCloseTo(0.95);
    expect(goDurationMs('soon')).toBeNaN();
    expect(goDurationMs('12sx')).toBeNaN();
  });

  it('names the request: operation and resource', () => {
    expect(requestKind('', TXN_PUT_POD)).toBe('txn put pods');
    expect(requestKind('', TXN_PUT_LEASE)).toBe('txn put leases');
    expect(requestKind('', 'header:<ID:1 > txn:<compare:<target:MOD key:"/registry/pods/a/b" mod_revision:9 > success:<request_delete_range:<key:"/registry/pods/a/b" > > failure:<>>')).toBe('txn delete pods');
    expect(requestKind('read-only range ', 'key:"/registry/pods/" range_end:"/registry/pods0" ')).toBe('range pods (prefix)');
    expect(requestKind('read-only range ', 'key:"/registry/pods/" range_end:"/registry/pods0" count_only:true ')).toBe('range pods (count)');
    expect(requestKind('read-only range ', 'key:"/registry/pods/" range_end:"/registry/pods0" keys_only:true ')).toBe('range pods (keys)');
    expect(requestKind('read-only range ', 'key:"/registry/leases/kube-node-lease/n1" ')).toBe('range leases');
    expect(requestKind('read-only range ', 'key:"/bench-34d17417/pods/a/b" ')).toBe('range pods');
    expect(requestKind('read-only range ', 'key:"/bench-34d17417/" count_only:true limit:1 ')).toBe('range (prefix key) (count)');
    expect(requestKind('', 'header:<ID:5 > compaction:<revision:1000 >')).toBe('compaction');
    expect(requestKind('', 'header:<ID:6 > lease_grant:<ttl:15-second id:42 >')).toBe('lease_grant');
    expect(requestKind('', 'header:<ID:7 > put:<key:"/registry/events/a/b" value_size:300 >')).toBe('put events');
  });

  it('counts the window only, by kind, with those inside a compaction, and the busiest 10 s', () => {
    const from = Date.parse('2026-12-05T05:00:00.000Z');
    const text = [
      slow('2026-12-05T04:59:59.000Z', '300ms', '', TXN_PUT_POD), // before the window
      '{"level":"info","ts":"2026-12-05T05:00:01.000Z","msg":"starting"}',
      'not json at all',
      slow('2026-12-05T05:00:02.000Z', '150ms', '', TXN_PUT_POD),
      slow('2026-12-05T05:00:03.000Z', '250ms', '', TXN_PUT_POD),
      slow('2026-12-05T05:00:04.000Z', '1.2s', '', TXN_PUT_POD),
      slow('2026-12-05T05:00:25.000Z', '120ms', '', TXN_PUT_LEASE),
      slow('2026-12-05T05:00:26.000Z', '2s', 'read-only range ', 'key:"/registry/pods/" range_end:"/registry/pods0" '),
      // A compaction from 05:00:22 to 05:00:30.
      '{"level":"info","ts":"2026-12-05T05:00:30.000Z","caller":"mvcc/kvstore_compaction.go:56","msg":"finished scheduled compaction","compact-revision":2000,"took":"8s"}',
      slow('2026-12-05T05:01:05.000Z', '300ms', '', TXN_PUT_POD), // after the window
    ].join('\n');
    const s = summarizeEtcdSlowLog(text, from, from + 60_000);
    expect(s.count).toBe(5);
    expect(s.kinds).toEqual([
      { kind: 'txn put pods', count: 3, duringCompaction: 0, p50Ms: 250, maxMs: 1200 },
      { kind: 'range pods (prefix)', count: 1, duringCompaction: 1, p50Ms: 2000, maxMs: 2000 },
      { kind: 'txn put leases', count: 1, duringCompaction: 1, p50Ms: 120, maxMs: 120 },
    ]);
    expect(s.compactions).toBe(1);
    expect(s.compactionSeconds).toBe(8);
    expect(s.windowSeconds).toBe(60);
    expect(s.busiest).toEqual([
      { atSeconds: 0, count: 3 },
      { atSeconds: 20, count: 2 },
    ]);
  });
});
