/**
 * `POST /apis/certificates.flotilla.io/v1/nodeservingcertificates`: an
 * authenticated node sends a certificate request and gets its agent's
 * serving certificate, signed by the cluster CA, back in the answer.
 *
 * Why an endpoint and not Kubernetes' CertificateSigningRequest objects:
 * the apiserver already holds the CA key, and the approval rule for a
 * node's serving certificate is fixed (Kubernetes' kubelet-serving signer
 * rules: the requester is `system:node:<name>`, the subject is exactly
 * `CN=system:node:<name>, O=system:nodes`, the names are the node's own),
 * so a stored CSR with an approver and a signer controller would add three
 * moving parts and a window where the agent serves without a certificate,
 * for no extra guarantee. The checks are the same: the caller's identity
 * comes from its credential, the CN must match it, and the subjectAltNames
 * are taken from the caller's Node object (its name and status.addresses),
 * never from the request. A node can write only its own Node, so it can
 * only get a certificate naming itself; the apiserver checks that name on
 * every connection (node-client.ts), which is what stops one node from
 * impersonating another even if it lists a foreign address.
 */
import { ApiError, badRequest, type KubeObject, type Node } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { FastifyInstance } from 'fastify';
import { nodeNameOf } from './auth/authorizer.js';
import { CsrRejected, signNodeServingCert } from './tls/node-certs.js';
import { classifyHosts } from './tls/openssl.js';

/** The path of the endpoint. */
export const NODE_CERTIFICATE_PATH = '/apis/certificates.flotilla.io/v1/nodeservingcertificates';

/** The request body: `spec.request` is the base64 of a PEM certificate request. */
export interface NodeServingCertificateRequest {
  apiVersion: 'certificates.flotilla.io/v1';
  kind: 'NodeServingCertificateRequest';
  spec: { request: string };
  status?: { certificate?: string; hosts?: string[] };
}

/** The names a node's serving certificate may carry: its name (when a DNS name) and the addresses its Node reports. */
export function nodeCertificateHosts(node: Node): string[] {
  const hosts: string[] = [];
  for (const candidate of [node.metadata.name ?? '', ...(node.status?.addresses ?? []).map((a) => a.address)]) {
    try {
      hosts.push(...Object.values(classifyHosts([candidate])).flat());
    } catch {
      // A name that is no DNS name (or junk in status) is left out, not signed.
    }
  }
  return [...new Set(hosts)];
}

/** Registers the endpoint; `certDir` holds the cluster CA and its key. */
export function registerNodeCertificates(app: FastifyInstance, storage: Storage, certDir: string): void {
  app.post(NODE_CERTIFICATE_PATH, async (req, reply) => {
    const caller = req.flotilla?.user;
    if (!caller) throw new ApiError('Unauthorized', 'Unauthorized');
    req.flotilla.attrs = { verb: 'create', group: 'certificates.flotilla.io', resource: 'nodeservingcertificates' };
    const nodeName = nodeNameOf(caller);
    if (!nodeName) {
      throw new ApiError('Forbidden', `nodeservingcertificates.certificates.flotilla.io is forbidden: User "${caller.name}" is not a node (system:node:<name> in group system:nodes)`);
    }
    let body: Partial<NodeServingCertificateRequest>;
    try {
      body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : String(req.body ?? ''));
    } catch {
      throw badRequest('the request body is not a JSON NodeServingCertificateRequest');
    }
    if (!body || typeof body !== 'object' || body.kind !== 'NodeServingCertificateRequest') throw badRequest('the request body must be a NodeServingCertificateRequest');
    const request = body.spec?.request;
    if (typeof request !== 'string' || request === '') throw badRequest('NodeServingCertificateRequest spec.request: Required value');
    let node: Node;
    try {
      node = (await storage.get('nodes', undefined, nodeName)) as KubeObject as Node;
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'NotFound') throw new ApiError('Conflict', `node "${nodeName}" is not registered yet: create the Node first, then ask for its serving certificate`);
      throw err;
    }
    const hosts = nodeCertificateHosts(node);
    let cert: string;
    try {
      cert = await signNodeServingCert(certDir, { nodeName, csrPem: Buffer.from(request, 'base64').toString('utf8'), hosts });
    } catch (err) {
      if (err instanceof CsrRejected) throw badRequest(err.message);
      throw err;
    }
    req.log.info({ node: nodeName, hosts }, 'signed node serving certificate');
    return reply
      .code(201)
      .type('application/json')
      .send({ apiVersion: 'certificates.flotilla.io/v1', kind: 'NodeServingCertificateRequest', spec: { request }, status: { certificate: Buffer.from(cert).toString('base64'), hosts } });
  });
}
