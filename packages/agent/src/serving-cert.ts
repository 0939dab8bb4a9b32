/**
 * The node server's certificate. The agent makes its own key, asks the
 * apiserver (as its node identity) to sign a request for
 * `CN=system:node:<name>, O=system:nodes` with the cluster CA, and keeps
 * the answer under the state dir; a later start reuses it while it is
 * signed by the current CA, covers the node's address and is not close to
 * expiry. Until the signed certificate arrives (the Node must exist first)
 * the server runs on a throwaway self-signed one that the apiserver refuses.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { openssl } from '@flotilla/network';

/** A key pair in PEM. */
export interface ServingCert {
  key: string;
  cert: string;
  certFile: string;
}

/** Signs a PEM certificate request; returns the PEM certificate (the apiserver's nodeservingcertificates endpoint). */
export type CertificateSigner = (csrPem: string) => Promise<string>;

const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/** `<dir>/bootstrap.crt` + key: a self-signed pair to serve with before the CA-signed one exists (nobody trusts it). */
export async function ensureSelfSignedCert(dir: string, nodeName: string, nodeIP: string): Promise<ServingCert> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, 'bootstrap.crt');
  const keyFile = join(dir, 'bootstrap.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const dnsName = /^[a-zA-Z0-9.-]+$/.test(nodeName) ? nodeName : 'flotilla-agent';
    const sans = [`DNS:${dnsName}`, ...(isIP(nodeIP) ? [`IP:${nodeIP}`] : [])];
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '3650', '-subj', `/CN=bootstrap:${dnsName}`, '-addext', `subjectAltName=${sans.join(',')}`], dir);
  }
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8'), certFile };
}

/** Why a stored node certificate cannot be used, or undefined when it can. */
export function staleReason(certPem: string, keyPem: string, caPem: string, nodeName: string, nodeIP: string): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'the key does not match';
  } catch (err) {
    return `damaged: ${(err as Error).message}`;
  }
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
  } catch (err) {
    return `the cluster CA does not parse: ${(err as Error).message}`;
  }
  if (!cert.verify(ca.publicKey)) return 'not signed by the current cluster CA';
  if (!new RegExp(`(^|\\n)CN=system:node:${nodeName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\n|$)`).test(cert.subject)) return `not issued for node ${nodeName}`;
  if (isIP(nodeIP) && !cert.checkIP(nodeIP)) return `does not cover ${nodeIP}`;
  if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return `expires ${cert.validTo}`;
  return undefined;
}

/** The stored CA-signed pair, when still good. */
export async function loadNodeCert(dir: string, caPem: string, nodeName: string, nodeIP: string): Promise<ServingCert | undefined> {
  const certFile = join(dir, 'node.crt');
  const keyFile = join(dir, 'node.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return staleReason(cert, key, caPem, nodeName, nodeIP) ? undefined : { cert, key, certFile };
}

/**
 * Gets a CA-signed serving certificate for the node: makes a fresh key and
 * request, has `sign` sign it, checks the answer and stores both.
 */
export async function requestNodeCert(dir: string, caPem: string, nodeName: string, nodeIP: string, sign: CertificateSigner): Promise<ServingCert> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const work = join(dir, `.csr-${process.pid}`);
  await mkdir(work, { recursive: true, mode: 0o700 });
  try {
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-subj', `/O=system:nodes/CN=system:node:${nodeName}`, '-keyout', 'node.key', '-out', 'node.csr'], work);
    const key = await readFile(join(work, 'node.key'), 'utf8');
    const cert = await sign(await readFile(join(work, 'node.csr'), 'utf8'));
    const why = staleReason(cert, key, caPem, nodeName, nodeIP);
    if (why) throw new Error(`the apiserver returned an unusable serving certificate: ${why}`);
    await writeFile(join(dir, 'node.key'), key, { mode: 0o600 });
    await writeFile(join(dir, 'node.crt'), cert, { mode: 0o644 });
    return { key, cert, certFile: join(dir, 'node.crt') };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
