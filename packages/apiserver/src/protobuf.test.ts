import { describe, expect, it } from 'vitest';
import { decodeProtobuf } from './protobuf.js';
import { startTestApiServer } from './testing/index.js';

// A tiny encoder for length-delimited fields, enough to build what kubectl sends.
const ld = (num: number, payload: Buffer | string) => {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  return Buffer.concat([Buffer.from([(num << 3) | 2, b.length]), b]);
};
const entry = (num: number, k: string, v: string) => ld(num, Buffer.concat([ld(1, k), ld(2, v)]));

function namespaceProto(name: string): Buffer {
  const meta = Buffer.concat([ld(1, name), ld(2, ''), entry(11, 'team', 'a')]);
  const ns = Buffer.concat([ld(1, meta), ld(2, Buffer.alloc(0)), ld(3, Buffer.alloc(0))]);
  const typeMeta = Buffer.concat([ld(1, 'v1'), ld(2, 'Namespace')]);
  return Buffer.concat([Buffer.from('k8s\0'), ld(1, typeMeta), ld(2, ns), ld(3, ''), ld(4, '')]);
}

describe('protobuf bodies', () => {
  it('decodes a Namespace as kubectl create namespace sends it', () => {
    expect(decodeProtobuf(namespaceProto('foo'))).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo', labels: { team: 'a' } }, spec: {} });
  });

  it('creates the namespace over HTTP; other kinds and garbage are 415/400 Status', async () => {
    const s = await startTestApiServer();
    try {
      const r = await s.request('POST', '/api/v1/namespaces', namespaceProto('foo'), { 'content-type': 'application/vnd.kubernetes.protobuf' });
      expect(r.status).toBe(201);
      expect(r.body.metadata.labels).toEqual({ team: 'a', 'kubernetes.io/metadata.name': 'foo' });
      const pod = Buffer.concat([Buffer.from('k8s\0'), ld(1, Buffer.concat([ld(1, 'v1'), ld(2, 'Pod')]))]);
      expect((await s.request('POST', '/api/v1/namespaces/default/pods', pod, { 'content-type': 'application/vnd.kubernetes.protobuf' })).status).toBe(415);
      const bad = await s.request('POST', '/api/v1/namespaces', Buffer.from('k8s\0\x0a\xff\xff'), { 'content-type': 'application/vnd.kubernetes.protobuf' });
      expect(bad.status).toBe(400);
      expect(bad.body.kind).toBe('Status');
    } finally {
      await s.close();
    }
  });
});
