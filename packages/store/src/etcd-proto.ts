/**
 * Hand-written protobuf encoding of the few etcd KV messages the store's
 * hot path sends and receives (etcdserverpb Range and Txn, field numbers
 * from etcd's rpc.proto and kv.proto). A generic runtime (protobufjs via
 * grpc-js) cost several times more CPU per call than the call itself.
 *
 * Shapes follow what etcd3 returned (proto-loader with keepCase, longs as
 * String, enums as String, defaults, oneofs), so callers read the same
 * fields: bytes are Buffers (views into the received message), int64 and
 * uint64 are decimal strings, absent fields carry their defaults.
 */

/** One key as etcd stores it (mvccpb.KeyValue). */
export interface KeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

/** etcdserverpb.ResponseHeader. */
export interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}

/** An int64 as a request may carry it. */
export type Int64 = number | string;

/** etcdserverpb.RangeRequest (the fields the store uses; sorting is not supported). */
export interface RangeRequest {
  key: Buffer | string;
  range_end?: Buffer | string;
  limit?: Int64;
  revision?: Int64;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
}

/** etcdserverpb.RangeResponse. */
export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: string;
}

/** etcdserverpb.PutRequest. */
export interface PutRequest {
  key: Buffer | string;
  value?: Buffer | string;
  lease?: Int64;
  prev_kv?: boolean;
}

/** etcdserverpb.PutResponse. */
export interface PutResponse {
  header: ResponseHeader;
  prev_kv: KeyValue | null;
}

/** etcdserverpb.DeleteRangeRequest. */
export interface DeleteRangeRequest {
  key: Buffer | string;
  range_end?: Buffer | string;
  prev_kv?: boolean;
}

/** etcdserverpb.DeleteRangeResponse. */
export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: string;
  prev_kvs: KeyValue[];
}

/** What a Compare looks at (etcdserverpb.Compare.CompareTarget). */
export type CompareTarget = 'Version' | 'Create' | 'Mod' | 'Value' | 'Lease';
/** How it compares (etcdserverpb.Compare.CompareResult). */
export type CompareResult = 'Equal' | 'Greater' | 'Less' | 'NotEqual';

/** etcdserverpb.Compare: set the field that `target` names. */
export interface Compare {
  key: Buffer | string;
  target: CompareTarget;
  result: CompareResult;
  version?: Int64;
  create_revision?: Int64;
  mod_revision?: Int64;
  value?: Buffer | string;
  lease?: Int64;
  range_end?: Buffer | string;
}

/** etcdserverpb.RequestOp (one of; nested transactions are not supported). */
export interface RequestOp {
  request_range?: RangeRequest;
  request_put?: PutRequest;
  request_delete_range?: DeleteRangeRequest;
}

/** etcdserverpb.ResponseOp: `response` names the field that is set. */
export interface ResponseOp {
  response: 'response_range' | 'response_put' | 'response_delete_range' | 'response_txn';
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
  response_txn?: TxnResponse;
}

/** etcdserverpb.TxnRequest. */
export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

/** etcdserverpb.TxnResponse. */
export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

/** etcdserverpb.WatchCreateRequest (the fields the store uses; no filters, ids or fragments). */
export interface WatchCreateRequest {
  key: Buffer | string;
  range_end?: Buffer | string;
  start_revision?: Int64;
  progress_notify?: boolean;
  prev_kv?: boolean;
}

/** etcdserverpb.WatchRequest: a create or a cancel (progress requests are not sent). */
export type WatchRequest = { create_request: WatchCreateRequest; cancel_request?: undefined } | { cancel_request: { watch_id: Int64 }; create_request?: undefined };

/** mvccpb.Event, as etcd3 gave it: `prev_kv` null when etcd sent none. */
export interface WatchEvent {
  type: 'Put' | 'Delete';
  kv: KeyValue;
  prev_kv: KeyValue | null;
}

/** etcdserverpb.WatchResponse. */
export interface WatchResponse {
  header: ResponseHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: WatchEvent[];
}

