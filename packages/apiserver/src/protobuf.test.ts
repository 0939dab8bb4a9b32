import { describe, expect, it } from 'vitest';
import { decodeProtobuf, encodeVarint } from './protobuf.js';
import { startTestApiServer } from './testing/index.js';

// A tiny encoder for length-delimited fields, enough to build what kubectl sends.
const uvarint = encodeVarint;
const ld = (num: number, payload: Buffer | string) => {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  return Buffer.concat([uvarint(BigInt((num << 3) | 2)), uvarint(BigInt(b.length)), b]);
};
const entry = (num: number, k: string, v: string) => ld(num, Buffer.concat([ld(1, k), ld(2, v)]));
const vi = (num: number, v: number) => Buffer.concat([uvarint(BigInt(num << 3)), uvarint(BigInt.asUintN(64, BigInt(v)))]);
const cat = (...b: Buffer[]) => Buffer.concat(b);
const envelope = (apiVersion: string, kind: string, raw: Buffer) =>
  cat(Buffer.from('k8s\0'), ld(1, cat(ld(1, apiVersion), ld(2, kind))), ld(2, raw), ld(3, ''), ld(4, ''));
const PROTO = { 'content-type': 'application/vnd.kubernetes.protobuf' };

function namespaceProto(name: string): Buffer {
  const meta = Buffer.concat([ld(1, name), ld(2, ''), entry(11, 'team', 'a')]);
  const ns = Buffer.concat([ld(1, meta), ld(2, Buffer.alloc(0)), ld(3, Buffer.alloc(0))]);
  const typeMeta = Buffer.concat([ld(1, 'v1'), ld(2, 'Namespace')]);
  return Buffer.concat([Buffer.from('k8s\0'), ld(1, typeMeta), ld(2, ns), ld(3, ''), ld(4, '')]);
}

