import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash, credentialState } from './bootstrap.js';

let dir = '';
const pem: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bootstrap-test-'));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'ca.cnf'), '[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n');
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=ca', '-extensions', 'v3_ca', '-config', 'ca.cnf']);
  ssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/O=system:nodes/CN=system:node:w1']);
  ssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '9', '-days', '9', '-out', 'node.crt']);
  for (const f of ['ca.crt', 'node.crt', 'node.key']) pem[f] = readFileSync(join(dir, f), 'utf8');
  // kubeadm's documented way to compute --discovery-token-ca-cert-hash.
  const der = execFileSync('sh', ['-c', 'openssl x509 -pubkey -noout -in ca.crt | openssl pkey -pubin -outform der'], { cwd: dir });
  pem.hash = `sha256:${createHash('sha256').update(der).digest('hex')}`;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('caCertHash', () => {
  it('is the SHA-256 of the CA public key (SubjectPublicKeyInfo), as kubeadm pins it', () => {
    expect(caCertHash(pem['ca.crt']!)).toBe(pem.hash);
  });
});

describe('credentialState', () => {
  const cfg = (more: Record<string, string | undefined> = {}) => ({ server: 'https://x', ca: pem['ca.crt'], clientCert: pem['node.crt'], clientKey: pem['node.key'], ...more });
  const validTo = () => Date.parse(new X509Certificate(pem['node.crt']!).validTo);

  it('keeps a fresh certificate of this node', () => {
    expect(credentialState(cfg(), 'w1')).toBeUndefined();
  });
  it('renews one with less than a third of its lifetime left', () => {
    expect(credentialState(cfg(), 'w1', validTo() - 2 * 86400_000)).toBe('renew');
  });
  it.each([
    ['a token kubeconfig', { clientCert: undefined, clientKey: undefined, token: 't' }, 'w1'],
    ['another node\'s certificate', {}, 'w2'],
    ['a certificate of another CA', { ca: pem['node.crt'] }, 'w1'],
  ])('bootstraps again for %s', (_, more, node) => {
    expect(credentialState(cfg(more as Record<string, string | undefined>), node)).toBe('unusable');
  });
  it('bootstraps again once expired', () => {
    expect(credentialState(cfg(), 'w1', validTo() + 1000)).toBe('unusable');
  });
});
