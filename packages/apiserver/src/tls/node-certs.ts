/**
 * Certificates of the apiserver ↔ agent channel, signed by the cluster CA
 * in the cert dir: the agents' serving certificates (one per node, issued
 * on a node's own request, see node-certificate-endpoint.ts) and the
 * client certificate the apiserver shows agents (CN
 * `kube-apiserver-kubelet-client`, as kube-apiserver's
 * --kubelet-client-certificate conventionally is).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CERT_FILES } from './serving-certs.js';
import { classifyHosts, openssl, randomSerial } from './openssl.js';

/** The identity (CN) of the apiserver's client certificate; agents allow exactly this name. */
export const KUBELET_CLIENT_CN = 'kube-apiserver-kubelet-client';
/** The organisation of node serving certificates, as Kubernetes' kubelet-serving signer requires. */
export const NODES_ORGANIZATION = 'system:nodes';
/** CN prefix of a node's serving certificate: `system:node:<name>`. */
export const NODE_CN_PREFIX = 'system:node:';

const CLIENT_FILES = { cert: 'apiserver-kubelet-client.crt', key: 'apiserver-kubelet-client.key' } as const;
const NODE_CERT_DAYS = 365;
const CLIENT_CERT_DAYS = 365;
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/** A PEM key pair plus the CA that signed it. */
export interface ClusterKeyPair {
  cert: string;
  key: string;
  /** The cluster CA (PEM): what the peer's certificate must chain to. */
  ca: string;
}

/** The CN of a certificate's subject, or undefined. */
export function subjectCN(cert: X509Certificate): string | undefined {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
}

async function readCa(certDir: string): Promise<{ ca: string; caFile: string; caKeyFile: string }> {
  const dir = resolve(certDir);
  const caFile = join(dir, CERT_FILES.caCert);
  const caKeyFile = join(dir, CERT_FILES.caKey);
  let ca: string;
  try {
    ca = await readFile(caFile, 'utf8');
    await readFile(caKeyFile, 'utf8');
  } catch (err) {
    throw new Error(`the cluster CA (${caFile} and ${caKeyFile}) is needed to sign node channel certificates: ${(err as Error).message}`);
  }
  return { ca, caFile, caKeyFile };
}

function clientExtensions(): string {
  return [
    '[v3_client]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = clientAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    '',
  ].join('\n');
}

/**
 * Makes sure `<certDir>/apiserver-kubelet-client.{crt,key}` exist, are
 * signed by the current CA and are not close to expiry; issues them
 * otherwise. Every apiserver sharing the cert dir shows the same identity.
 */
export async function ensureKubeletClientCert(certDir: string): Promise<ClusterKeyPair> {
  const { ca, caFile, caKeyFile } = await readCa(certDir);
  const dir = resolve(certDir);
  const certFile = join(dir, CLIENT_FILES.cert);
  const keyFile = join(dir, CLIENT_FILES.key);
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const x = new X509Certificate(cert);
    if (x.verify(new X509Certificate(ca).publicKey) && x.checkPrivateKey(createPrivateKey(key)) && Date.parse(x.validTo) - Date.now() > RENEW_BEFORE_MS) {
      return { cert, key, ca };
    }
  } catch {
    // Missing or damaged: issue a new pair below.
  }
  const work = await mkdtemp(join(dir, '.tmp-'));
  try {
    await writeFile(join(work, 'ext.cnf'), clientExtensions());
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-subj', `/O=system:masters/CN=${KUBELET_CLIENT_CN}`, '-keyout', 'client.key', '-out', 'client.csr'], work);
    await openssl(['x509', '-req', '-in', 'client.csr', '-CA', caFile, '-CAkey', caKeyFile, '-set_serial', randomSerial(), '-days', String(CLIENT_CERT_DAYS), '-sha256', '-extfile', 'ext.cnf', '-extensions', 'v3_client', '-out', 'client.crt'], work);
    const key = await readFile(join(work, 'client.key'), 'utf8');
    const cert = await readFile(join(work, 'client.crt'), 'utf8');
    await writeFile(keyFile, key, { mode: 0o600 });
    await writeFile(certFile, cert, { mode: 0o644 });
    return { cert, key, ca };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** What a node asked to have signed, after checking. */
export interface NodeCsrRequest {
  /** The node the authenticated caller is. */
  nodeName: string;
  /** PEM `CERTIFICATE REQUEST` made by the agent. */
  csrPem: string;
  /** The subjectAltNames to put in the certificate: the node's own name and addresses, decided by the caller of this function. */
  hosts: string[];
}

/** The subject line openssl prints for a CSR, e.g. `subject=O = system:nodes, CN = system:node:n1`. */
function parseSubject(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.replace(/^subject=\s*/, '').split(/,\s*/)) {
    const m = /^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$/.exec(part);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Why a CSR cannot be signed for this node (the caller turns it into a 4xx). */
export class CsrRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsrRejected';
  }
}