describe('protobuf bodies', () => {
  it('decodes a ConfigMap and a Secret as kubectl create configmap|secret send them (field 3 is data, not status)', () => {
    const cm = envelope('v1', 'ConfigMap', cat(ld(1, ld(1, 'app')), entry(2, 'a', 'one'), entry(3, 'bin', '\u0000\u0001')));
    expect(decodeProtobuf(cm)).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { a: 'one' }, binaryData: { bin: 'AAE=' } });
    const sec = envelope('v1', 'Secret', cat(ld(1, ld(1, 'tls')), entry(2, 'tls.crt', 'C'), entry(2, 'tls.key', 'K'), ld(3, 'kubernetes.io/tls'), vi(5, 1)));
    expect(decodeProtobuf(sec)).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls' }, data: { 'tls.crt': 'Qw==', 'tls.key': 'Sw==' }, type: 'kubernetes.io/tls', immutable: true });
  });

  it('decodes a PriorityClass as kubectl create priorityclass sends it (value 0 and negatives kept, field 3 is globalDefault)', () => {
    const pc = (value: number, extra: Buffer = Buffer.alloc(0)) => envelope('scheduling.k8s.io/v1', 'PriorityClass', cat(ld(1, ld(1, 'high')), vi(2, value), extra));
    expect(decodeProtobuf(pc(1000, cat(vi(3, 1), ld(4, 'for web'), ld(5, 'Never'))))).toEqual({
      apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000, globalDefault: true, description: 'for web', preemptionPolicy: 'Never',
    });
    expect(decodeProtobuf(pc(0))).toMatchObject({ value: 0 });
    expect(decodeProtobuf(pc(-5))).toMatchObject({ value: -5 });
  });

  it('decodes a Namespace as kubectl create namespace sends it', () => {
    expect(decodeProtobuf(namespaceProto('foo'))).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo', labels: { team: 'a' } }, spec: {} });
  });

  it('creates the namespace over HTTP; other kinds and garbage are 415/400 Status', async () => {
    const s = await startTestApiServer();
    try {
      const r = await s.request('POST', '/api/v1/namespaces', namespaceProto('foo'), { 'content-type': 'application/vnd.kubernetes.protobuf' });
      expect(r.status).toBe(201);
      expect(r.body.metadata.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'foo' });
      const ep = Buffer.concat([Buffer.from('k8s\0'), ld(1, Buffer.concat([ld(1, 'v1'), ld(2, 'Endpoints')]))]);
      expect((await s.request('POST', '/api/v1/namespaces/default/endpoints', ep, { 'content-type': 'application/vnd.kubernetes.protobuf' })).status).toBe(415);
      const bad = await s.request('POST', '/api/v1/namespaces', Buffer.from('k8s\0\x0a\xff\xff'), { 'content-type': 'application/vnd.kubernetes.protobuf' });
      expect(bad.status).toBe(400);
      expect(bad.body.kind).toBe('Status');
    } finally {
      await s.close();
    }
  });

  it('decodes a Service and a Deployment as kubectl create service/deployment send them (zero fields, int-or-string, status)', async () => {
    // kubectl create service nodeport np --tcp=90:8080: every non-pointer field is on the wire, zero or not.
    const port = cat(ld(1, '90-8080'), ld(2, 'TCP'), vi(3, 90), ld(4, cat(vi(1, 0), vi(2, 8080), ld(3, ''))), vi(5, 0), ld(6, ''));
    const svcSpec = cat(ld(1, port), entry(2, 'app', 'np'), ld(3, ''), ld(4, 'NodePort'), ld(7, ''), vi(13, 0));
    const svc = envelope('v1', 'Service', cat(ld(1, cat(ld(1, 'np'), entry(11, 'app', 'np'), ld(8, ''))), ld(2, svcSpec), ld(3, ld(1, ''))));
    expect(decodeProtobuf(svc)).toEqual({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'np', labels: { app: 'np' } },
      spec: { ports: [{ name: '90-8080', protocol: 'TCP', port: 90, targetPort: 8080 }], selector: { app: 'np' }, type: 'NodePort' },
    });
    const container = cat(ld(1, 'busybox'), ld(2, 'flotilla/busybox:1'), ld(8, ''), ld(14, ''), vi(16, 0));
    const podSpec = cat(ld(2, container), ld(3, ''), vi(11, 0), ld(14, ''));
    const template = cat(ld(1, cat(entry(11, 'app', 'd2'), ld(8, ''))), ld(2, podSpec));
    const strategy = ld(4, '');
    const spec = cat(vi(1, 0), ld(2, entry(1, 'app', 'd2')), ld(3, template), strategy, vi(5, 0));
    const d = envelope('apps/v1', 'Deployment', cat(ld(1, cat(ld(1, 'd2'), entry(11, 'app', 'd2'))), ld(2, spec), ld(3, '')));
    expect(decodeProtobuf(d)).toEqual({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd2', labels: { app: 'd2' } },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'd2' } },
        template: { metadata: { labels: { app: 'd2' } }, spec: { containers: [{ name: 'busybox', image: 'flotilla/busybox:1', resources: {} }] } },
        strategy: {},
      },
    });
    // A field outside the table (a non-empty securityContext) is refused rather than dropped.
    const risky = envelope('v1', 'Pod', cat(ld(1, ld(1, 'p')), ld(2, cat(ld(2, container), ld(14, vi(1, 1))))));
    expect(decodeProtobuf(risky)).toBeUndefined();
    const s = await startTestApiServer();
    try {
      const r = await s.request('POST', '/api/v1/namespaces/default/services', svc, PROTO);
      expect(r.status).toBe(201);
      expect(r.body.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
      expect((await s.request('POST', '/apis/apps/v1/namespaces/default/deployments', d, PROTO)).status).toBe(201);
      expect((await s.request('POST', '/api/v1/namespaces/default/pods', risky, PROTO)).status).toBe(415);
    } finally {
      await s.close();
    }
  });

  it('decodes DeleteOptions as a typed client sends them with a DELETE', () => {
    const opts = envelope('v1', 'DeleteOptions', cat(vi(1, 30), ld(2, ld(1, 'u1')), ld(4, 'Foreground'), ld(5, 'All')));
    expect(decodeProtobuf(opts)).toEqual({ apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 30, preconditions: { uid: 'u1' }, propagationPolicy: 'Foreground', dryRun: ['All'] });
  });
});
