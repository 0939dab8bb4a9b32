import type { Pod, PodSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatResolvConf, parseResolvConf, podDnsConfig, type ClusterDnsSettings } from './pod-dns.js';

const host = parseResolvConf('# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54 ; second\nsearch corp.example lab.example\noptions edns0 ndots:1\n');
const settings: ClusterDnsSettings = { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', host };
const pod = (spec: Partial<PodSpec> = {}, ns = 'shop'): Pod => ({ metadata: { name: 'p', namespace: ns }, spec: { containers: [], ...spec } });

describe('pod DNS config', () => {
  it('parses the host resolv.conf', () => {
    expect(host).toEqual({ servers: ['192.0.2.53', '192.0.2.54'], searches: ['corp.example', 'lab.example'], options: ['edns0', 'ndots:1'] });
    expect(parseResolvConf('domain a.example\nsearch b.example\n').searches).toEqual(['b.example']);
  });

  it('ClusterFirst (the default): cluster DNS, the namespace search path then the host\'s, ndots:5', () => {
    const { dns, missingClusterDNS } = podDnsConfig(pod(), settings);
    expect(missingClusterDNS).toBeUndefined();
    expect(dns).toEqual({
      servers: ['10.96.0.10'],
      searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'],
      options: ['ndots:5'],
    });
    expect(formatResolvConf(dns)).toBe('search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n');
  });

  it('Default: the host\'s resolv.conf as it is', () => {
    expect(podDnsConfig(pod({ dnsPolicy: 'Default' }), settings).dns).toEqual(host);
  });

  it('ClusterFirst on the host network means Default; ClusterFirstWithHostNet keeps the cluster DNS', () => {
    expect(podDnsConfig(pod({ hostNetwork: true }), settings).dns.servers).toEqual(['192.0.2.53', '192.0.2.54']);
    expect(podDnsConfig(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), settings).dns.servers).toEqual(['10.96.0.10']);
  });

  it('None: only the pod\'s dnsConfig', () => {
    const { dns } = podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['10.0.0.2'], searches: ['x.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }), settings);
    expect(dns).toEqual({ servers: ['10.0.0.2'], searches: ['x.example'], options: ['ndots:2', 'edns0'] });
  });

  it('merges dnsConfig into a policy: servers and searches appended without duplicates, options by name', () => {
    const { dns } = podDnsConfig(pod({ dnsConfig: { nameservers: ['10.96.0.10', '10.0.0.3'], searches: ['cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'timeout', value: '2' }] } }), settings);
    expect(dns.servers).toEqual(['10.96.0.10', '10.0.0.3']);
    expect(dns.searches).toEqual(['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example']);
    expect(dns.options).toEqual(['ndots:1', 'timeout:2']);
  });

  it('keeps at most 3 nameservers', () => {
    const { dns } = podDnsConfig(pod({ dnsPolicy: 'Default', dnsConfig: { nameservers: ['10.0.0.1', '10.0.0.2'] } }), settings);
    expect(dns.servers).toEqual(['192.0.2.53', '192.0.2.54', '10.0.0.1']);
  });

  it('falls back to Default without --cluster-dns, and says so', () => {
    const r = podDnsConfig(pod(), { ...settings, clusterDNS: [] });
    expect(r.missingClusterDNS).toBe(true);
    expect(r.dns.servers).toEqual(['192.0.2.53', '192.0.2.54']);
  });

  it('uses another cluster domain', () => {
    expect(podDnsConfig(pod({}, 'default'), { ...settings, clusterDomain: 'corp.local.' }).dns.searches!.slice(0, 3)).toEqual(['default.svc.corp.local', 'svc.corp.local', 'corp.local']);
  });
});
