/** SNI certificate choice and rotation on a real TLS listener (loopback), certificates made with openssl. */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedPair, TlsStore, type KeyPair, type TlsSecret, type TlsSection } from './tls-store.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, pair: KeyPair, rv: string, type = 'kubernetes.io/tls'): TlsSecret => ({
  apiVersion: 'v1', kind: 'Secret', type, metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: rv }, data: { 'tls.crt': b64(pair.cert), 'tls.key': b64(pair.key) },
});
const section = (secretName: string, hosts: string[]): TlsSection => ({ ingress: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default' } }, namespace: 'default', secretName, hosts });

/** The subject CN the server presents for `servername`. */
function servedCN(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.on('error', reject);
  });
}

let store: TlsStore;
let server: Server;
let port = 0;
let a: KeyPair, a2: KeyPair, wild: KeyPair;

beforeAll(async () => {
  [a, a2, wild] = await Promise.all([selfSignedPair('a-v1', ['a.test']), selfSignedPair('a-v2', ['a.test']), selfSignedPair('wild', ['*.b.test'])]);
  store = new TlsStore(await selfSignedPair());
  server = createServer({ SNICallback: store.sniCallback, ...store.defaultPair }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
}, 30_000);
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('TlsStore', () => {
  it('picks the certificate by SNI: exact, one-label wildcard, else the default', async () => {
    const secrets = new Map([['default/a', secret('a', a, '1')], ['default/w', secret('w', wild, '1')]]);
    expect(store.replace([section('a', ['a.test']), section('w', ['*.b.test'])], (ns, n) => secrets.get(`${ns}/${n}`))).toEqual([]);
    expect(await servedCN(port, 'a.test')).toBe('a-v1');
    expect(await servedCN(port, 'x.b.test')).toBe('wild');
    expect(await servedCN(port, 'x.y.b.test')).toBe('Flotilla Ingress Default Certificate');
    expect(await servedCN(port, 'other.test')).toBe('Flotilla Ingress Default Certificate');
    expect(await servedCN(port)).toBe('Flotilla Ingress Default Certificate');
  });

  it('serves a rotated Secret on the next handshake', async () => {
    const secrets = new Map([['default/a', secret('a', a, '1')]]);
    store.replace([section('a', ['a.test'])], (ns, n) => secrets.get(`${ns}/${n}`));
    expect(await servedCN(port, 'a.test')).toBe('a-v1');
    secrets.set('default/a', secret('a', a2, '2'));
    store.replace([section('a', ['a.test'])], (ns, n) => secrets.get(`${ns}/${n}`));
    expect(await servedCN(port, 'a.test')).toBe('a-v2');
  });

  it('reports a missing Secret, a wrong type and a bad certificate; their hosts get the default', async () => {
    const secrets = new Map([
      ['default/opaque', secret('opaque', a, '1', 'Opaque')],
      ['default/junk', { ...secret('junk', a, '1'), data: { 'tls.crt': b64('junk'), 'tls.key': b64('junk') } }],
    ]);
    const problems = store.replace([section('gone', ['g.test']), section('opaque', ['o.test']), section('junk', ['j.test'])], (ns, n) => secrets.get(`${ns}/${n}`));
    expect(problems.map((p) => p.reason)).toEqual(['SecretNotFound', 'InvalidSecretType', 'InvalidCertificate']);
    expect(problems[1]!.message).toContain('want kubernetes.io/tls');
    expect(await servedCN(port, 'o.test')).toBe('Flotilla Ingress Default Certificate');
  });
});
