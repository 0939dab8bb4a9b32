import { describe, expect, it } from 'vitest';
import { dnsCommand, dnsConfigFromFlags, type DnsFlags } from './dns.js';

/** Parses argv with `flotilla dns` and returns the flags the action would get. */
function flags(argv: string[]): DnsFlags {
  const cmd = dnsCommand().exitOverride().configureOutput({ writeErr: () => undefined });
  const unknown = cmd.parseOptions(argv).unknown;
  if (unknown.length) throw new Error(`unknown ${unknown.join(' ')}`);
  return cmd.opts<DnsFlags>();
}

describe('flotilla dns flags', () => {
  it('defaults: cluster.local, 10.96.0.10, TTL 30, port 53, forwarding to the host resolvers, registering kube-dns', () => {
    const c = dnsConfigFromFlags(flags(['--advertise-address', '10.250.0.1']));
    expect(c).toMatchObject({ clusterDomain: 'cluster.local', clusterDns: '10.96.0.10', ttlSeconds: 30, port: 53, bindAddress: '0.0.0.0', advertiseAddress: '10.250.0.1', registerService: true, forwardTimeoutMs: 2000, metricsPort: 9153 });
    expect(c.upstreams).toBeUndefined();
  });

  it('takes repeated and comma-separated upstreams, a domain with a trailing dot, durations', () => {
    const c = dnsConfigFromFlags(flags(['--upstream', '127.0.0.1:5353', '--upstream', '10.0.0.2,[::1]:53', '--cluster-domain', 'corp.local.', '--ttl', '5s', '--forward-timeout', '500ms', '--no-register-service']));
    expect(c.upstreams).toEqual([
      { host: '127.0.0.1', port: 5353 },
      { host: '10.0.0.2', port: 53 },
      { host: '::1', port: 53 },
    ]);
    expect(c).toMatchObject({ clusterDomain: 'corp.local', ttlSeconds: 5, forwardTimeoutMs: 500, registerService: false });
  });

  it('--no-forward forwards nothing', () => {
    expect(dnsConfigFromFlags(flags(['--no-forward', '--upstream', '127.0.0.1'])).upstreams).toEqual([]);
  });

  it('rejects a bad upstream or address', () => {
    expect(() => flags(['--upstream', 'dns.example'])).toThrow(/want an IP address/);
    expect(() => flags(['--cluster-dns', 'ten'])).toThrow(/IP address/);
  });
});