/**
 * Signs a node's serving certificate with the cluster CA. The CSR only
 * contributes its public key and must prove possession of the private key
 * (`openssl req -verify`) and name the node (`CN=system:node:<name>`,
 * `O=system:nodes`); the subjectAltNames and extensions come from `hosts`
 * and this function, never from the CSR, so a node cannot ask for more.
 */
export async function signNodeServingCert(certDir: string, request: NodeCsrRequest): Promise<string> {
  const { caFile, caKeyFile } = await readCa(certDir);
  if (!/^-----BEGIN CERTIFICATE REQUEST-----[\s\S]+-----END CERTIFICATE REQUEST-----\s*$/.test(request.csrPem.trim()) || request.csrPem.length > 16_384) {
    throw new CsrRejected('spec.request must be one PEM "CERTIFICATE REQUEST" block');
  }
  const san = classifyHosts(request.hosts);
  const work = await mkdtemp(join(resolve(certDir), '.tmp-'));
  try {
    await writeFile(join(work, 'node.csr'), request.csrPem);
    try {
      await openssl(['req', '-in', 'node.csr', '-noout', '-verify', '-subject', '-nameopt', 'sep_comma_plus_space,utf8', '-out', 'subject.txt'], work);
    } catch (err) {
      throw new CsrRejected(`the certificate request does not verify: ${(err as Error).message.slice(0, 300)}`);
    }
    const subject = parseSubject((await readFile(join(work, 'subject.txt'), 'utf8')).trim());
    const wantCN = `${NODE_CN_PREFIX}${request.nodeName}`;
    if (subject.CN !== wantCN) throw new CsrRejected(`the certificate request's subject CN is ${JSON.stringify(subject.CN ?? '')}; node "${request.nodeName}" may only ask for CN=${wantCN}`);
    if (subject.O !== NODES_ORGANIZATION) throw new CsrRejected(`the certificate request's subject O must be ${NODES_ORGANIZATION}`);
    const alt = [...san.dns.map((d, i) => `DNS.${i + 1} = ${d}`), ...san.ips.map((ip, i) => `IP.${i + 1} = ${ip}`)];
    await writeFile(
      join(work, 'ext.cnf'),
      ['[v3_node]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature, keyEncipherment', 'extendedKeyUsage = serverAuth',
        'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid, issuer', 'subjectAltName = @alt_names', '[alt_names]', ...alt, ''].join('\n'),
    );
    // -subj-less x509 -req copies the CSR subject, which was checked above to be exactly the node's.
    await openssl(['x509', '-req', '-in', 'node.csr', '-CA', caFile, '-CAkey', caKeyFile, '-set_serial', randomSerial(), '-days', String(NODE_CERT_DAYS), '-sha256',
      '-extfile', 'ext.cnf', '-extensions', 'v3_node', '-out', 'node.crt'], work);
    return await readFile(join(work, 'node.crt'), 'utf8');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
