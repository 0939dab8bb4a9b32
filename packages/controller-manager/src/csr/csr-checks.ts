/**
 * The rules of the kubelet client signer (`kubernetes.io/kube-apiserver-client-kubelet`):
 * what a request must look like to be signed, and who may have it
 * approved automatically. Pure functions over a parsed request, so they
 * are tested table-driven.
 */
import type { CertificateSigningRequest } from '@flotilla/api';

/** What openssl read from a PEM certificate request. */
export interface ParsedRequest {
  cn?: string;
  orgs: string[];
  /** Any other subject attribute (OU, C, …): node identities carry none. */
  otherSubject: string[];
  /** subjectAltNames of any kind. */
  sans: string[];
}

const ALLOWED_USAGES = new Set(['digital signature', 'key encipherment', 'client auth']);
const NODE_PREFIX = 'system:node:';

/** Why a request is not a kubelet client certificate request, or undefined when it is one. */
export function kubeletClientProblem(csr: CertificateSigningRequest, req: ParsedRequest): string | undefined {
  if (!req.cn || !req.cn.startsWith(NODE_PREFIX) || req.cn.length === NODE_PREFIX.length) return `subject CN must be system:node:<name>, is ${JSON.stringify(req.cn ?? '')}`;
  if (req.orgs.length !== 1 || req.orgs[0] !== 'system:nodes') return `subject O must be exactly ["system:nodes"], is ${JSON.stringify(req.orgs)}`;
  if (req.otherSubject.length > 0) return `subject may carry only CN and O, has ${req.otherSubject.join(', ')}`;
  if (req.sans.length > 0) return 'subjectAltNames are not allowed in a client certificate request';
  const usages = csr.spec.usages ?? [];
  if (!usages.includes('client auth')) return 'usages must include "client auth"';
  const extra = usages.filter((u) => !ALLOWED_USAGES.has(u));
  if (extra.length) return `usages not allowed: ${extra.join(', ')}`;
  return undefined;
}

/**
 * Whether the requester may have this (valid) node request approved
 * without a human: a bootstrap token's user asking for any node name
 * (Kubernetes' nodeclient), or the node itself renewing (selfnodeclient).
 */
export function autoApprovable(csr: CertificateSigningRequest, req: ParsedRequest): boolean {
  const user = csr.spec.username ?? '';
  const groups = csr.spec.groups ?? [];
  if (user.startsWith('system:bootstrap:') && groups.includes('system:bootstrappers')) return true;
  return user === req.cn && groups.includes('system:nodes');
}
