/**
 * Just enough of the Kubernetes protobuf encoding to accept what kubectl's
 * typed commands send (`kubectl create namespace|deployment|service|job|cronjob`,
 * `kubectl run`): the `k8s\0` envelope (runtime.Unknown) and, per kind, a
 * table of the field numbers those commands set. Other kinds, and fields
 * outside the table, stay 415, which tells the user to send JSON or YAML.
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

/** A varint as a JS number; int32/int64 negatives arrive as 64-bit two's complement. */
function int(f: Field): number {
  const v = typeof f.value === 'bigint' ? f.value : 0n;
  return Number(v >= 1n << 63n ? v - (1n << 64n) : v);
}

/**
 * How a field decodes. A `ptr` scalar (a Go pointer, e.g. replicas) keeps
 * its zero value; other zero scalars are dropped like JSON's omitempty, since
 * the Go protobuf encoder writes every non-pointer field.
 */
type FieldType = 'string' | 'int' | 'bool' | 'ptrInt' | 'ptrBool' | 'bytes' | 'ignore' | 'stringMap' | 'bytesMap' | 'quantityMap' | 'intOrString' | 'time' | Schema;
/** Field number → [JSON name, type, repeated]. */
type Schema = { [num: number]: [string, FieldType, boolean?] };

/** Thrown inside the decoder for a field we have no schema for: the body goes back as 415. */
class Unsupported extends Error {}

