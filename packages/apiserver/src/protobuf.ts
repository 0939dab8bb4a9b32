/**
 * Just enough of the Kubernetes protobuf encoding to accept what kubectl's
 * typed commands send for a Namespace (`kubectl create namespace`): the
 * `k8s\0` envelope (runtime.Unknown) and ObjectMeta's common fields. Other
 * kinds stay 415, which tells the user to send JSON or YAML.
 */
import { badRequest } from '@flotilla/api';

/** The media type of Kubernetes protobuf bodies. */
export const PROTOBUF_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Field = { num: number; wire: number; value: bigint | Buffer };

/** Splits one protobuf message into its fields; malformed input is a 400. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length || shift > 63n) throw badRequest('malformed protobuf body');
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ num, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw badRequest('malformed protobuf body');
      out.push({ num, wire, value: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw badRequest('malformed protobuf body');
    if (i > buf.length) throw badRequest('malformed protobuf body');
  }
  return out;
}

const str = (f: Field) => (Buffer.isBuffer(f.value) ? f.value.toString('utf8') : String(f.value));
const bytes = (f: Field): Buffer => (Buffer.isBuffer(f.value) ? f.value : Buffer.alloc(0));

function stringMap(entries: Field[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const e of entries) {
    let k = '';
    let v = '';
    for (const f of fields(bytes(e))) {
      if (f.num === 1) k = str(f);
      if (f.num === 2) v = str(f);
    }
    Object.defineProperty(m, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return m;
}

function objectMeta(buf: Buffer): Record<string, unknown> {
  const md: Record<string, unknown> = {};
  const fs = fields(buf);
  for (const f of fs) {
    if (f.num === 1) md.name = str(f);
    if (f.num === 2) md.generateName = str(f);
    if (f.num === 3) md.namespace = str(f);
    if (f.num === 6) md.resourceVersion = str(f);
  }
  const labels = fs.filter((f) => f.num === 11);
  const annotations = fs.filter((f) => f.num === 12);
  const finalizers = fs.filter((f) => f.num === 14).map(str);
  if (labels.length) md.labels = stringMap(labels);
  if (annotations.length) md.annotations = stringMap(annotations);
  if (finalizers.length) md.finalizers = finalizers;
  for (const k of Object.keys(md)) if (md[k] === '') delete md[k];
  return md;
}

/** Decodes a protobuf body into a JSON object, or undefined when its kind is not one we can read. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw badRequest('malformed protobuf body: missing the k8s envelope');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  for (const f of fields(body.subarray(4))) {
    if (f.num === 1) {
      for (const t of fields(bytes(f))) {
        if (t.num === 1) apiVersion = str(t);
        if (t.num === 2) kind = str(t);
      }
    }
    if (f.num === 2) raw = bytes(f);
  }
  if (apiVersion !== 'v1' || kind !== 'Namespace') return undefined;
  const obj: Record<string, unknown> = { apiVersion, kind, metadata: {} };
  for (const f of fields(raw)) {
    if (f.num === 1) obj.metadata = objectMeta(bytes(f));
    if (f.num === 2) {
      const finalizers = fields(bytes(f)).filter((x) => x.num === 1).map(str);
      obj.spec = finalizers.length ? { finalizers } : {};
    }
  }
  return obj;
}
