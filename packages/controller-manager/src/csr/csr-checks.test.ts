import type { CertificateSigningRequest } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { autoApprovable, kubeletClientProblem, type ParsedRequest } from './csr-checks.js';

const csr = (username: string, groups: string[], usages = ['digital signature', 'client auth']): CertificateSigningRequest => ({
  apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'c' },
  spec: { request: '', signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages, username, groups },
});
const node = (name: string, more: Partial<ParsedRequest> = {}): ParsedRequest => ({ cn: `system:node:${name}`, orgs: ['system:nodes'], otherSubject: [], sans: [], ...more });
const boot = csr('system:bootstrap:abcdef', ['system:bootstrappers', 'system:authenticated']);

describe('kubelet client signer rules', () => {
  it.each<[string, CertificateSigningRequest, ParsedRequest, RegExp | undefined]>([
    ['a node identity', boot, node('w1'), undefined],
    ['an admin CN', boot, { cn: 'admin', orgs: ['system:masters'], otherSubject: [], sans: [] }, /CN must be system:node/],
    ['an empty node name', boot, node(''), /CN must be system:node/],
    ['system:masters added', boot, node('w1', { orgs: ['system:nodes', 'system:masters'] }), /O must be exactly/],
    ['no O', boot, node('w1', { orgs: [] }), /O must be exactly/],
    ['an OU', boot, node('w1', { otherSubject: ['OU'] }), /only CN and O/],
    ['SANs', boot, node('w1', { sans: ['DNS:evil'] }), /subjectAltNames/],
    ['no client auth', csr('system:bootstrap:abcdef', ['system:bootstrappers'], ['digital signature']), node('w1'), /client auth/],
    ['server auth too', csr('system:bootstrap:abcdef', ['system:bootstrappers'], ['client auth', 'server auth']), node('w1'), /not allowed: server auth/],
  ])('%s', (_, c, parsed, problem) => {
    const got = kubeletClientProblem(c, parsed);
    if (problem) expect(got).toMatch(problem);
    else expect(got).toBeUndefined();
  });

  it.each<[string, CertificateSigningRequest, ParsedRequest, boolean]>([
    ['a bootstrapper asks for a node', boot, node('w1'), true],
    ['the node renews itself', csr('system:node:w1', ['system:nodes']), node('w1'), true],
    ['a node asks for another node', csr('system:node:w2', ['system:nodes']), node('w1'), false],
    ['a bootstrap-named user without the group', csr('system:bootstrap:abcdef', ['system:authenticated']), node('w1'), false],
    ['an ordinary user', csr('alice', ['system:authenticated']), node('w1'), false],
  ])('%s: auto-approved %s', (_, c, parsed, ok) => {
    expect(autoApprovable(c, parsed)).toBe(ok);
  });
});