const COMPARE_TARGET: Record<CompareTarget, number> = { Version: 0, Create: 1, Mod: 2, Value: 3, Lease: 4 };
const COMPARE_RESULT: Record<CompareResult, number> = { Equal: 0, Greater: 1, Less: 2, NotEqual: 3 };
/** Compare's target_union field number per target. */
const COMPARE_UNION_FIELD: Record<CompareTarget, number> = { Version: 4, Create: 5, Mod: 6, Value: 7, Lease: 8 };
const COMPARE_UNION_NAME = { Version: 'version', Create: 'create_revision', Mod: 'mod_revision', Value: 'value', Lease: 'lease' } as const;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

// ---------------------------------------------------------------- encoding

/** Bytes of a varint holding the non-negative safe integer n. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** An int64 field's value as a varint's non-negative number, or a bigint for what a double cannot hold exactly (negatives: 10-byte two's complement). */
function int64Value(v: Int64): number | bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`int64 field is not an integer: ${v}`);
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return v;
    return BigInt.asUintN(64, BigInt(v));
  }
  if (!/^-?\d+$/.test(v)) throw new TypeError(`int64 field is not a decimal integer: ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) return n;
  return BigInt.asUintN(64, BigInt(v));
}

function bigVarintSize(n: bigint): number {
  let size = 1;
  while (n >= 0x80n) {
    n >>= 7n;
    size++;
  }
  return size;
}

function bytesLength(v: Buffer | string): number {
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

/**
 * Sizes first, then one write into one buffer: a message is encoded into the
 * gRPC frame that carries it, with no intermediate copies.
 */
class Writer {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  varint(n: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 0x80) {
      buf[pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  bigVarint(n: bigint): void {
    while (n >= 0x80n) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  bytesField(field: number, v: Buffer | string, len: number): void {
    this.tag(field, WIRE_LEN);
    this.varint(len);
    if (typeof v === 'string') this.pos += this.buf.write(v, this.pos, 'utf8');
    else {
      v.copy(this.buf, this.pos);
      this.pos += len;
    }
  }

  int64Field(field: number, v: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    if (typeof v === 'number') this.varint(v);
    else this.bigVarint(v);
  }

  /** A proto3 bytes field: left out when unset or empty. */
  optionalBytes(field: number, v: Buffer | string | undefined): void {
    if (v === undefined) return;
    const len = bytesLength(v);
    if (len > 0) this.bytesField(field, v, len);
  }

  /** A proto3 int64 field: left out when unset or zero. */
  optionalInt64(field: number, v: Int64 | undefined): void {
    if (v === undefined) return;
    const n = int64Value(v);
    if (n !== 0) this.int64Field(field, n);
  }
}

/** Size of a field with a length-delimited payload of `len` bytes (field numbers < 16 have 1-byte tags). */
function lenFieldSize(field: number, len: number): number {
  return varintSize(field * 8) + varintSize(len) + len;
}

function int64FieldSize(field: number, v: number | bigint): number {
  return varintSize(field * 8) + (typeof v === 'number' ? varintSize(v) : bigVarintSize(v));
}

/** Size of a proto3 bytes field (0 when unset or empty, as Writer.optionalBytes leaves it out). */
function optionalBytesSize(field: number, v: Buffer | string | undefined): number {
  if (v === undefined) return 0;
  const len = bytesLength(v);
  return len > 0 ? lenFieldSize(field, len) : 0;
}

/** Size of a proto3 int64 field (0 when unset or zero, as Writer.optionalInt64 leaves it out). */
function optionalInt64Size(field: number, v: Int64 | undefined): number {
  if (v === undefined) return 0;
  const n = int64Value(v);
  return n !== 0 ? int64FieldSize(field, n) : 0;
}

/** Encoded sizes computed in the sizing pass, read back in order in the writing pass. */
type Sizes = number[];

function sizeRange(r: RangeRequest, sizes: Sizes): number {
  let size = lenFieldSize(1, bytesLength(r.key)) + optionalBytesSize(2, r.range_end) + optionalInt64Size(3, r.limit) + optionalInt64Size(4, r.revision);
  if (r.serializable) size += 2;
  if (r.keys_only) size += 2;
  if (r.count_only) size += 2;
  sizes.push(size);
  return size;
}

function writeRange(w: Writer, r: RangeRequest): void {
  w.bytesField(1, r.key, bytesLength(r.key));
  w.optionalBytes(2, r.range_end);
  w.optionalInt64(3, r.limit);
  w.optionalInt64(4, r.revision);
  if (r.serializable) w.int64Field(7, 1);
  if (r.keys_only) w.int64Field(8, 1);
  if (r.count_only) w.int64Field(9, 1);
}

function sizePut(p: PutRequest, sizes: Sizes): number {
  let size = lenFieldSize(1, bytesLength(p.key)) + optionalBytesSize(2, p.value) + optionalInt64Size(3, p.lease);
  if (p.prev_kv) size += 2;
  sizes.push(size);
  return size;
}

function writePut(w: Writer, p: PutRequest): void {
  w.bytesField(1, p.key, bytesLength(p.key));
  w.optionalBytes(2, p.value);
  w.optionalInt64(3, p.lease);
  if (p.prev_kv) w.int64Field(4, 1);
}

function sizeDelete(d: DeleteRangeRequest, sizes: Sizes): number {
  let size = lenFieldSize(1, bytesLength(d.key)) + optionalBytesSize(2, d.range_end);
  if (d.prev_kv) size += 2;
  sizes.push(size);
  return size;
}

function writeDelete(w: Writer, d: DeleteRangeRequest): void {
  w.bytesField(1, d.key, bytesLength(d.key));
  w.optionalBytes(2, d.range_end);
  if (d.prev_kv) w.int64Field(3, 1);
}

function compareUnion(c: Compare): Int64 | Buffer | string {
  const v = c[COMPARE_UNION_NAME[c.target]];
  // etcd compares against the union field; an unset one means 0 (or empty), as proto3 would send it.
  return v ?? (c.target === 'Value' ? Buffer.alloc(0) : 0);
}

function sizeCompare(c: Compare, sizes: Sizes): number {
  const target = COMPARE_TARGET[c.target];
  const result = COMPARE_RESULT[c.result];
  if (target === undefined || result === undefined) throw new TypeError(`invalid compare ${c.target}/${c.result}`);
  let size = 0;
  if (result !== 0) size += 2;
  if (target !== 0) size += 2;
  size += lenFieldSize(3, bytesLength(c.key));
  const u = compareUnion(c);
  // Always sent (a oneof member is present even when zero): etcd tells "version = 0" from "no target value" by presence.
  if (c.target === 'Value') size += lenFieldSize(7, bytesLength(u as Buffer | string));
  else size += int64FieldSize(COMPARE_UNION_FIELD[c.target], int64Value(u as Int64));
  size += optionalBytesSize(64, c.range_end);
  sizes.push(size);
  return size;
}

function writeCompare(w: Writer, c: Compare): void {
  const target = COMPARE_TARGET[c.target];
  const result = COMPARE_RESULT[c.result];
  if (result !== 0) w.int64Field(1, result);
  if (target !== 0) w.int64Field(2, target);
  w.bytesField(3, c.key, bytesLength(c.key));
  const u = compareUnion(c);
  if (c.target === 'Value') w.bytesField(7, u as Buffer | string, bytesLength(u as Buffer | string));
  else w.int64Field(COMPARE_UNION_FIELD[c.target], int64Value(u as Int64));
  w.optionalBytes(64, c.range_end);
}

function sizeRequestOp(op: RequestOp, sizes: Sizes): number {
  const at = sizes.length;
  sizes.push(0);
  let size: number;
  if (op.request_range) size = lenFieldSize(1, sizeRange(op.request_range, sizes));
  else if (op.request_put) size = lenFieldSize(2, sizePut(op.request_put, sizes));
  else if (op.request_delete_range) size = lenFieldSize(3, sizeDelete(op.request_delete_range, sizes));
  else throw new TypeError('a transaction operation needs request_range, request_put or request_delete_range');
  sizes[at] = size;
  return size;
}

function writeRequestOp(w: Writer, op: RequestOp, sizes: Sizes, next: { i: number }): void {
  next.i++; // the RequestOp's own size (its caller wrote it)
  if (op.request_range) {
    w.tag(1, WIRE_LEN);
    w.varint(sizes[next.i++]!);
    writeRange(w, op.request_range);
  } else if (op.request_put) {
    w.tag(2, WIRE_LEN);
    w.varint(sizes[next.i++]!);
    writePut(w, op.request_put);
  } else if (op.request_delete_range) {
    w.tag(3, WIRE_LEN);
    w.varint(sizes[next.i++]!);
    writeDelete(w, op.request_delete_range);
  }
}

/** gRPC's length-prefixed message: a compression flag byte (0) and a 4-byte big-endian length, then the message. */
export const GRPC_FRAME_HEADER = 5;

function frame(size: number): Writer {
  const buf = Buffer.allocUnsafe(GRPC_FRAME_HEADER + size);
  buf[0] = 0;
  buf.writeUInt32BE(size, 1);
  return new Writer(buf, GRPC_FRAME_HEADER);
}

/** A RangeRequest as one gRPC frame. */
export function encodeRangeFrame(r: RangeRequest): Buffer {
  const sizes: Sizes = [];
  const w = frame(sizeRange(r, sizes));
  writeRange(w, r);
  return finish(w);
}

/** A TxnRequest as one gRPC frame. */
export function encodeTxnFrame(t: TxnRequest): Buffer {
  const sizes: Sizes = [];
  let size = 0;
  for (const c of t.compare ?? []) size += lenFieldSize(1, sizeCompare(c, sizes));
  for (const op of t.success ?? []) size += lenFieldSize(2, sizeRequestOp(op, sizes));
  for (const op of t.failure ?? []) size += lenFieldSize(3, sizeRequestOp(op, sizes));
  const w = frame(size);
  const next = { i: 0 };
  for (const c of t.compare ?? []) {
    w.tag(1, WIRE_LEN);
    w.varint(sizes[next.i++]!);
    writeCompare(w, c);
  }
  for (const op of t.success ?? []) {
    w.tag(2, WIRE_LEN);
    w.varint(sizes[next.i]!);
    writeRequestOp(w, op, sizes, next);
  }
  for (const op of t.failure ?? []) {
    w.tag(3, WIRE_LEN);
    w.varint(sizes[next.i]!);
    writeRequestOp(w, op, sizes, next);
  }
  return finish(w);
}

function sizeWatchCreate(c: WatchCreateRequest): number {
  let size = lenFieldSize(1, bytesLength(c.key)) + optionalBytesSize(2, c.range_end) + optionalInt64Size(3, c.start_revision);
  if (c.progress_notify) size += 2;
  if (c.prev_kv) size += 2;
  return size;
}

/** A WatchRequest as one gRPC frame (a message of etcd's bidirectional Watch stream). */
export function encodeWatchRequestFrame(req: WatchRequest): Buffer {
  if (req.create_request) {
    const c = req.create_request;
    const inner = sizeWatchCreate(c);
    const w = frame(lenFieldSize(1, inner));
    w.tag(1, WIRE_LEN);
    w.varint(inner);
    w.bytesField(1, c.key, bytesLength(c.key));
    w.optionalBytes(2, c.range_end);
    w.optionalInt64(3, c.start_revision);
    if (c.progress_notify) w.int64Field(4, 1);
    if (c.prev_kv) w.int64Field(6, 1);
    return finish(w);
  }
  if (req.cancel_request) {
    const id = int64Value(req.cancel_request.watch_id);
    // watch_id 0 is a real id (etcd's first watch): always sent.
    const inner = int64FieldSize(1, id);
    const w = frame(lenFieldSize(2, inner));
    w.tag(2, WIRE_LEN);
    w.varint(inner);
    w.int64Field(1, id);
    return finish(w);
  }
  throw new TypeError('a watch request needs create_request or cancel_request');
}

function finish(w: Writer): Buffer {
  // A size/write mismatch would send etcd a corrupt message: fail loudly instead.
  if (w.pos !== w.buf.length) throw new Error(`etcd-proto: encoded ${w.pos - GRPC_FRAME_HEADER} bytes, sized ${w.buf.length - GRPC_FRAME_HEADER}`);
  return w.buf;
}

// ---------------------------------------------------------------- decoding

/** A malformed message from etcd. */
export class ProtoDecodeError extends Error {
  constructor(message: string) {
    super(`etcd-proto: ${message}`);
    this.name = 'ProtoDecodeError';
  }
}

/** Reads one message: [pos, end) of `buf`. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  /** A varint that fits a double exactly (every length, tag, bool and enum; int64 up to 2^53). */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= this.end) throw new ProtoDecodeError('truncated varint');
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let n = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < 10; i++) {
      if (pos >= this.end) throw new ProtoDecodeError('truncated varint');
      b = buf[pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = pos;
        return n;
      }
      mul *= 128;
    }
    throw new ProtoDecodeError('varint longer than 10 bytes');
  }

  /** An int64/uint64 as a decimal string (etcd3's `longs: String`), exact beyond 2^53 and for negatives. */
  int64String(signed: boolean): string {
    const start = this.pos;
    const n = this.varint();
    if (n <= Number.MAX_SAFE_INTEGER && this.pos - start < 8) return String(n);
    let v = 0n;
    let shift = 0n;
    for (let p = start; p < this.pos; p++) {
      v |= BigInt(this.buf[p]! & 0x7f) << shift;
      shift += 7n;
    }
    v = BigInt.asUintN(64, v);
    return String(signed ? BigInt.asIntN(64, v) : v);
  }

  /** The end of a length-delimited field that starts here (after its length). */
  lenEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new ProtoDecodeError('field runs past its message');
    return end;
  }

  bytes(): Buffer {
    const end = this.lenEnd();
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.lenEnd();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new ProtoDecodeError(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new ProtoDecodeError('field runs past its message');
  }
}

const EMPTY = Buffer.alloc(0);

function emptyHeader(): ResponseHeader {
  return { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' };
}

function readHeader(r: Reader, end: number): ResponseHeader {
  const h = emptyHeader();
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 0) h.cluster_id = r.int64String(false);
    else if (field === 2 && (tag & 7) === 0) h.member_id = r.int64String(false);
    else if (field === 3 && (tag & 7) === 0) h.revision = r.int64String(true);
    else if (field === 4 && (tag & 7) === 0) h.raft_term = r.int64String(false);
    else r.skip(tag & 7);
  }
  return h;
}

function readKeyValue(r: Reader, end: number): KeyValue {
  const kv: KeyValue = { key: EMPTY, create_revision: '0', mod_revision: '0', version: '0', value: EMPTY, lease: '0' };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        kv.key = r.bytes();
        break;
      case 0x10:
        kv.create_revision = r.int64String(true);
        break;
      case 0x18:
        kv.mod_revision = r.int64String(true);
        break;
      case 0x20:
        kv.version = r.int64String(true);
        break;
      case 0x2a:
        kv.value = r.bytes();
        break;
      case 0x30:
        kv.lease = r.int64String(true);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return kv;
}

function readRangeResponse(r: Reader, end: number): RangeResponse {
  const res: RangeResponse = { header: emptyHeader(), kvs: [], more: false, count: '0' };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        res.header = readHeader(r, r.lenEnd());
        break;
      case 0x12: {
        const e = r.lenEnd();
        res.kvs.push(readKeyValue(r, e));
        break;
      }
      case 0x18:
        res.more = r.varint() !== 0;
        break;
      case 0x20:
        res.count = r.int64String(true);
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

function readPutResponse(r: Reader, end: number): PutResponse {
  const res: PutResponse = { header: emptyHeader(), prev_kv: null };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) res.header = readHeader(r, r.lenEnd());
    else if (tag === 0x12) res.prev_kv = readKeyValue(r, r.lenEnd());
    else r.skip(tag & 7);
  }
  return res;
}

function readDeleteResponse(r: Reader, end: number): DeleteRangeResponse {
  const res: DeleteRangeResponse = { header: emptyHeader(), deleted: '0', prev_kvs: [] };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) res.header = readHeader(r, r.lenEnd());
    else if (tag === 0x10) res.deleted = r.int64String(true);
    else if (tag === 0x1a) res.prev_kvs.push(readKeyValue(r, r.lenEnd()));
    else r.skip(tag & 7);
  }
  return res;
}

function readResponseOp(r: Reader, end: number): ResponseOp {
  let op: ResponseOp | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    // A oneof: the last member on the wire wins, as protobuf says.
    if (tag === 0x0a) op = { response: 'response_range', response_range: readRangeResponse(r, r.lenEnd()) };
    else if (tag === 0x12) op = { response: 'response_put', response_put: readPutResponse(r, r.lenEnd()) };
    else if (tag === 0x1a) op = { response: 'response_delete_range', response_delete_range: readDeleteResponse(r, r.lenEnd()) };
    else if (tag === 0x22) op = { response: 'response_txn', response_txn: readTxnResponse(r, r.lenEnd()) };
    else r.skip(tag & 7);
  }
  if (!op) throw new ProtoDecodeError('ResponseOp without a response');
  return op;
}

function readTxnResponse(r: Reader, end: number): TxnResponse {
  const res: TxnResponse = { header: emptyHeader(), succeeded: false, responses: [] };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) res.header = readHeader(r, r.lenEnd());
    else if (tag === 0x10) res.succeeded = r.varint() !== 0;
    else if (tag === 0x1a) res.responses.push(readResponseOp(r, r.lenEnd()));
    else r.skip(tag & 7);
  }
  return res;
}

function decodeWith<T>(buf: Buffer, read: (r: Reader, end: number) => T): T {
  const r = new Reader(buf, 0, buf.length);
  const out = read(r, buf.length);
  if (r.pos !== buf.length) throw new ProtoDecodeError('message runs past its end');
  return out;
}

/** Decodes an etcdserverpb.RangeResponse (the message, without the gRPC frame header). */
export function decodeRangeResponse(buf: Buffer): RangeResponse {
  return decodeWith(buf, readRangeResponse);
}

/** Decodes an etcdserverpb.TxnResponse (the message, without the gRPC frame header). */
export function decodeTxnResponse(buf: Buffer): TxnResponse {
  return decodeWith(buf, readTxnResponse);
}

function readEvent(r: Reader, end: number): WatchEvent {
  const ev: WatchEvent = { type: 'Put', kv: { key: EMPTY, create_revision: '0', mod_revision: '0', version: '0', value: EMPTY, lease: '0' }, prev_kv: null };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x08) ev.type = r.varint() === 1 ? 'Delete' : 'Put';
    else if (tag === 0x12) ev.kv = readKeyValue(r, r.lenEnd());
    else if (tag === 0x1a) ev.prev_kv = readKeyValue(r, r.lenEnd());
    else r.skip(tag & 7);
  }
  return ev;
}

function readWatchResponse(r: Reader, end: number): WatchResponse {
  const res: WatchResponse = { header: emptyHeader(), watch_id: '0', created: false, canceled: false, compact_revision: '0', cancel_reason: '', fragment: false, events: [] };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        res.header = readHeader(r, r.lenEnd());
        break;
      case 0x10:
        res.watch_id = r.int64String(true);
        break;
      case 0x18:
        res.created = r.varint() !== 0;
        break;
      case 0x20:
        res.canceled = r.varint() !== 0;
        break;
      case 0x28:
        res.compact_revision = r.int64String(true);
        break;
      case 0x32: {
        const e = r.lenEnd();
        res.cancel_reason = r.buf.toString('utf8', r.pos, e);
        r.pos = e;
        break;
      }
      case 0x38:
        res.fragment = r.varint() !== 0;
        break;
      case 0x5a:
        res.events.push(readEvent(r, r.lenEnd()));
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return res;
}

/** Decodes an etcdserverpb.WatchResponse (the message, without the gRPC frame header). */
export function decodeWatchResponse(buf: Buffer): WatchResponse {
  return decodeWith(buf, readWatchResponse);
}
