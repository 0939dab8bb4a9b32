/**
 * Approves and signs node client certificates, as Kubernetes' csrapproving
 * and csrsigning controllers do for `kubernetes.io/kube-apiserver-client-kubelet`:
 * a CertificateSigningRequest for exactly `CN=system:node:<name>,
 * O=system:nodes` (client auth, no SANs) from a bootstrap token's user or
 * from that same node is approved (`Approved`, reason `AutoApproved`), and
 * any approved valid request of this signer is signed with the cluster CA
 * into `status.certificate`. Anything else is left for a human
 * (`kubectl certificate approve|deny`); a request this signer can never
 * sign gets `Failed`.
 */
import { csrCondition, deepCopy, KUBELET_CLIENT_SIGNER, type CertificateSigningRequest } from '@flotilla/api';
import { Controller, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import type { ControllerDeps } from '../context.js';
import { autoApprovable, kubeletClientProblem } from './csr-checks.js';
import { parseRequest, signClientCertificate } from './signer.js';

/** Options of the CSR controller: the CA that signs (kube-controller-manager's --cluster-signing-{cert,key}-file). */
export interface CsrSigningOptions extends ControllerDeps {
  caCertFile: string;
  caKeyFile: string;
  /** Longest validity of an issued certificate. Default 365 days (Kubernetes' --cluster-signing-duration). */
  maxDurationSeconds?: number;
}

/** Approves and signs kubelet client CSRs. */
export class CsrSigningController {
  /** The work queue and workers (key: the CSR name). */
  readonly controller: Controller;
  private readonly csrs: Informer<CertificateSigningRequest>;
  private readonly api: ResourceClient<CertificateSigningRequest>;
  private readonly log: Logger;

  constructor(private readonly options: CsrSigningOptions) {
    this.log = options.logger;
    this.csrs = options.informers.informer<CertificateSigningRequest>('certificatesigningrequests');
    this.api = options.client.resource<CertificateSigningRequest>('certificatesigningrequests');
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'csr-signing',
      reconcile: options.metrics ? options.metrics.instrument('csr-signing', reconcile) : reconcile,
      informers: [this.csrs],
      workers: options.workers ?? 1,
      logger: options.logger,
      clock: options.clock,
    });
    options.metrics?.watchQueue('csr-signing', this.controller.queue);
    this.csrs.addEventHandler({ onAdd: (c) => this.controller.enqueue(c), onUpdate: (_o, c) => this.controller.enqueue(c) });
  }

  /** Runs the workers until `signal` aborts (informers are started by the manager). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** One CSR: approve it when the rules allow, sign it once approved. */
  async sync(name: string): Promise<void> {
    const csr = this.csrs.store.get(name);
    if (!csr || csr.spec?.signerName !== KUBELET_CLIENT_SIGNER) return;
    if (csr.status?.certificate || csrCondition(csr, 'Denied') || csrCondition(csr, 'Failed')) return;
    const pem = Buffer.from(csr.spec.request ?? '', 'base64').toString('utf8');
    const next = deepCopy(csr) as CertificateSigningRequest;
    const conditions = (next.status ??= {}).conditions ??= [];
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    let problem: string | undefined;
    let parsed;
    try {
      parsed = await parseRequest(pem);
      problem = kubeletClientProblem(csr, parsed);
    } catch (err) {
      problem = `the request does not parse or verify: ${(err as Error).message.slice(0, 200)}`;
    }
    if (problem || !parsed) {
      // Only approved requests are failed: a pending bad one is a human's to deny.
      if (!csrCondition(csr, 'Approved')) {
        this.log.info({ csr: name, requester: csr.spec.username, problem }, 'not approving certificate request');
        return;
      }
      conditions.push({ type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message: problem ?? 'invalid request', lastUpdateTime: now, lastTransitionTime: now });
      await this.api.updateStatus(next);
      return;
    }
    if (!csrCondition(csr, 'Approved')) {
      if (!autoApprovable(csr, parsed)) {
        this.log.info({ csr: name, requester: csr.spec.username, cn: parsed.cn }, 'certificate request waits for manual approval');
        return;
      }
      conditions.push({ type: 'Approved', status: 'True', reason: 'AutoApproved', message: 'Auto approving kubelet client certificate after SubjectAccessReview.', lastUpdateTime: now, lastTransitionTime: now });
    }
    const maxSeconds = this.options.maxDurationSeconds ?? 365 * 86400;
    const seconds = Math.min(maxSeconds, csr.spec.expirationSeconds ?? maxSeconds);
    const cert = await signClientCertificate(pem, this.options.caCertFile, this.options.caKeyFile, seconds);
    next.status.certificate = Buffer.from(cert).toString('base64');
    await this.api.updateStatus(next);
    this.log.info({ csr: name, requester: csr.spec.username, cn: parsed.cn }, 'approved and signed node client certificate');
  }
}
