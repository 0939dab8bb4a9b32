/**
 * TLS bootstrapping, as the kubelet does it: a new node holds only a
 * bootstrap token (and a way to trust the cluster CA: a CA file, or the
 * CA's public-key hash as `kubeadm join --discovery-token-ca-cert-hash`
 * pins it). It makes its own key, asks for `CN=system:node:<name>,
 * O=system:nodes` with a CertificateSigningRequest for signer
 * `kubernetes.io/kube-apiserver-client-kubelet`, waits for the
 * controller-manager to approve and sign it, and writes its own kubeconfig
 * (client certificate and key inline, mode 0600) under the state dir. Later
 * starts reuse that kubeconfig, and renew it with the node's own identity
 * when less than a third of its lifetime is left.
 */
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { dirname, join } from 'node:path';
import { openssl } from '@flotilla/network';
import { csrCondition, KUBELET_CLIENT_SIGNER, type CertificateSigningRequest } from '@flotilla/api';
import { loadKubeconfig, RestClient, type ClientConfig, type Logger } from '@flotilla/client';

/** How a node without a credential gets one. */
export interface BootstrapOptions {
  /** A kubeconfig whose user is a bootstrap token (kubelet's --bootstrap-kubeconfig). */
  bootstrapKubeconfig?: string;
  /** Or: the apiserver URL, the token and how to trust the CA. */
  server?: string;
  token?: string;
  /** The cluster CA certificate (PEM file). */
  caFile?: string;
  /** `sha256:<hex>` of the CA's SubjectPublicKeyInfo; the CA is then taken from the server's chain if it matches. */
  caCertHashes?: string[];
  /** How long to wait for the signed certificate. Default 5 min. */
  timeoutMs?: number;
}

const POLL_MS = 500;

