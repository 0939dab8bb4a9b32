import type { Pod, Service } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { resolveEnv } from './container-config.js';
import { podServiceEnv, servicesForPod } from './service-env.js';

const svc = (namespace: string, name: string, clusterIP: string, ports: NonNullable<Service['spec']>['ports'] = [{ port: 80 }]): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace, name },
  spec: { clusterIP, ports },
});
const kubernetes = svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]);
const services = [
  kubernetes,
  svc('shop', 'web-front', '10.96.0.20', [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
  svc('shop', 'headless', 'None'),
  { ...svc('shop', 'ext', ''), spec: { type: 'ExternalName', externalName: 'example.test' } } as Service,
  svc('other', 'db', '10.96.0.30'),
];
const pod = (ns: string, enableServiceLinks?: boolean): Pod => ({ metadata: { name: 'p', namespace: ns }, spec: { containers: [], ...(enableServiceLinks === undefined ? {} : { enableServiceLinks }) } });
const asMap = (vars: Array<{ name: string; value: string }>) => Object.fromEntries(vars.map((v) => [v.name, v.value]));

describe('service environment variables', () => {
  it('gives the Services of the pod\'s namespace with a ClusterIP, and kubernetes, docker-link style', () => {
    expect(servicesForPod(pod('shop'), services).map((s) => s.metadata.name)).toEqual(['kubernetes', 'web-front']);
    expect(asMap(podServiceEnv(pod('shop'), services))).toEqual({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
      WEB_FRONT_SERVICE_HOST: '10.96.0.20',
      WEB_FRONT_SERVICE_PORT: '80',
      WEB_FRONT_SERVICE_PORT_HTTP: '80',
      WEB_FRONT_SERVICE_PORT_DNS: '53',
      WEB_FRONT_PORT: 'tcp://10.96.0.20:80',
      WEB_FRONT_PORT_80_TCP: 'tcp://10.96.0.20:80',
      WEB_FRONT_PORT_80_TCP_PROTO: 'tcp',
      WEB_FRONT_PORT_80_TCP_PORT: '80',
      WEB_FRONT_PORT_80_TCP_ADDR: '10.96.0.20',
      WEB_FRONT_PORT_53_UDP: 'udp://10.96.0.20:53',
      WEB_FRONT_PORT_53_UDP_PROTO: 'udp',
      WEB_FRONT_PORT_53_UDP_PORT: '53',
      WEB_FRONT_PORT_53_UDP_ADDR: '10.96.0.20',
    });
  });

  it('with enableServiceLinks false gives only the kubernetes Service', () => {
    expect(servicesForPod(pod('shop', false), services).map((s) => s.metadata.name)).toEqual(['kubernetes']);
  });

  it('in default, the kubernetes Service once', () => {
    expect(servicesForPod(pod('default'), services).map((s) => s.metadata.name)).toEqual(['kubernetes']);
  });

  it('the container\'s own env overrides a service variable and may reference one', () => {
    const env = resolveEnv(pod('shop'), { name: 'c', env: [{ name: 'WEB_FRONT_SERVICE_PORT', value: '8080' }, { name: 'URL', value: 'http://$(WEB_FRONT_SERVICE_HOST):$(WEB_FRONT_SERVICE_PORT)' }] }, '10.244.1.2', '10.250.0.11', podServiceEnv(pod('shop'), services));
    const m = asMap(env);
    expect(m.WEB_FRONT_SERVICE_PORT).toBe('8080');
    expect(m.URL).toBe('http://10.96.0.20:8080');
    expect(m.KUBERNETES_SERVICE_HOST).toBe('10.96.0.1');
  });
});
