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

/** What a connection's client certificate was found to be: its user (undefined: not a credential) and its validity window. */
interface PeerVerdict {
  /** The TLS Finished message of the handshake the verdict is about: a renegotiation (new handshake, maybe another certificate) changes it. */
  finished: Buffer | undefined;
  user: UserInfo | undefined;
  notBefore: number;
  notAfter: number;
}

/**
 * Authenticates the TLS peer's certificate. The TLS layer verified the
 * chain against the cluster CA (`socket.authorized`); this checks again
 * that the leaf is signed by that CA, is currently valid and allows client
 * authentication (a node's serving certificate, serverAuth only, never
 * passes as a client credential).
 *
 * The certificate cannot change without a new handshake, so what it proves
 * is worked out once per connection and handshake, not per request:
 * reading and verifying it was most of the cost of authenticating a node's
 * request. Its validity window is still checked on every request.
 */
export class ClientCertAuthenticator implements Authenticator {
  private readonly ca: X509Certificate;
  /** Per TLS socket: the verdict on its certificate (gone with the socket). */
  private readonly verdicts = new WeakMap<object, PeerVerdict>();

  constructor(caPem: string) {
    this.ca = new X509Certificate(caPem);
  }

  authenticate(_headers: Record<string, string | string[] | undefined>, peer?: RequestPeer): UserInfo | undefined {
    const socket = peer?.socket as Partial<TLSSocket> | undefined;
    if (!socket || typeof socket.getPeerX509Certificate !== 'function' || socket.authorized !== true) return undefined;
    // Sockets without getFinished (not a TLSSocket) are judged afresh on every request.
    const finished = typeof socket.getFinished === 'function' ? socket.getFinished() : undefined;
    let verdict = finished ? this.verdicts.get(socket) : undefined;
    if (!verdict || !verdict.finished || !finished!.equals(verdict.finished)) {
      verdict = this.judge(socket.getPeerX509Certificate(), finished);
      if (finished) this.verdicts.set(socket, verdict);
    }
    const { user } = verdict;
    if (!user) return undefined;
    const now = Date.now();
    if (verdict.notBefore > now || verdict.notAfter <= now) return undefined;
    // A copy, so a request handler cannot alter the identity of later requests on the connection.
    return { name: user.name, groups: [...user.groups] };
  }

  /** What a peer certificate proves, whatever the time (checked per request). */
  private judge(cert: X509Certificate | undefined, finished: Buffer | undefined): PeerVerdict {
    const none: PeerVerdict = { finished, user: undefined, notBefore: 0, notAfter: 0 };
    if (!cert) return none;
    if (!cert.verify(this.ca.publicKey)) return none;
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    const eku = cert.keyUsage;
    if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH_OID)) return none;
    const { cn, orgs } = subjectNames(cert.subject);
    if (!cn) return none;
    return { finished, user: { name: cn, groups: [...new Set([...orgs, AUTHENTICATED_GROUP])] }, notBefore, notAfter };
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
