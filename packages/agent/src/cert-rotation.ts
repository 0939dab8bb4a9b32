/**
 * Client certificate rotation while the agent runs, as the kubelet's
 * certificate manager does it: at a jittered 70-90% of the current
 * certificate's lifetime the agent asks for a new one with its own identity
 * (a CertificateSigningRequest the csr-signing controller approves for the
 * same node), writes it to its kubeconfig, and switches its API client to
 * it — no restart, no bootstrap token. A failed attempt is retried with
 * back-off; the current certificate keeps working meanwhile.
 */
import { X509Certificate } from 'node:crypto';
import { loadKubeconfig, type Logger, type RestClient } from '@flotilla/client';
import { requestNodeClientCert, writeNodeKubeconfig } from './bootstrap.js';

/**
 * When to rotate a certificate: notBefore + lifetime × (0.7 + 0.2·r), r in
 * [0, 1) — the kubelet's jittered deadline, so a fleet signed at once does
 * not come back at once.
 */
export function rotationDeadline(certPem: string, random: () => number = Math.random): number {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return from + (to - from) * (0.7 + 0.2 * random());
}

/** Options of a ClientCertificateRotator. */
export interface CertRotatorOptions {
  /** The node kubeconfig holding the certificate; rewritten on each rotation. */
  kubeconfig: string;
  nodeName: string;
  /** The agent's API client: asks for the new certificate, then uses it. */
  client: RestClient;
  log: Logger;
  random?: () => number;
  /** How long to wait for a request to be signed. Default 5 min. */
  timeoutMs?: number;
}

/** Rotates the node's client certificate before it expires, for as long as the agent runs. */
export class ClientCertificateRotator {
  /** Rotations done (for tests and the log). */
  rotations = 0;

  constructor(private readonly o: CertRotatorOptions) {}

  /** Runs until `signal` aborts; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    let backoffMs = 1_000;
    while (!signal.aborted) {
      const config = loadKubeconfig(this.o.kubeconfig);
      if (!config.clientCert || !config.ca) return;
      const deadline = rotationDeadline(config.clientCert, this.o.random);
      const notAfter = new X509Certificate(config.clientCert).validTo;
      this.o.log.info({ node: this.o.nodeName, notAfter, rotateAt: new Date(deadline).toISOString() }, 'client certificate rotation scheduled');
      if (!(await sleep(deadline - Date.now(), signal))) return;
      for (;;) {
        try {
          const { cert, key } = await requestNodeClientCert(this.o.client, this.o.nodeName, this.o.log, this.o.timeoutMs);
          await writeNodeKubeconfig(this.o.kubeconfig, this.o.nodeName, config.server, config.ca, cert, key);
          this.o.client.setClientCertificate(cert, key);
          this.rotations++;
          this.o.log.info({ node: this.o.nodeName, notAfter: new X509Certificate(cert).validTo }, 'rotated the node client certificate');
          backoffMs = 1_000;
          break;
        } catch (err) {
          if (signal.aborted) return;
          this.o.log.warn({ node: this.o.nodeName, err: (err as Error).message, retryInMs: backoffMs }, 'client certificate rotation failed; the current certificate stays in use');
          if (!(await sleep(backoffMs, signal))) return;
          backoffMs = Math.min(backoffMs * 2, 60_000);
        }
      }
    }
  }
}

/** Waits `ms` (at most a day per step); false when aborted first. */
async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  let left = Math.max(0, ms);
  do {
    const step = Math.min(left, 86_400_000);
    const ok = await new Promise<boolean>((resolve) => {
      if (signal.aborted) return resolve(false);
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, step);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    if (!ok) return false;
    left -= step;
  } while (left > 0);
  return true;
}
