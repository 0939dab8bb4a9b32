import { describe, expect, it } from 'vitest';
import { parseProxyPath, proxyAttributes } from './proxy-subresource.js';

describe('parseProxyPath', () => {
  it.each([
    ['/api/v1/namespaces/default/services/web:80/proxy/', { resource: 'services', namespace: 'default', name: 'web', port: '80', path: '/', search: '' }],
    ['/api/v1/namespaces/default/services/https:web:443/proxy/a/b?x=1', { resource: 'services', name: 'web', scheme: 'https', port: '443', path: '/a/b', search: '?x=1' }],
    ['/api/v1/namespaces/default/pods/x:8080/proxy/path', { resource: 'pods', name: 'x', port: '8080', path: '/path' }],
    ['/api/v1/namespaces/default/pods/x/proxy', { resource: 'pods', name: 'x', path: '/' }],
    ['/api/v1/nodes/w1/proxy/metrics', { resource: 'nodes', name: 'w1', path: '/metrics' }],
    ['/api/v1/namespaces/default/services/web%3Ahttp/proxy/', { resource: 'services', name: 'web', port: 'http' }],
  ])('%s', (url, want) => {
    expect(parseProxyPath(url)).toMatchObject(want);
  });

  it.each(['/api/v1/namespaces/default/pods/x', '/api/v1/namespaces/default/pods/x/log', '/apis/apps/v1/namespaces/d/deployments/x/proxy/', '/api/v1/nodes/a:b:c:d/proxy/', '/api/v1/namespaces/default/configmaps/x/proxy/'])(
    'not a proxy path: %s',
    (url) => expect(parseProxyPath(url)).toBeUndefined(),
  );

  it('authorizes the HTTP method\'s verb on <resource>/proxy', () => {
    const p = parseProxyPath('/api/v1/namespaces/ns/services/web:80/proxy/x')!;
    const user = { name: 'u', groups: [] };
    expect(proxyAttributes(p, 'GET', user)).toEqual({ user, verb: 'get', group: '', resource: 'services', subresource: 'proxy', namespace: 'ns', name: 'web' });
    expect(proxyAttributes(p, 'POST', user).verb).toBe('create');
    expect(proxyAttributes(p, 'DELETE', user).verb).toBe('delete');
    expect(() => proxyAttributes(p, 'TRACE', user)).toThrow(/not allowed/);
  });
});
