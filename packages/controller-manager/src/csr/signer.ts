/**
 * Reads and signs PEM certificate requests with the cluster CA through the
 * `openssl` CLI (Node's crypto cannot parse requests or issue certificates).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openssl } from '@flotilla/network';
import type { ParsedRequest } from './csr-checks.js';

async function inTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-csr-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Parses `openssl req -text` subject and SAN lines; rejects when the request's signature does not verify. */
export async function parseRequest(pem: string): Promise<ParsedRequest> {
  return inTemp(async (dir) => {
    await writeFile(join(dir, 'req.csr'), pem);
    const subject = await openssl(['req', '-in', 'req.csr', '-noout', '-verify', '-subject', '-nameopt', 'sep_multiline,utf8'], dir);
    const text = await openssl(['req', '-in', 'req.csr', '-noout', '-text'], dir);
    const out: ParsedRequest = { orgs: [], otherSubject: [], sans: [] };
    for (const line of subject.split('\n').slice(1)) {
      const m = /^\s*([A-Za-z0-9.]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (!m) continue;
      if (m[1] === 'CN') out.cn = m[2];
      else if (m[1] === 'O') out.orgs.push(m[2]!);
      else out.otherSubject.push(m[1]!);
    }
    const san = /X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]+)/.exec(text);
    if (san) out.sans = san[1]!.split(',').map((s) => s.trim()).filter(Boolean);
    return out;
  });
}

/** `YYYYMMDDHHMMSSZ`, the form `openssl ca -startdate/-enddate` takes. */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Issues a client certificate for the request (subject copied, checked by
 * the caller), valid for `seconds` from now. `openssl ca` rather than
 * `openssl x509 -days`: the validity is set to the second, so short
 * durations (`--cluster-signing-duration`, a CSR's `expirationSeconds`)
 * mean what they say.
 */
export async function signClientCertificate(pem: string, caCertFile: string, caKeyFile: string, seconds: number): Promise<string> {
  return inTemp(async (dir) => {
    await writeFile(join(dir, 'req.csr'), pem);
    await writeFile(
      join(dir, 'ext.cnf'),
      ['[v3_client]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature, keyEncipherment', 'extendedKeyUsage = clientAuth',
        'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid, issuer', ''].join('\n'),
    );
    // A throwaway database: this signer keeps no record of what it issued (the CSR objects are the record).
    await writeFile(
      join(dir, 'ca.cnf'),
      ['[ca]', 'default_ca = signer', '[signer]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256', 'policy = node',
        'unique_subject = no', '[node]', 'organizationName = optional', 'commonName = supplied', ''].join('\n'),
    );
    await writeFile(join(dir, 'index.txt'), '');
    const now = Date.now();
    await openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', caCertFile, '-keyfile', caKeyFile, '-in', 'req.csr', '-out', 'cert.pem', '-notext', '-preserveDN', '-rand_serial',
      '-startdate', asn1Time(now), '-enddate', asn1Time(now + seconds * 1000), '-extfile', 'ext.cnf', '-extensions', 'v3_client'], dir);
    return readFile(join(dir, 'cert.pem'), 'utf8');
  });
}
