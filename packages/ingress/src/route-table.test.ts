/**
 * The route matcher against the scenarios of the Kubernetes Ingress
 * conformance suite (kubernetes-sigs/ingress-controller-conformance:
 * default_backend, host_rules, path_rules, ingress_class), written as tables.
 */
import { describe, expect, it } from 'vitest';
import type { HTTPIngressPath, Ingress, IngressClass, PathType } from '@flotilla/api';
import { classFilter } from './ingress-class.js';
import { pathElements, requestHost, requestPath, RouteTable } from './route-table.js';

let seq = 0;
const path = (p: string, pathType: PathType, service: string, port: { number?: number; name?: string } = { number: 80 }): HTTPIngressPath => ({
  path: p,
  pathType,
  backend: { service: { name: service, port } },
});
function ingress(name: string, spec: Ingress['spec'], extra: { created?: string; namespace?: string; annotations?: Record<string, string> } = {}): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name,
      namespace: extra.namespace ?? 'default',
      creationTimestamp: extra.created ?? `2026-01-01T00:00:${String(seq++ % 60).padStart(2, '0')}Z`,
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec,
  };
}
/** The service a request reaches, or '404'. */
const serviceFor = (t: RouteTable, host: string, url: string) => t.match(requestHost(host), requestPath(url))?.backend.service ?? '404';

describe('default backend', () => {
  const t = new RouteTable([ingress('default-backend', { defaultBackend: { service: { name: 'echo-default', port: { number: 80 } } } })]);
  it.each([
    ['any host, /', 'foo.bar.com', '/'],
    ['any host, a deep path', 'foo.bar.com', '/a/b/c?x=1'],
    ['no host header', '', '/'],
  ])('%s → the default backend', (_w, host, url) => expect(serviceFor(t, host, url)).toBe('echo-default'));
});

describe('host rules', () => {
  const t = new RouteTable([
    ingress('host-rules', {
      rules: [
        { host: 'foo.bar.com', http: { paths: [path('/', 'Prefix', 'echo-foo')] } },
        { host: '*.foo.com', http: { paths: [path('/', 'Prefix', 'echo-wildcard')] } },
      ],
    }),
  ]);
  it.each([
    ['an exact host', 'foo.bar.com', 'echo-foo'],
    ['an exact host with a port', 'foo.bar.com:8080', 'echo-foo'],
    ['an exact host in upper case', 'FOO.BAR.COM', 'echo-foo'],
    ['a non-matching host', 'bar.bar.com', '404'],
    ['a wildcard, one label', 'app.foo.com', 'echo-wildcard'],
    ['a wildcard, two labels', 'aaa.bbb.foo.com', '404'],
    ['a wildcard, zero labels', 'foo.com', '404'],
    ['a wildcard, an empty label', '.foo.com', '404'],
  ])('%s: %s → %s', (_w, host, want) => expect(serviceFor(t, host, '/')).toBe(want));

  it('an exact host beats a wildcard that also matches', () => {
    const t2 = new RouteTable([
      ingress('w', { rules: [{ host: '*.example.com', http: { paths: [path('/', 'Prefix', 'wild')] } }] }),
      ingress('e', { rules: [{ host: 'a.example.com', http: { paths: [path('/', 'Prefix', 'exact')] } }] }),
    ]);
    expect(serviceFor(t2, 'a.example.com', '/')).toBe('exact');
    expect(serviceFor(t2, 'b.example.com', '/')).toBe('wild');
  });

  it('a host rule that matches no path falls to the default backend, not to host-less rules', () => {
    const t2 = new RouteTable([
      ingress('i', {
        defaultBackend: { service: { name: 'fallback', port: { number: 80 } } },
        rules: [{ host: 'a.com', http: { paths: [path('/app', 'Prefix', 'app')] } }, { http: { paths: [path('/', 'Prefix', 'anyhost')] } }],
      }),
    ]);
    expect(serviceFor(t2, 'a.com', '/app/x')).toBe('app');
    expect(serviceFor(t2, 'a.com', '/other')).toBe('fallback');
    expect(serviceFor(t2, 'b.com', '/other')).toBe('anyhost');
  });
});

