import { describe, expect, it } from 'vitest';
import { GRPC_FRAME_HEADER, ProtoDecodeError, decodeRangeResponse, decodeTxnResponse, decodeWatchResponse, encodeRangeFrame, encodeTxnFrame, encodeWatchRequestFrame } from './etcd-proto.js';

// Expected bytes were produced by protobufjs from etcd's rpc.proto (the
// encoder etcd3 uses), minus the zero-valued enum fields proto3 leaves out.
const hex = (s: string) => Buffer.from(s, 'hex');
const message = (frame: Buffer) => {
  expect(frame[0]).toBe(0); // not compressed
  expect(frame.readUInt32BE(1)).toBe(frame.length - GRPC_FRAME_HEADER);
  return frame.subarray(GRPC_FRAME_HEADER).toString('hex');
};

describe('etcd-proto encoding', () => {
  it('encodes a paged RangeRequest (key, range_end, limit, revision)', () => {
    const frame = encodeRangeFrame({ key: Buffer.from('/registry/pods/'), range_end: Buffer.from('/registry/pods0'), limit: 500, revision: 1234567 });
    expect(message(frame)).toBe('0a0f2f72656769737472792f706f64732f120f2f72656769737472792f706f64733018f4032087ad4b');
  });

  it('encodes a count-only RangeRequest, and strings the same as Buffers', () => {
    expect(message(encodeRangeFrame({ key: '/r/', count_only: true, limit: 1 }))).toBe('0a032f722f18014801');
    expect(message(encodeRangeFrame({ key: Buffer.from('/r/'), count_only: true, limit: '1' }))).toBe('0a032f722f18014801');
  });

  it('leaves out zero limit and revision and an empty range_end (proto3 defaults)', () => {
    expect(message(encodeRangeFrame({ key: 'k', range_end: Buffer.alloc(0), limit: 0, revision: '0' }))).toBe('0a016b');
  });

  it('encodes a create TxnRequest: Version = 0 is sent (a oneof member is present even when zero)', () => {
    const key = Buffer.from('/r/a');
    const frame = encodeTxnFrame({
      compare: [{ key, target: 'Version', result: 'Equal', version: 0 }],
      success: [{ request_put: { key, value: Buffer.from('{}') } }],
      failure: [],
    });
    expect(message(frame)).toBe('0a081a042f722f612000120c120a0a042f722f6112027b7d');
  });

  it('encodes a compare on mod_revision past 2^53 exactly, and delete/range operations', () => {
    const key = Buffer.from('/r/a');
    const frame = encodeTxnFrame({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: '9007199254740993' }],
      success: [{ request_delete_range: { key } }],
      failure: [{ request_range: { key } }],
    });
    expect(message(frame)).toBe('0a1110021a042f722f61308180808080808010' + '12081a060a042f722f61' + '1a080a060a042f722f61');
  });

  it('encodes negative int64 as ten-byte two\'s complement', () => {
    // limit -1: field 3, varint 0xffffffffffffffffff01
    expect(message(encodeRangeFrame({ key: 'k', limit: -1 }))).toBe('0a016b18ffffffffffffffffff01');
  });

  it('refuses what it cannot encode rather than sending etcd a wrong message', () => {
    expect(() => encodeRangeFrame({ key: 'k', revision: 'abc' })).toThrow(TypeError);
    expect(() => encodeTxnFrame({ success: [{}] })).toThrow(TypeError);
  });
});

