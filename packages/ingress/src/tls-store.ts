/**
 * Certificates for the HTTPS listener, chosen per handshake by SNI from the
 * current map (so a rotated Secret is served on the next handshake, no
 * restart): an exact host first, then a one-label wildcard entry
 * (`*.example.com`), else the default certificate — a self-signed one made
 * at start-up, as ingress-nginx serves its "fake certificate".
 *
 * Certificates come from `kubernetes.io/tls` Secrets (`tls.crt`, `tls.key`)
 * named by the Ingresses' `spec.tls`; a Secret that is missing, of another
 * type or unparsable is reported (the controller records a Warning Event)
 * and its hosts get the default certificate.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { KubeObject } from '@flotilla/api';

/** The part of a core/v1 Secret the ingress reads. */
export interface TlsSecret extends KubeObject {
  type?: string;
  /** Base64 values, as the API serves them. */
  data?: Record<string, string>;
}

/** One `spec.tls` entry of an Ingress of ours. */
export interface TlsSection {
  /** The Ingress (for Events). */
  ingress: KubeObject;
  namespace: string;
  secretName: string;
  /** Lower-case hosts; wildcards as `*.x`. */
  hosts: string[];
}

/** Why a section's Secret cannot be used. */
export interface TlsProblem {
  section: TlsSection;
  reason: 'SecretNotFound' | 'InvalidSecretType' | 'InvalidCertificate';
  message: string;
}

/** A certificate and key in PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** The SNI map; replace() swaps it whole. */
export class TlsStore {
  private contexts = new Map<string, SecureContext>();
  /** Parsed contexts by Secret uid + resourceVersion, so a rebuild does not re-parse unchanged Secrets. */
  private cache = new Map<string, SecureContext>();
  readonly defaultContext: SecureContext;
  /** The default certificate; give it to the server as `cert`/`key` too (a handshake without SNI never reaches the SNICallback). */
  readonly defaultPair: KeyPair;

  constructor(defaultPair: KeyPair) {
    this.defaultPair = defaultPair;
    this.defaultContext = createSecureContext(defaultPair);
  }

  /** Rebuilds the map from the sections and a Secret lookup; returns what could not be used. */
  replace(sections: readonly TlsSection[], secret: (namespace: string, name: string) => TlsSecret | undefined): TlsProblem[] {
    const next = new Map<string, SecureContext>();
    const cache = new Map<string, SecureContext>();
    const problems: TlsProblem[] = [];
    for (const s of sections) {
      const sec = secret(s.namespace, s.secretName);
      const name = `${s.namespace}/${s.secretName}`;
      if (!sec) {
        problems.push({ section: s, reason: 'SecretNotFound', message: `secret ${name} not found; hosts ${s.hosts.join(',')} get the default certificate` });
        continue;
      }
      if (sec.type !== 'kubernetes.io/tls') {
        problems.push({ section: s, reason: 'InvalidSecretType', message: `secret ${name} is of type ${sec.type ?? 'Opaque'}, want kubernetes.io/tls; hosts ${s.hosts.join(',')} get the default certificate` });
        continue;
      }
      const id = `${sec.metadata.uid}/${sec.metadata.resourceVersion}`;
      let ctx = cache.get(id) ?? this.cache.get(id);
      if (!ctx) {
        try {
          const cert = Buffer.from(sec.data?.['tls.crt'] ?? '', 'base64').toString();
          const key = Buffer.from(sec.data?.['tls.key'] ?? '', 'base64').toString();
          ctx = createSecureContext({ cert, key });
        } catch (err) {
          problems.push({ section: s, reason: 'InvalidCertificate', message: `secret ${name}: ${(err as Error).message}` });
          continue;
        }
      }
      cache.set(id, ctx);
      for (const h of s.hosts) if (!next.has(h)) next.set(h, ctx);
    }
    this.contexts = next;
    this.cache = cache;
    return problems;
  }

  /** The context for an SNI server name: exact, one-label wildcard, else the default. */
  contextFor(servername: string | undefined): SecureContext {
    if (!servername) return this.defaultContext;
    const host = servername.toLowerCase();
    const exact = this.contexts.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    return (dot > 0 && this.contexts.get(`*.${host.slice(dot + 1)}`)) || this.defaultContext;
  }

  /** For tls.createServer: picks the context of the current map on every handshake. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };
}

/** A self-signed ECDSA P-256 certificate for `cn`, made with the openssl CLI (Node cannot sign). */
export async function selfSignedPair(cn = 'Flotilla Ingress Default Certificate', hosts: string[] = ['ingress.local']): Promise<KeyPair> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-ingress-cert-'));
  try {
    const san = hosts.map((h) => `DNS:${h}`).join(',');
    await new Promise<void>((resolve, reject) =>
      execFile(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-keyout', 'key.pem', '-out', 'cert.pem'],
        { cwd: dir, timeout: 30_000 },
        (err, _o, stderr) => (err ? reject(new Error(`openssl req failed: ${String(stderr).trim() || err.message}`)) : resolve()),
      ),
    );
    return { cert: await readFile(join(dir, 'cert.pem'), 'utf8'), key: await readFile(join(dir, 'key.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
