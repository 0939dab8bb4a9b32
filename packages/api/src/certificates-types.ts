/**
 * certificates.k8s.io/v1 CertificateSigningRequest: how a node (or a new
 * node holding only a bootstrap token) asks the cluster CA for a client
 * certificate. Field names, signer names, usages and condition types are
 * Kubernetes'.
 */
import { canonicalJson } from './helpers.js';
import type { FieldError } from './errors.js';
import type { KubeList, KubeObject, ObjectMeta } from './meta.js';
import type { Requester } from './resource.js';
import { isDns1123Subdomain } from './names.js';
import { FieldErrors, validateObjectMeta, validateObjectMetaUpdate } from './validation.js';

/** The signer of kubelet client certificates (`CN=system:node:<name>, O=system:nodes`). */
export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';

/** Key usages Kubernetes knows (a subset is checked per signer). */
export const KEY_USAGES = [
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment',
  'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing',
  'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing',
  'microsoft sgc', 'netscape sgc',
] as const;

/** One condition of a CSR: Approved, Denied or Failed. */
export interface CertificateSigningRequestCondition {
  type: 'Approved' | 'Denied' | 'Failed' | string;
  status: 'True' | 'False' | 'Unknown' | string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/** spec of a CSR; username, uid, groups and extra are set by the apiserver from the requester. */
export interface CertificateSigningRequestSpec {
  /** Base64 of a PEM `CERTIFICATE REQUEST`. */
  request: string;
  signerName: string;
  expirationSeconds?: number;
  usages?: string[];
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** A request for a certificate from a signer. */
export interface CertificateSigningRequest extends KubeObject {
  metadata: ObjectMeta;
  spec: CertificateSigningRequestSpec;
  status?: { conditions?: CertificateSigningRequestCondition[]; certificate?: string };
}

/** A list of CSRs. */
export type CertificateSigningRequestList = KubeList<CertificateSigningRequest>;


/** Stamps the requester into spec (Kubernetes' CSR strategy): whatever the client sent there is replaced. */
export function stampCsrRequester(obj: KubeObject, user: Requester): void {
  const spec = (obj.spec ?? {}) as Partial<CertificateSigningRequestSpec>;
  obj.spec = spec;
  spec.username = user.name;
  if (user.uid) spec.uid = user.uid;
  else delete spec.uid;
  spec.groups = [...user.groups];
  delete spec.extra;
}

/** The condition of `type` with status True, if any. */
export function csrCondition(csr: CertificateSigningRequest, type: string): CertificateSigningRequestCondition | undefined {
  return csr.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Validation of a CSR: request and signerName required, usages known, spec immutable. */
export function validateCertificateSigningRequest(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const csr = obj as CertificateSigningRequest;
  validateObjectMeta(e, csr.metadata, false, isDns1123Subdomain);
  const spec = csr.spec as unknown;
  if (!isObj(spec)) {
    e.required('spec');
    return e.list;
  }
  if (typeof spec.request !== 'string' || spec.request === '') e.required('spec.request');
  else {
    const pem = Buffer.from(spec.request, 'base64').toString('utf8');
    if (!/-----BEGIN CERTIFICATE REQUEST-----[\s\S]+-----END CERTIFICATE REQUEST-----/.test(pem)) {
      e.invalid('spec.request', '<omitted>', 'must be the base64 of a PEM "CERTIFICATE REQUEST" block');
    }
  }
  if (typeof spec.signerName !== 'string' || spec.signerName === '') e.required('spec.signerName');
  else if (!/^[a-z0-9.-]+\/[a-zA-Z0-9._-]+$/.test(spec.signerName)) e.invalid('spec.signerName', spec.signerName, 'must be a fully qualified domain and path of the form "example.com/signer-name"');
  if (spec.expirationSeconds !== undefined && (typeof spec.expirationSeconds !== 'number' || !Number.isInteger(spec.expirationSeconds) || spec.expirationSeconds < 600)) {
    e.invalid('spec.expirationSeconds', spec.expirationSeconds, 'may not specify a duration less than 600 seconds (10 minutes)');
  }
  if (spec.usages !== undefined) {
    if (!Array.isArray(spec.usages)) e.invalid('spec.usages', spec.usages, 'must be a list');
    else spec.usages.forEach((u, i) => {
      if (!(KEY_USAGES as readonly unknown[]).includes(u)) e.notSupported(`spec.usages[${i}]`, u, KEY_USAGES);
    });
  }
  const status = csr.status as unknown;
  if (status !== undefined && isObj(status)) {
    if (status.certificate !== undefined && typeof status.certificate !== 'string') e.invalid('status.certificate', '<omitted>', 'must be base64 PEM data');
    if (status.conditions !== undefined && !Array.isArray(status.conditions)) e.invalid('status.conditions', status.conditions, 'must be a list');
    else if (Array.isArray(status.conditions)) {
      const c = csr as CertificateSigningRequest;
      if (csrCondition(c, 'Approved') && csrCondition(c, 'Denied')) e.invalid('status.conditions', 'Approved, Denied', 'Approved and Denied conditions are mutually exclusive');
      status.conditions.forEach((cond, i) => {
        if (!isObj(cond) || typeof cond.type !== 'string' || cond.type === '') e.required(`status.conditions[${i}].type`);
        else if (!['True', 'False', 'Unknown'].includes(String(cond.status))) e.notSupported(`status.conditions[${i}].status`, cond.status, ['True', 'False', 'Unknown']);
      });
    }
  }
  if (old) {
    validateObjectMetaUpdate(e, csr.metadata, old.metadata);
    if (canonicalJson(obj.spec) !== canonicalJson(old.spec)) e.forbidden('spec', 'field is immutable');
    const was = old as CertificateSigningRequest;
    for (const type of ['Approved', 'Denied'] as const) {
      if (csrCondition(was, type) && !csrCondition(csr, type)) e.forbidden('status.conditions', `updates may not remove a condition of type "${type}"`);
    }
    const oldCert = was.status?.certificate;
    if (oldCert && csr.status?.certificate !== oldCert) e.forbidden('status.certificate', 'updates may not modify existing certificate content');
  }
  return e.list;
}