describe('path rules (conformance path_rules)', () => {
  const t = new RouteTable([
    ingress('path-rules', {
      rules: [
        {
          host: 'path-rules',
          http: {
            paths: [
              path('/foo', 'Exact', 'foo-exact'),
              path('/foo', 'Prefix', 'foo-prefix'),
              path('/aaa/bbb', 'Prefix', 'aaa-slash-bbb-prefix'),
              path('/aaa', 'Prefix', 'aaa-prefix'),
              path('/bar/', 'Prefix', 'bar-trailing-prefix'),
              path('/exact/', 'Exact', 'exact-trailing'),
              path('/Mixed', 'Prefix', 'mixed-case'),
            ],
          },
        },
      ],
    }),
  ]);
  it.each([
    // mixed rules: Exact beats Prefix on a tie
    ['/foo', 'foo-exact'],
    ['/foo/', 'foo-prefix'],
    ['/foo/bar', 'foo-prefix'],
    ['/foobar', '404'],
    ['/foo?x=1', 'foo-exact'],
    // multi-label prefixes: the longest wins, element by element
    ['/aaa/bbb', 'aaa-slash-bbb-prefix'],
    ['/aaa/bbb/', 'aaa-slash-bbb-prefix'],
    ['/aaa/bbb/ccc', 'aaa-slash-bbb-prefix'],
    ['/aaa/bbbccc', 'aaa-prefix'],
    ['/aaa/ccc', 'aaa-prefix'],
    ['/aaa', 'aaa-prefix'],
    ['/aaa/', 'aaa-prefix'],
    ['/aaaa', '404'],
    // a trailing slash on the rule is ignored for Prefix
    ['/bar', 'bar-trailing-prefix'],
    ['/bar/', 'bar-trailing-prefix'],
    ['/bar/baz', 'bar-trailing-prefix'],
    // … but Exact compares the whole path
    ['/exact/', 'exact-trailing'],
    ['/exact', '404'],
    // case-sensitive
    ['/FOO', '404'],
    ['/Foo', '404'],
    ['/Mixed/x', 'mixed-case'],
    ['/mixed', '404'],
  ])('%s → %s', (url, want) => expect(serviceFor(t, 'path-rules', url)).toBe(want));

  it('the Kubernetes documentation examples', () => {
    const cases: Array<[PathType, string[], string, boolean]> = [
      ['Prefix', ['/'], '/anything', true],
      ['Exact', ['/foo'], '/foo', true],
      ['Exact', ['/foo'], '/bar', false],
      ['Exact', ['/foo'], '/foo/', false],
      ['Exact', ['/foo/'], '/foo', false],
      ['Prefix', ['/foo'], '/foo/', true],
      ['Prefix', ['/foo/'], '/foo', true],
      ['Prefix', ['/aaa/bb'], '/aaa/bbb', false],
      ['Prefix', ['/aaa/bbb'], '/aaa/bbb', true],
      ['Prefix', ['/aaa/bbb/'], '/aaa/bbb', true],
      ['Prefix', ['/aaa/bbb'], '/aaa/bbb/', true],
      ['Prefix', ['/aaa/bbb'], '/aaa/bbb/ccc', true],
      ['Prefix', ['/aaa/bbb'], '/aaa/bbbxyz', false],
      ['Prefix', ['/', '/aaa'], '/aaa/ccc', true],
      ['Prefix', ['/aaa'], '/ccc', false],
    ];
    for (const [pathType, paths, url, want] of cases) {
      const tt = new RouteTable([ingress('doc', { rules: [{ http: { paths: paths.map((p) => path(p, pathType, 'svc')) } }] })]);
      expect(serviceFor(tt, 'h', url) === 'svc', `${pathType} ${paths.join(',')} vs ${url}`).toBe(want);
    }
    const longest = new RouteTable([ingress('doc', { rules: [{ http: { paths: ['/', '/aaa', '/aaa/bbb'].map((p) => path(p, 'Prefix', p)) } }] })]);
    expect(serviceFor(longest, 'h', '/aaa/bbb')).toBe('/aaa/bbb');
    expect(serviceFor(longest, 'h', '/ccc')).toBe('/');
  });

  it('ImplementationSpecific is Prefix', () => {
    const tt = new RouteTable([ingress('is', { rules: [{ http: { paths: [path('/app', 'ImplementationSpecific', 'app')] } }] })]);
    expect(serviceFor(tt, 'h', '/app/x')).toBe('app');
    expect(serviceFor(tt, 'h', '/apps')).toBe('404');
  });
});

