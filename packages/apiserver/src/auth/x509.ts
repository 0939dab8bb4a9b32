/**
 * Client-certificate authentication (kube-apiserver's --client-ca-file):
 * a TLS client certificate that chains to the cluster CA and is meant for
 * client authentication names the user in its CN and the groups in its O
 * fields. Nodes that joined with a bootstrap token use this credential.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { AUTHENTICATED_GROUP } from './token-file.js';
import type { Authenticator, RequestPeer, UserInfo } from './types.js';

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** The CN and O values of an X509Certificate subject (`CN=…\nO=…`). */
export function subjectNames(subject: string): { cn?: string; orgs: string[] } {
  const out: { cn?: string; orgs: string[] } = { orgs: [] };
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'CN') out.cn = value;
    else if (key === 'O') out.orgs.push(value);
  }
  return out;
}

/**
 * Authenticates the TLS peer's certificate. The TLS layer verified the
 * chain against the cluster CA (`socket.authorized`); this checks again
 * that the leaf is signed by that CA, is currently valid and allows client
 * authentication (a node's serving certificate, serverAuth only, never
 * passes as a client credential).
 */
export class ClientCertAuthenticator implements Authenticator {
  private readonly ca: X509Certificate;

  constructor(caPem: string) {
    this.ca = new X509Certificate(caPem);
  }

  authenticate(_headers: Record<string, string | string[] | undefined>, peer?: RequestPeer): UserInfo | undefined {
    const socket = peer?.socket as Partial<TLSSocket> | undefined;
    if (!socket || typeof socket.getPeerX509Certificate !== 'function' || socket.authorized !== true) return undefined;
    const cert = socket.getPeerX509Certificate();
    if (!cert) return undefined;
    if (!cert.verify(this.ca.publicKey)) return undefined;
    const now = Date.now();
    if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) <= now) return undefined;
    const eku = cert.keyUsage;
    if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH_OID)) return undefined;
    const { cn, orgs } = subjectNames(cert.subject);
    if (!cn) return undefined;
    return { name: cn, groups: [...new Set([...orgs, AUTHENTICATED_GROUP])] };
  }
}

/** Tries each authenticator in turn; the first that knows the request wins. */
export class UnionAuthenticator implements Authenticator {
  constructor(private readonly authenticators: Authenticator[]) {}

  authenticate(headers: Record<string, string | string[] | undefined>, peer?: RequestPeer): UserInfo | undefined | Promise<UserInfo | undefined> {
    return this.from(0, headers, peer);
  }

  // Synchronous while the authenticators answer synchronously (certificates, tokens): no promise per request.
  private from(start: number, headers: Record<string, string | string[] | undefined>, peer?: RequestPeer): UserInfo | undefined | Promise<UserInfo | undefined> {
    for (let i = start; i < this.authenticators.length; i++) {
      const user = this.authenticators[i]!.authenticate(headers, peer);
      if (user instanceof Promise) return user.then((u) => u ?? this.from(i + 1, headers, peer));
      if (user) return user;
    }
    return undefined;
  }
}