/** `sha256:<hex>` of a certificate's public key (SubjectPublicKeyInfo DER), as kubeadm pins CAs. */
export function caCertHash(pem: string): string {
  const spki = createPublicKey(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' })).export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/**
 * Finds the cluster CA by its pinned hash in the certificate chain the
 * server presents, and checks the server's certificate is signed by it.
 * The chain is read without trusting it; only the pin makes it trusted.
 */
export async function discoverCa(server: string, hashes: string[], timeoutMs = 10_000): Promise<string> {
  const url = new URL(server);
  const wanted = new Set(hashes.map((h) => h.toLowerCase()));
  for (const h of wanted) if (!/^sha256:[0-9a-f]{64}$/.test(h)) throw new Error(`--discovery-token-ca-cert-hash ${h}: want sha256:<64 hex digits>`);
  const chain = await new Promise<PeerCertificate[]>((resolve, reject) => {
    const socket = tlsConnect({ host: url.hostname, port: Number(url.port || 443), rejectUnauthorized: false, servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname, timeout: timeoutMs }, () => {
      const certs: PeerCertificate[] = [];
      let cur = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
      while (cur && cur.raw && !certs.some((c) => c.raw.equals(cur.raw))) {
        certs.push(cur);
        cur = cur.issuerCertificate as PeerCertificate & { issuerCertificate?: PeerCertificate };
      }
      socket.destroy();
      resolve(certs);
    });
    socket.on('timeout', () => socket.destroy(new Error(`no TLS answer from ${server} within ${timeoutMs} ms`)));
    socket.on('error', reject);
  });
  if (chain.length === 0) throw new Error(`${server} presented no certificate`);
  const leaf = new X509Certificate(chain[0]!.raw);
  for (const c of chain) {
    const x = new X509Certificate(c.raw);
    if (!x.ca || !wanted.has(caCertHash(x.toString()))) continue;
    if (!leaf.verify(x.publicKey)) throw new Error(`the CA pinned by --discovery-token-ca-cert-hash did not sign ${server}'s certificate`);
    return x.toString();
  }
  throw new Error(`none of the certificates ${server} presents matches --discovery-token-ca-cert-hash (server offered ${chain.map((c) => caCertHash(new X509Certificate(c.raw).toString())).join(', ')})`);
}

/** Why a node kubeconfig cannot be used as is: 'unusable' (bootstrap again), 'renew' (still works, ask for a new one), or undefined. */
export function credentialState(config: ClientConfig, nodeName: string, now = Date.now()): 'unusable' | 'renew' | undefined {
  if (!config.clientCert || !config.clientKey || !config.ca) return 'unusable';
  try {
    const cert = new X509Certificate(config.clientCert);
    if (!cert.verify(new X509Certificate(config.ca).publicKey)) return 'unusable';
    if (!cert.subject.split('\n').includes(`CN=system:node:${nodeName}`)) return 'unusable';
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (to <= now + 60_000) return 'unusable';
    if (to - now < (to - from) / 3) return 'renew';
    return undefined;
  } catch {
    return 'unusable';
  }
}

/** Writes a kubeconfig with an inline client certificate, atomically and with mode 0600. */
export async function writeNodeKubeconfig(file: string, nodeName: string, server: string, ca: string, cert: string, key: string): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const user = `system:node:${nodeName}`;
  // JSON is YAML: kubectl and every client read it, and it needs no YAML writer here.
  const text = `${JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'flotilla', cluster: { server, 'certificate-authority-data': b64(ca) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
    contexts: [{ name: 'default', context: { cluster: 'flotilla', user } }],
    'current-context': 'default',
  }, null, 2)}\n`;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** Asks for a node client certificate with `client`'s identity; resolves with the key and the signed certificate. */
export async function requestNodeClientCert(client: RestClient, nodeName: string, log: Logger, timeoutMs = 300_000): Promise<{ cert: string; key: string }> {
  const work = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'flotilla-bootstrap-'));
  let key: string;
  let csrPem: string;
  try {
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-subj', `/O=system:nodes/CN=system:node:${nodeName}`, '-keyout', 'key.pem', '-out', 'req.csr'], work);
    key = await readFile(join(work, 'key.pem'), 'utf8');
    csrPem = await readFile(join(work, 'req.csr'), 'utf8');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const csrs = client.resource<CertificateSigningRequest>('certificatesigningrequests');
  const created = await csrs.create({
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'node-csr-' },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: KUBELET_CLIENT_SIGNER, usages: ['digital signature', 'client auth'] },
  });
  const name = created.metadata.name!;
  log.info({ csr: name, node: nodeName }, 'asked for a node client certificate; waiting for approval');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cur = await csrs.get(undefined, name);
    const denied = csrCondition(cur, 'Denied') ?? csrCondition(cur, 'Failed');
    if (denied) throw new Error(`certificate request ${name} was ${denied.type.toLowerCase()}: ${denied.reason ?? ''} ${denied.message ?? ''}`.trim());
    if (cur.status?.certificate) {
      const cert = Buffer.from(cur.status.certificate, 'base64').toString('utf8');
      log.info({ csr: name, node: nodeName }, 'node client certificate issued');
      return { cert, key };
    }
    if (Date.now() > deadline) throw new Error(`certificate request ${name} was not signed within ${Math.round(timeoutMs / 1000)} s (is the controller-manager running with the cluster CA, --cluster-signing-cert-file?)`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Makes sure `kubeconfig` holds this node's own credential: reuses it when
 * good, renews it with itself when it nears expiry, and otherwise
 * bootstraps one with `boot`. Without `boot` the file must already be
 * usable as it is (a token kubeconfig, the old way, is left alone).
 */
export async function ensureNodeCredential(kubeconfig: string, nodeName: string, boot: BootstrapOptions, log: Logger): Promise<void> {
  let existing: ClientConfig | undefined;
  if (existsSync(kubeconfig)) {
    try {
      existing = loadKubeconfig(kubeconfig);
    } catch (err) {
      log.warn({ kubeconfig, err: (err as Error).message }, 'node kubeconfig unreadable; bootstrapping again');
    }
  }
  const state = existing ? credentialState(existing, nodeName) : 'unusable';
  if (existing && state === undefined) {
    log.info({ kubeconfig }, 'using the node credential from an earlier start');
    return;
  }
  if (existing && state === 'renew') {
    const client = new RestClient(existing, { userAgent: `flotilla-agent/${nodeName}` });
    try {
      const { cert, key } = await requestNodeClientCert(client, nodeName, log, boot.timeoutMs);
      await writeNodeKubeconfig(kubeconfig, nodeName, existing.server, existing.ca!, cert, key);
      log.info({ kubeconfig }, 'renewed the node credential');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'renewing the node credential failed; using the current one');
    } finally {
      await client.close();
    }
    return;
  }
  let bootConfig: ClientConfig;
  if (boot.bootstrapKubeconfig) bootConfig = loadKubeconfig(boot.bootstrapKubeconfig);
  else if (boot.server && boot.token) {
    let ca: string;
    if (boot.caFile) ca = await readFile(boot.caFile, 'utf8');
    else if (boot.caCertHashes?.length) ca = await discoverCa(boot.server, boot.caCertHashes);
    else throw new Error('a bootstrap token needs a way to trust the cluster CA: --discovery-token-ca-cert-hash sha256:… or --ca-file');
    bootConfig = { server: boot.server.replace(/\/+$/, ''), ca, token: boot.token };
  } else if (existing) {
    // No bootstrap credential given: the kubeconfig is used as it is (e.g. a token kubeconfig).
    return;
  } else {
    throw new Error(`no node credential at ${kubeconfig} and nothing to bootstrap one with (--bootstrap-kubeconfig, or --bootstrap-token with --server)`);
  }
  if (!bootConfig.ca) throw new Error('the bootstrap kubeconfig carries no cluster CA');
  const client = new RestClient(bootConfig, { userAgent: `flotilla-agent/${nodeName} (bootstrap)` });
  try {
    const { cert, key } = await requestNodeClientCert(client, nodeName, log, boot.timeoutMs);
    await writeNodeKubeconfig(kubeconfig, nodeName, bootConfig.server, bootConfig.ca, cert, key);
    log.info({ kubeconfig, node: nodeName }, 'wrote the node kubeconfig (client certificate); the bootstrap token is no longer used');
  } finally {
    await client.close();
  }
}
