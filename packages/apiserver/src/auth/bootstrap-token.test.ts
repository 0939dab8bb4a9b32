import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../testing/memory-storage.js';
import { DefaultAuthorizer } from './authorizer.js';
import { BootstrapTokenAuthenticator, bootstrapTokenSecret } from './bootstrap-token.js';
import type { RequestAttributes, UserInfo, Verb } from './types.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('BootstrapTokenAuthenticator', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const setup = async () => {
    const storage = new MemoryStorage();
    await storage.create('secrets', bootstrapTokenSecret({ id: 'abcdef', secret: '0123456789abcdef', expiration: new Date('2026-01-02T00:00:00Z'), extraGroups: ['system:bootstrappers:workers'] }));
    await storage.create('secrets', bootstrapTokenSecret({ id: 'old000', secret: '0123456789abcdef', expiration: new Date('2025-12-31T00:00:00Z') }));
    await storage.create('secrets', { ...bootstrapTokenSecret({ id: 'opaque', secret: '0123456789abcdef' }), type: 'Opaque' });
    return new BootstrapTokenAuthenticator(storage, { now: () => now });
  };

  it('authenticates a valid token as system:bootstrap:<id> in system:bootstrappers plus its extra groups', async () => {
    const a = await setup();
    expect(await a.authenticate(bearer('abcdef.0123456789abcdef'))).toEqual({
      name: 'system:bootstrap:abcdef',
      groups: ['system:bootstrappers', 'system:bootstrappers:workers', 'system:authenticated'],
    });
  });

  it.each([
    ['a wrong secret', 'abcdef.0123456789abcdee'],
    ['an expired token', 'old000.0123456789abcdef'],
    ['a Secret of another type', 'opaque.0123456789abcdef'],
    ['an unknown id', 'zzzzzz.0123456789abcdef'],
    ['upper case', 'ABCDEF.0123456789abcdef'],
    ['a short secret', 'abcdef.0123456789abcde'],
    ['no dot', 'abcdef0123456789abcdef'],
  ])('refuses %s', async (_, token) => {
    const a = await setup();
    expect(await a.authenticate(bearer(token))).toBeUndefined();
  });
});

describe('what a bootstrap token may do', () => {
  const boot: UserInfo = { name: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] };
  const n1: UserInfo = { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
  const csr = (user: UserInfo, verb: Verb, more: Partial<RequestAttributes> = {}): RequestAttributes =>
    ({ user, verb, group: 'certificates.k8s.io', resource: 'certificatesigningrequests', ...more });
  const owners: Record<string, string> = { mine: 'system:bootstrap:abcdef', theirs: 'system:bootstrap:zzzzzz', n1csr: 'system:node:n1' };
  const authz = new DefaultAuthorizer({ csrRequester: async (name) => owners[name] });
  const decide = async (attrs: RequestAttributes) => {
    const d = authz.authorize(attrs);
    return d.allowed ? true : d.recheck ? (await authz.recheck(attrs)).allowed : false;
  };

  it.each<[string, RequestAttributes, boolean]>([
    ['creates a CSR', csr(boot, 'create'), true],
    ['reads its own CSR', csr(boot, 'get', { name: 'mine' }), true],
    ['cannot read another CSR', csr(boot, 'get', { name: 'theirs' }), false],
    ['cannot read a missing CSR', csr(boot, 'get', { name: 'nope' }), false],
    ['cannot list CSRs', csr(boot, 'list'), false],
    ['cannot watch CSRs', csr(boot, 'watch'), false],
    ['cannot update a CSR', csr(boot, 'update', { name: 'mine' }), false],
    ['cannot write CSR status (sign itself)', csr(boot, 'update', { name: 'mine', subresource: 'status' }), false],
    ['cannot delete its CSR', csr(boot, 'delete', { name: 'mine' }), false],
    ['cannot list pods', { user: boot, verb: 'list', group: '', resource: 'pods' }, false],
    ['cannot create a Node', { user: boot, verb: 'create', group: '', resource: 'nodes' }, false],
    ['cannot read secrets', { user: boot, verb: 'get', group: '', resource: 'secrets', namespace: 'kube-system', name: 'bootstrap-token-abcdef' }, false],
    ['cannot read namespaces', { user: boot, verb: 'get', group: '', resource: 'namespaces', name: 'default' }, false],
    ['a node creates a CSR (renewal)', csr(n1, 'create'), true],
    ['a node reads its own CSR', csr(n1, 'get', { name: 'n1csr' }), true],
    ['a node cannot read a bootstrapper CSR', csr(n1, 'get', { name: 'mine' }), false],
    ['a node writes its proxy lease', { user: n1, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'flotilla-proxy-n1' }, true],
    ['a node cannot write another proxy lease', { user: n1, verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'flotilla-proxy-n2' }, false],
  ])('%s', async (_, attrs, allowed) => {
    expect(await decide(attrs)).toBe(allowed);
  });

  it('admits a bootstrapper CSR create', () => {
    expect(authz.admit(csr(boot, 'create'), undefined, { metadata: { name: 'x' } }).allowed).toBe(true);
  });
});
