import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClientCertAuthenticator, subjectNames, UnionAuthenticator } from './x509.js';

let dir = '';
const pem: Record<string, string> = {};

/** A CA, a client certificate (node identity), a server-only one and one from another CA, made with openssl. */
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'x509-test-'));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) => {
    writeFileSync(join(dir, 'ca.cnf'), '[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n');
    ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`, '-extensions', 'v3_ca', '-config', 'ca.cnf']);
  };
  ca('ca');
  ca('other');
  const leaf = (name: string, subj: string, eku: string, signer: string) => {
    writeFileSync(join(dir, `${name}.cnf`), `[e]\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=${eku}\n`);
    ssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-set_serial', '7', '-days', '1', '-extfile', `${name}.cnf`, '-extensions', 'e', '-out', `${name}.crt`]);
    pem[name] = readFileSync(join(dir, `${name}.crt`), 'utf8');
  };
  leaf('node', '/O=system:nodes/CN=system:node:w1', 'clientAuth', 'ca');
  leaf('serving', '/O=system:nodes/CN=system:node:w1', 'serverAuth', 'ca');
  leaf('foreign', '/O=system:masters/CN=admin', 'clientAuth', 'other');
  pem.ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const peer = (name: string, authorized = true) => ({ socket: { authorized, getPeerX509Certificate: () => new X509Certificate(pem[name]!) } });

describe('ClientCertAuthenticator', () => {
  it('maps CN to the user and O to groups', () => {
    expect(new ClientCertAuthenticator(pem.ca!).authenticate({}, peer('node'))).toEqual({ name: 'system:node:w1', groups: ['system:nodes', 'system:authenticated'] });
  });
  it.each([
    ['a serving (serverAuth-only) certificate', peer('serving')],
    ['a certificate of another CA', peer('foreign')],
    ['a chain TLS did not verify', peer('node', false)],
    ['no TLS socket', {}],
  ])('refuses %s', (_, p) => {
    expect(new ClientCertAuthenticator(pem.ca!).authenticate({}, p)).toBeUndefined();
  });
  it('reads a connection\'s certificate once per handshake, and checks its validity on every request', () => {
    const auth = new ClientCertAuthenticator(pem.ca!);
    let reads = 0;
    let finished = Buffer.from('handshake-1');
    const socket = {
      authorized: true,
      getFinished: () => Buffer.from(finished),
      getPeerX509Certificate: () => {
        reads++;
        return new X509Certificate(pem.node!);
      },
    };
    const user = auth.authenticate({}, { socket });
    expect(user).toEqual({ name: 'system:node:w1', groups: ['system:nodes', 'system:authenticated'] });
    // Each request gets its own copy of the identity.
    user!.groups.push('system:masters');
    expect(auth.authenticate({}, { socket })).toEqual({ name: 'system:node:w1', groups: ['system:nodes', 'system:authenticated'] });
    expect(reads).toBe(1);
    // A renegotiation is a new handshake: the certificate is read again.
    finished = Buffer.from('handshake-2');
    expect(auth.authenticate({}, { socket })).toBeDefined();
    expect(reads).toBe(2);
    // Another connection is judged on its own.
    expect(auth.authenticate({}, { socket: { ...socket, getFinished: () => Buffer.from('other') } })).toBeDefined();
    expect(reads).toBe(3);
    // Expiry is checked per request, not per connection.
    const validTo = Date.parse(new X509Certificate(pem.node!).validTo);
    vi.useFakeTimers({ now: validTo + 1000 });
    try {
      expect(auth.authenticate({}, { socket })).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
    expect(reads).toBe(3);
  });
  it('keeps refusing a refused certificate on the same connection, and refuses it once TLS says unauthorized', () => {
    const auth = new ClientCertAuthenticator(pem.ca!);
    const socket = { authorized: true, getFinished: () => Buffer.from('h'), getPeerX509Certificate: () => new X509Certificate(pem.foreign!) };
    expect(auth.authenticate({}, { socket })).toBeUndefined();
    expect(auth.authenticate({}, { socket })).toBeUndefined();
    const good = { authorized: true, getFinished: () => Buffer.from('h'), getPeerX509Certificate: () => new X509Certificate(pem.node!) };
    expect(auth.authenticate({}, { socket: good })).toBeDefined();
    good.authorized = false;
    expect(auth.authenticate({}, { socket: good })).toBeUndefined();
  });
  it('reads multi-valued subjects', () => {
    expect(subjectNames('O=a\nO=b\nCN=x')).toEqual({ cn: 'x', orgs: ['a', 'b'] });
  });
  it('a union tries each in order', async () => {
    const u = new UnionAuthenticator([{ authenticate: () => undefined }, { authenticate: async () => ({ name: 'b', groups: [] }) }]);
    expect(await u.authenticate({})).toEqual({ name: 'b', groups: [] });
  });
});