function mapEntries(entries: Field[], value: (f: Field) => unknown): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const e of entries) {
    let k = '';
    let v: unknown = '';
    for (const f of fields(bytes(e))) {
      if (f.num === 1) k = str(f);
      if (f.num === 2) v = value(f);
    }
    Object.defineProperty(m, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return m;
}

function scalar(type: FieldType, f: Field): unknown {
  switch (type) {
    case 'string':
      return str(f) || undefined;
    case 'int':
      return int(f) || undefined;
    case 'ptrInt':
      return int(f);
    case 'bool':
      return int(f) !== 0 || undefined;
    case 'ptrBool':
      return int(f) !== 0;
    case 'ignore':
      return undefined;
    case 'bytes':
      // []byte is base64 in JSON.
      return bytes(f).length ? bytes(f).toString('base64') : undefined;
    case 'intOrString': {
      let t = 0;
      let i = 0;
      let sv = '';
      for (const x of fields(bytes(f))) {
        if (x.num === 1) t = int(x);
        if (x.num === 2) i = int(x);
        if (x.num === 3) sv = str(x);
      }
      return t === 1 ? sv : i;
    }
    case 'time': {
      let seconds = 0;
      for (const x of fields(bytes(f))) if (x.num === 1) seconds = int(x);
      return seconds ? new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : undefined;
    }
    default:
      return message(type as Schema, bytes(f));
  }
}

/** Decodes one message by its schema; unknown fields with a non-zero value are refused. */
function message(schema: Schema, buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fs = fields(buf);
  const seen = new Set<number>();
  for (const f of fs) {
    const def = schema[f.num];
    if (!def) {
      const zero = Buffer.isBuffer(f.value) ? f.value.length === 0 : f.value === 0n;
      if (!zero) throw new Unsupported(`field number ${f.num}`);
      continue;
    }
    const [name, type, repeated] = def;
    if (type === 'stringMap' || type === 'bytesMap' || type === 'quantityMap') {
      if (seen.has(f.num)) continue;
      seen.add(f.num);
      const entries = fs.filter((x) => x.num === f.num);
      // map<string, bytes> (Secret data, ConfigMap binaryData) is base64 in JSON.
      const value = type === 'stringMap' ? str : type === 'bytesMap' ? (v: Field) => bytes(v).toString('base64') : (v: Field) => fields(bytes(v)).filter((q) => q.num === 1).map(str)[0] ?? '0';
      out[name] = mapEntries(entries, value);
      continue;
    }
    const value = scalar(type, f);
    if (repeated) {
      const list = (out[name] as unknown[] | undefined) ?? [];
      list.push(value ?? (typeof type === 'object' ? {} : ''));
      out[name] = list;
    } else if (value !== undefined) out[name] = value;
  }
  return out;
}

// Field numbers from k8s.io/api's generated.proto, for what kubectl's typed commands send.
const OWNER_REFERENCE: Schema = { 1: ['kind', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'], 6: ['controller', 'ptrBool'], 7: ['blockOwnerDeletion', 'ptrBool'] };
const OBJECT_META: Schema = {
  1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 5: ['uid', 'string'], 6: ['resourceVersion', 'string'],
  7: ['generation', 'int'], 8: ['creationTimestamp', 'time'], 9: ['deletionTimestamp', 'time'], 10: ['deletionGracePeriodSeconds', 'ptrInt'],
  11: ['labels', 'stringMap'], 12: ['annotations', 'stringMap'], 13: ['ownerReferences', OWNER_REFERENCE, true], 14: ['finalizers', 'string', true],
  // managedFields a client read and sends back (kubectl certificate approve): left out, which keeps the stored ones, as an update without them does.
  17: ['managedFields', 'ignore'],
};
const LABEL_SELECTOR: Schema = { 1: ['matchLabels', 'stringMap'], 2: ['matchExpressions', { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', 'string', true] }, true] };
const CONTAINER: Schema = {
  1: ['name', 'string'], 2: ['image', 'string'], 3: ['command', 'string', true], 4: ['args', 'string', true], 5: ['workingDir', 'string'],
  6: ['ports', { 1: ['name', 'string'], 2: ['hostPort', 'int'], 3: ['containerPort', 'int'], 4: ['protocol', 'string'], 5: ['hostIP', 'string'] }, true],
  7: ['env', { 1: ['name', 'string'], 2: ['value', 'string'] }, true],
  8: ['resources', { 1: ['limits', 'quantityMap'], 2: ['requests', 'quantityMap'] }],
  13: ['terminationMessagePath', 'string'], 14: ['imagePullPolicy', 'string'], 16: ['stdin', 'bool'], 17: ['stdinOnce', 'bool'], 18: ['tty', 'bool'],
  20: ['terminationMessagePolicy', 'string'],
};
const TOLERATION: Schema = { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['value', 'string'], 4: ['effect', 'string'], 5: ['tolerationSeconds', 'ptrInt'] };
const POD_SPEC: Schema = {
  2: ['containers', CONTAINER, true], 3: ['restartPolicy', 'string'], 4: ['terminationGracePeriodSeconds', 'ptrInt'], 5: ['activeDeadlineSeconds', 'ptrInt'],
  6: ['dnsPolicy', 'string'], 7: ['nodeSelector', 'stringMap'], 8: ['serviceAccountName', 'string'], 9: ['serviceAccount', 'string'], 10: ['nodeName', 'string'],
  11: ['hostNetwork', 'bool'], 16: ['hostname', 'string'], 17: ['subdomain', 'string'], 19: ['schedulerName', 'string'], 20: ['initContainers', CONTAINER, true],
  21: ['automountServiceAccountToken', 'ptrBool'], 22: ['tolerations', TOLERATION, true], 24: ['priorityClassName', 'string'], 25: ['priority', 'ptrInt'],
  28: ['readinessGates', { 1: ['conditionType', 'string'] }, true], 30: ['enableServiceLinks', 'ptrBool'],
  // An empty securityContext (14) is always sent; a non-empty one is refused by the zero rule.
};
const POD_TEMPLATE: Schema = { 1: ['metadata', OBJECT_META], 2: ['spec', POD_SPEC] };
const DEPLOYMENT_SPEC: Schema = {
  1: ['replicas', 'ptrInt'], 2: ['selector', LABEL_SELECTOR], 3: ['template', POD_TEMPLATE],
  4: ['strategy', { 1: ['type', 'string'], 2: ['rollingUpdate', { 1: ['maxUnavailable', 'intOrString'], 2: ['maxSurge', 'intOrString'] }] }],
  5: ['minReadySeconds', 'int'], 6: ['revisionHistoryLimit', 'ptrInt'], 7: ['paused', 'bool'], 9: ['progressDeadlineSeconds', 'ptrInt'],
};
const SERVICE_SPEC: Schema = {
  1: ['ports', { 1: ['name', 'string'], 2: ['protocol', 'string'], 3: ['port', 'int'], 4: ['targetPort', 'intOrString'], 5: ['nodePort', 'int'], 6: ['appProtocol', 'string'] }, true],
  2: ['selector', 'stringMap'], 3: ['clusterIP', 'string'], 4: ['type', 'string'], 5: ['externalIPs', 'string', true], 7: ['sessionAffinity', 'string'],
  10: ['externalName', 'string'], 11: ['externalTrafficPolicy', 'string'], 13: ['publishNotReadyAddresses', 'bool'], 18: ['clusterIPs', 'string', true],
  19: ['ipFamilies', 'string', true], 17: ['ipFamilyPolicy', 'string'], 22: ['internalTrafficPolicy', 'string'],
};
/** batch/v1 JobSpec, for `kubectl create job [--from=cronjob/x]` and `kubectl create cronjob`. */
const JOB_SPEC: Schema = {
  1: ['parallelism', 'ptrInt'], 2: ['completions', 'ptrInt'], 3: ['activeDeadlineSeconds', 'ptrInt'], 4: ['selector', LABEL_SELECTOR],
  5: ['manualSelector', 'ptrBool'], 6: ['template', POD_TEMPLATE], 7: ['backoffLimit', 'ptrInt'], 8: ['ttlSecondsAfterFinished', 'ptrInt'],
  9: ['completionMode', 'string'], 10: ['suspend', 'ptrBool'], 14: ['podReplacementPolicy', 'string'],
};
const CRONJOB_SPEC: Schema = {
  1: ['schedule', 'string'], 2: ['startingDeadlineSeconds', 'ptrInt'], 3: ['concurrencyPolicy', 'string'], 4: ['suspend', 'ptrBool'],
  5: ['jobTemplate', { 1: ['metadata', OBJECT_META], 2: ['spec', JOB_SPEC] }], 6: ['successfulJobsHistoryLimit', 'ptrInt'],
  7: ['failedJobsHistoryLimit', 'ptrInt'], 8: ['timeZone', 'string'],
};
/** The body of a typed client's DELETE (kubectl drain falls back to it when there is no eviction API). */
const DELETE_OPTIONS: Schema = {
  1: ['gracePeriodSeconds', 'ptrInt'], 2: ['preconditions', { 1: ['uid', 'string'], 2: ['resourceVersion', 'string'] }], 3: ['orphanDependents', 'ptrBool'],
  4: ['propagationPolicy', 'string'], 5: ['dryRun', 'string', true],
};

/** The kinds a protobuf body may carry, by `apiVersion/kind`. Status (field 3) is the server's and is skipped. */
const KINDS: Record<string, Schema> = {
  'v1/Namespace': { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['finalizers', 'string', true] }] },
  'v1/Service': { 1: ['metadata', OBJECT_META], 2: ['spec', SERVICE_SPEC] },
  'v1/Pod': { 1: ['metadata', OBJECT_META], 2: ['spec', POD_SPEC] },
  'apps/v1/Deployment': { 1: ['metadata', OBJECT_META], 2: ['spec', DEPLOYMENT_SPEC] },
  // kubectl create configmap|secret: field 3 is binaryData / type here, not status.
  'v1/ConfigMap': { 1: ['metadata', OBJECT_META], 2: ['data', 'stringMap'], 3: ['binaryData', 'bytesMap'], 4: ['immutable', 'ptrBool'] },
  'v1/Secret': { 1: ['metadata', OBJECT_META], 2: ['data', 'bytesMap'], 3: ['type', 'string'], 4: ['stringData', 'stringMap'], 5: ['immutable', 'ptrBool'] },
  'batch/v1/Job': { 1: ['metadata', OBJECT_META], 2: ['spec', JOB_SPEC] },
  'batch/v1/CronJob': { 1: ['metadata', OBJECT_META], 2: ['spec', CRONJOB_SPEC] },
  // kubectl certificate approve|deny sends the whole CSR to its approval subresource: status (conditions) is what it changes.
  'certificates.k8s.io/v1/CertificateSigningRequest': {
    1: ['metadata', OBJECT_META],
    2: ['spec', { 1: ['request', 'bytes'], 2: ['username', 'string'], 3: ['uid', 'string'], 4: ['groups', 'string', true], 5: ['usages', 'string', true], 7: ['signerName', 'string'], 8: ['expirationSeconds', 'ptrInt'] }],
    3: ['status', { 1: ['conditions', { 1: ['type', 'string'], 2: ['reason', 'string'], 3: ['message', 'string'], 4: ['lastUpdateTime', 'time'], 5: ['lastTransitionTime', 'time'], 6: ['status', 'string'] }, true], 2: ['certificate', 'bytes'] }],
  },
  // kubectl create priorityclass: gogo always writes value (0 included), so it decodes as a pointer would.
  'scheduling.k8s.io/v1/PriorityClass': { 1: ['metadata', OBJECT_META], 2: ['value', 'ptrInt'], 3: ['globalDefault', 'bool'], 4: ['description', 'string'], 5: ['preemptionPolicy', 'string'] },
  'apps/v1/ReplicaSet': { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['replicas', 'ptrInt'], 2: ['selector', LABEL_SELECTOR], 3: ['template', POD_TEMPLATE], 4: ['minReadySeconds', 'int'] }] },
};

/** Kinds without a status, whose field 3 is data (or globalDefault), and kinds whose status a client writes (a CSR's approval). */
const NO_STATUS = new Set(['ConfigMap', 'Secret', 'CertificateSigningRequest', 'PriorityClass']);

/**
 * Decodes a protobuf body into a JSON object, or undefined when its kind,
 * or a field it sets, is not one we can read (the caller answers 415, which
 * tells the client to send JSON or YAML).
 */
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
  // DeleteOptions is registered in every group version (metav1.AddToGroupVersion).
  const schema = kind === 'DeleteOptions' ? DELETE_OPTIONS : KINDS[`${apiVersion}/${kind}`];
  if (!schema) return undefined;
  try {
    // Field 3 is status in every object kind that has one: skipped, the server owns it.
    const hasStatus = schema !== DELETE_OPTIONS && !NO_STATUS.has(kind);
    const withoutStatus = hasStatus ? Buffer.concat(fields(raw).filter((f) => f.num !== 3).map(reencode)) : raw;
    const obj = message(schema, withoutStatus);
    if (schema === DELETE_OPTIONS) return { apiVersion, kind, ...obj };
    return { apiVersion, kind, metadata: {}, ...obj, ...(kind === 'Namespace' && !obj.spec ? { spec: {} } : {}) };
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/** A protobuf base-128 varint. */
export function encodeVarint(v: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** One field back to its wire form (to drop fields before decoding). */
function reencode(f: Field): Buffer {
  const tag = encodeVarint(BigInt((f.num << 3) | f.wire));
  if (f.wire === 0) return Buffer.concat([tag, encodeVarint(f.value as bigint)]);
  if (f.wire === 2) return Buffer.concat([tag, encodeVarint(BigInt(bytes(f).length)), bytes(f)]);
  return Buffer.alloc(0);
}