describe('several Ingresses on one host', () => {
  const older = ingress('older', { rules: [{ host: 'shop.com', http: { paths: [path('/cart', 'Prefix', 'cart-v1')] } }] }, { created: '2026-01-01T00:00:00Z' });
  const newer = ingress(
    'newer',
    { rules: [{ host: 'shop.com', http: { paths: [path('/cart/', 'Prefix', 'cart-v2'), path('/pay', 'Exact', 'pay')] } }] },
    { created: '2026-01-02T00:00:00Z', namespace: 'b' },
  );
  const t = new RouteTable([newer, older]);
  it('merges their paths', () => {
    expect(serviceFor(t, 'shop.com', '/pay')).toBe('pay');
  });
  it('gives a conflicting path to the oldest and reports the loser', () => {
    expect(serviceFor(t, 'shop.com', '/cart/items')).toBe('cart-v1');
    expect(t.conflicts.map((c) => [c.loser.metadata.name, c.winner, c.path])).toEqual([['newer', 'default/older', '/cart/']]);
  });
  it('a second defaultBackend loses too', () => {
    const a = ingress('a', { defaultBackend: { service: { name: 'a', port: { number: 80 } } } }, { created: '2026-01-01T00:00:00Z' });
    const b = ingress('b', { defaultBackend: { service: { name: 'b', port: { number: 80 } } } }, { created: '2026-01-03T00:00:00Z' });
    const tt = new RouteTable([b, a]);
    expect(serviceFor(tt, 'x', '/')).toBe('a');
    expect(tt.conflicts.map((c) => c.loser.metadata.name)).toEqual(['b']);
  });
  it('backends by port number and by name are different keys', () => {
    const tt = new RouteTable([ingress('p', { rules: [{ http: { paths: [path('/n', 'Prefix', 's', { number: 8080 }), path('/m', 'Prefix', 's', { name: 'http' })] } }] })]);
    expect([...tt.backends.keys()].sort()).toEqual(['default/s:8080', 'default/s:http']);
  });
  it('a resource backend is reported, not served', () => {
    const tt = new RouteTable([ingress('r', { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { kind: 'StorageBucket', name: 'b' } } }] } }] })]);
    expect(serviceFor(tt, 'h', '/')).toBe('404');
    expect(tt.unsupported.map((u) => u.field)).toEqual(['spec.rules[0].http.paths[0].backend']);
  });
});

describe('ingress class', () => {
  const id = { className: 'flotilla', controllerName: 'flotilla.dev/ingress' };
  const cls = (name: string, controller: string, isDefault = false, created = '2026-01-01T00:00:00Z'): IngressClass => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name, creationTimestamp: created, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) },
    spec: { controller },
  });
  const withClass = (c?: string, legacy?: string) => ingress('i', { ...(c ? { ingressClassName: c } : {}), defaultBackend: { service: { name: 's', port: { number: 80 } } } }, legacy ? { annotations: { 'kubernetes.io/ingress.class': legacy } } : {});
  it.each([
    ['our class name', [], withClass('flotilla'), true],
    ['another class', [cls('nginx', 'k8s.io/ingress-nginx')], withClass('nginx'), false],
    ['a class whose controller is ours', [cls('edge', 'flotilla.dev/ingress')], withClass('edge'), true],
    ['our flag name claimed by another controller', [cls('flotilla', 'k8s.io/ingress-nginx')], withClass('flotilla'), false],
    ['no class, no default', [cls('flotilla', 'flotilla.dev/ingress')], withClass(), false],
    ['no class, our class is default', [cls('flotilla', 'flotilla.dev/ingress', true)], withClass(), true],
    ['no class, another class is default', [cls('flotilla', 'flotilla.dev/ingress'), cls('nginx', 'k8s.io/ingress-nginx', true)], withClass(), false],
    ['no class, the newest of two defaults wins', [cls('flotilla', 'flotilla.dev/ingress', true, '2026-01-02T00:00:00Z'), cls('nginx', 'k8s.io/ingress-nginx', true)], withClass(), true],
    ['the legacy annotation', [], withClass(undefined, 'flotilla'), true],
    ['the legacy annotation of another class', [], withClass(undefined, 'nginx'), false],
  ])('%s', (_w, classes, ing, want) => expect(classFilter(id, classes)(ing)).toBe(want));
});

describe('request parsing', () => {
  it.each([
    ['Example.COM:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['[::1]:80', '[::1]'],
    ['', ''],
  ])('host %s → %s', (h, want) => expect(requestHost(h)).toBe(want));
  it('paths', () => {
    expect(requestPath('/a/b?c=d#e')).toBe('/a/b');
    expect(requestPath('?x')).toBe('/');
    expect(pathElements('/')).toEqual([]);
    expect(pathElements('/a/b/')).toEqual(['a', 'b']);
  });
});