describe('etcd-proto decoding', () => {
  it('decodes a RangeResponse into etcd3\'s shape (uint64 beyond 2^53 exact, negative lease, defaults)', () => {
    const res = decodeRangeResponse(
      hex(
        '0a1a08b298eaf1948386fccd0110cdd2918bd2b881cf8e01182a200312150a042f722f611028182a20022a077b2261223a317d121a0a042f722f621029182920012a017830fbffffffffffffffff0118012007',
      ),
    );
    expect(res.header).toEqual({ cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '42', raft_term: '3' });
    expect(res.more).toBe(true);
    expect(res.count).toBe('7');
    expect(res.kvs).toHaveLength(2);
    expect(res.kvs[0]).toEqual({ key: Buffer.from('/r/a'), create_revision: '40', mod_revision: '42', version: '2', value: Buffer.from('{"a":1}'), lease: '0' });
    expect(res.kvs[1]!.lease).toBe('-5');
    expect(res.kvs[1]!.value.toString()).toBe('x');
  });

  it('decodes an empty RangeResponse with every default', () => {
    expect(decodeRangeResponse(Buffer.alloc(0))).toEqual({ header: { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' }, kvs: [], more: false, count: '0' });
  });

  it('decodes a TxnResponse with range, put and delete responses', () => {
    const res = decodeTxnResponse(hex('0a02182b10001a140a120a02182b120a0a016b180c20032a017620011a0612040a02182b1a081a060a02182b1001'));
    expect(res.header.revision).toBe('43');
    expect(res.succeeded).toBe(false);
    expect(res.responses.map((r) => r.response)).toEqual(['response_range', 'response_put', 'response_delete_range']);
    const kv = res.responses[0]!.response_range!.kvs[0]!;
    expect(kv.key.toString()).toBe('k');
    expect(kv.mod_revision).toBe('12');
    expect(kv.version).toBe('3');
    expect(res.responses[0]!.response_range!.count).toBe('1');
    expect(res.responses[1]!.response_put!.header.revision).toBe('43');
    expect(res.responses[2]!.response_delete_range!.deleted).toBe('1');
  });

  it('skips fields it does not know (newer etcd)', () => {
    // RangeResponse count=7 then an unknown field 15 (varint 1) and unknown field 14 (bytes "ab").
    expect(decodeRangeResponse(hex('2007' + '7801' + '72026162')).count).toBe('7');
  });

  it('rejects truncated messages', () => {
    expect(() => decodeRangeResponse(hex('120a0a04'))).toThrow(ProtoDecodeError);
    expect(() => decodeRangeResponse(hex('2080'))).toThrow(ProtoDecodeError);
  });
});

describe('etcd-proto watch messages', () => {
  it('encodes watch creates (with and without prev_kv) and cancels, watch_id 0 included', () => {
    expect(message(encodeWatchRequestFrame({ create_request: { key: Buffer.from('/registry/pods/'), range_end: Buffer.from('/registry/pods0'), start_revision: 1234, prev_kv: true } }))).toBe(
      '0a270a0f2f72656769737472792f706f64732f120f2f72656769737472792f706f64733018d2093001',
    );
    expect(message(encodeWatchRequestFrame({ create_request: { key: '/r/', range_end: '/r0', start_revision: '7', prev_kv: false } }))).toBe('0a0c0a032f722f12032f72301807');
    expect(message(encodeWatchRequestFrame({ cancel_request: { watch_id: '3' } }))).toBe('12020803');
    expect(message(encodeWatchRequestFrame({ cancel_request: { watch_id: 0 } }))).toBe('12020800');
  });

  it('decodes a created response with its header', () => {
    const res = decodeWatchResponse(hex('0a1b08b298eaf1948386fccd0110cdd2918bd2b881cf8e0118d209200210001801'));
    expect(res).toEqual({
      header: { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '1234', raft_term: '2' },
      watch_id: '0',
      created: true,
      canceled: false,
      compact_revision: '0',
      cancel_reason: '',
      fragment: false,
      events: [],
    });
  });

  it('decodes Put and Delete events as etcd3 gave them (prev_kv null when absent)', () => {
    const res = decodeWatchResponse(
      hex('0a0318d40910015a24080012200a0c2f722f706f64732f6e732f61106418d30920012a077b2261223a317d30005a37080112110a0c2f722f706f64732f6e732f6218d4091a200a0c2f722f706f64732f6e732f62106418b00920032a077b2262223a327d3000'),
    );
    expect(res.watch_id).toBe('1');
    expect(res.header.revision).toBe('1236');
    const [put, del] = res.events;
    expect(put!.type).toBe('Put');
    expect(put!.prev_kv).toBeNull();
    expect({ ...put!.kv, key: put!.kv.key.toString(), value: put!.kv.value.toString() }).toEqual({ key: '/r/pods/ns/a', value: '{"a":1}', create_revision: '100', mod_revision: '1235', version: '1', lease: '0' });
    expect(del!.type).toBe('Delete');
    expect(del!.kv.key.toString()).toBe('/r/pods/ns/b');
    expect(del!.kv.mod_revision).toBe('1236');
    expect(del!.kv.value.length).toBe(0);
    expect(del!.prev_kv!.value.toString()).toBe('{"b":2}');
    expect(del!.prev_kv!.version).toBe('3');
  });

  it('decodes a cancellation for compaction with its reason', () => {
    const res = decodeWatchResponse(hex('0a021832100220012828322a6d7663633a207265717569726564207265766973696f6e20686173206265656e20636f6d706163746564'));
    expect(res).toMatchObject({ watch_id: '2', canceled: true, created: false, compact_revision: '40', cancel_reason: 'mvcc: required revision has been compacted', events: [] });
  });

  it('rejects a truncated event', () => {
    expect(() => decodeWatchResponse(hex('5a2408'))).toThrow(ProtoDecodeError);
  });
});
