import { describe, expect, it } from 'vitest';
import { ClusterZone, RCODE, type ZoneAnswer } from './cluster-zone.js';
import { clusterIPService, endpointSlice, headlessService, StaticClusterView } from './testing/index.js';

function zone() {
  const view = new StaticClusterView(
    [
      clusterIPService('default', 'web', '10.96.0.20', [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { port: 9000, protocol: 'TCP' },
      ]),
      headlessService('default', 'db', [{ name: 'pg', port: 5432, protocol: 'TCP' }]),
      headlessService('default', 'empty', [{ name: 'pg', port: 5432, protocol: 'TCP' }]),
      { ...headlessService('default', 'all'), spec: { clusterIP: 'None', publishNotReadyAddresses: true } },
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'other', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.test' } },
    ],
    [
      endpointSlice(
        'default',
        'db',
        [
          { addresses: ['10.244.1.5'], hostname: 'db-0', conditions: { ready: true } },
          { addresses: ['10.244.2.6'], conditions: { ready: true } },
          { addresses: ['10.244.3.7'], hostname: 'db-2', conditions: { ready: false } },
        ],
        [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      ),
      endpointSlice('default', 'all', [{ addresses: ['10.244.3.8'], conditions: { ready: false } }]),
      // The selector Service `web` has slices too; A still answers the ClusterIP.
      endpointSlice('default', 'web', [{ addresses: ['10.244.1.9'] }]),
    ],
  );
  return new ClusterZone(view, { domain: 'cluster.local', ttl: 30 });
}

const data = (a: ZoneAnswer) => a.answers.map((r) => (r as { data?: unknown }).data);

describe('ClusterZone', () => {
  const z = zone();

  it('knows which names are its own', () => {
    expect(z.contains('web.default.svc.cluster.local.')).toBe(true);
    expect(z.contains('CLUSTER.LOCAL')).toBe(true);
    expect(z.contains('notcluster.local')).toBe(false);
    expect(z.contains('example.test')).toBe(false);
  });

  it('answers a ClusterIP Service with its ClusterIP, case-insensitively, echoing the asked spelling', () => {
    const a = z.resolve('Web.Default.svc.cluster.local', 'A');
    expect(a.rcode).toBe(RCODE.NOERROR);
    expect(a.answers).toEqual([{ name: 'Web.Default.svc.cluster.local', type: 'A', class: 'IN', ttl: 30, data: '10.96.0.20' }]);
  });

  it('answers a headless Service with its ready endpoints only', () => {
    expect(data(z.resolve('db.default.svc.cluster.local', 'A')).sort()).toEqual(['10.244.1.5', '10.244.2.6']);
  });

  it('publishes not-ready endpoints when the Service asks for it', () => {
    expect(data(z.resolve('all.default.svc.cluster.local', 'A'))).toEqual(['10.244.3.8']);
  });

  it('answers a headless Service without endpoints with no data, not NXDOMAIN', () => {
    const a = z.resolve('empty.default.svc.cluster.local', 'A');
    expect(a.rcode).toBe(RCODE.NOERROR);
    expect(a.answers).toEqual([]);
    expect(a.authorities[0]!.type).toBe('SOA');
  });

  it('answers SRV of a named port of a ClusterIP Service, with the target A as additional', () => {
    const a = z.resolve('_http._tcp.web.default.svc.cluster.local', 'SRV');
    expect(data(a)).toEqual([{ priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }]);
    expect(a.additionals).toEqual([{ name: 'web.default.svc.cluster.local', type: 'A', class: 'IN', ttl: 30, data: '10.96.0.20' }]);
    expect(data(z.resolve('_dns._udp.web.default.svc.cluster.local', 'SRV'))).toEqual([{ priority: 0, weight: 100, port: 53, target: 'web.default.svc.cluster.local' }]);
  });

  it('says NXDOMAIN for a port name or protocol the Service does not have', () => {
    expect(z.resolve('_http._udp.web.default.svc.cluster.local', 'SRV').rcode).toBe(RCODE.NXDOMAIN);
    expect(z.resolve('_nope._tcp.web.default.svc.cluster.local', 'SRV').rcode).toBe(RCODE.NXDOMAIN);
  });

  it('answers SRV of a headless Service per ready endpoint, named by hostname or dashed address', () => {
    const a = z.resolve('_pg._tcp.db.default.svc.cluster.local', 'SRV');
    expect(data(a)).toEqual([
      { priority: 0, weight: 50, port: 5432, target: 'db-0.db.default.svc.cluster.local' },
      { priority: 0, weight: 50, port: 5432, target: '10-244-2-6.db.default.svc.cluster.local' },
    ]);
    expect(a.additionals.map((r) => [r.name, (r as { data?: unknown }).data])).toEqual([
      ['db-0.db.default.svc.cluster.local', '10.244.1.5'],
      ['10-244-2-6.db.default.svc.cluster.local', '10.244.2.6'],
    ]);
  });

  it('answers SRV on the Service name itself with every named port', () => {
    expect(data(z.resolve('web.default.svc.cluster.local', 'SRV')).map((d) => (d as { port: number }).port)).toEqual([80, 53]);
  });

  it('answers a headless endpoint by hostname; a not-ready one does not exist', () => {
    expect(data(z.resolve('db-0.db.default.svc.cluster.local', 'A'))).toEqual(['10.244.1.5']);
    expect(data(z.resolve('10-244-2-6.db.default.svc.cluster.local', 'A'))).toEqual(['10.244.2.6']);
    expect(z.resolve('db-2.db.default.svc.cluster.local', 'A').rcode).toBe(RCODE.NXDOMAIN);
    // A ClusterIP Service has no per-endpoint names.
    expect(z.resolve('x.web.default.svc.cluster.local', 'A').rcode).toBe(RCODE.NXDOMAIN);
  });

  it('answers pod names from the dashed address', () => {
    expect(data(z.resolve('10-244-1-5.default.pod.cluster.local', 'A'))).toEqual(['10.244.1.5']);
    expect(z.resolve('10-244-1-300.default.pod.cluster.local', 'A').rcode).toBe(RCODE.NXDOMAIN);
    expect(z.resolve('nope.default.pod.cluster.local', 'A').rcode).toBe(RCODE.NXDOMAIN);
  });

  it('says NXDOMAIN with the SOA for names that do not exist', () => {
    for (const name of ['nope.default.svc.cluster.local', 'web.nons.svc.cluster.local', 'foo.cluster.local', 'a.b.c.web.default.svc.cluster.local']) {
      const a = z.resolve(name, 'A');
      expect(a.rcode, name).toBe(RCODE.NXDOMAIN);
      expect(a.answers).toEqual([]);
      expect(a.authorities[0]!.type).toBe('SOA');
      expect(a.authorities[0]!.name).toBe('cluster.local');
    }
  });

  it('answers no data (not NXDOMAIN) for AAAA and other types of existing names', () => {
    for (const [name, type] of [
      ['web.default.svc.cluster.local', 'AAAA'],
      ['web.default.svc.cluster.local', 'TXT'],
      ['db-0.db.default.svc.cluster.local', 'AAAA'],
      ['_http._tcp.web.default.svc.cluster.local', 'A'],
      ['default.svc.cluster.local', 'A'],
      ['svc.cluster.local', 'A'],
      ['10-244-1-5.default.pod.cluster.local', 'AAAA'],
    ] as const) {
      const a = z.resolve(name, type);
      expect(a.rcode, `${name} ${type}`).toBe(RCODE.NOERROR);
      expect(a.answers, `${name} ${type}`).toEqual([]);
      expect(a.authorities[0]!.type).toBe('SOA');
    }
  });

  it('answers SOA and NS at the apex', () => {
    const soa = z.resolve('cluster.local', 'SOA');
    expect(soa.answers[0]!.type).toBe('SOA');
    expect(((soa.answers[0] as { data?: unknown }).data as { minimum: number }).minimum).toBe(30);
    expect((z.resolve('cluster.local', 'NS').answers[0] as { data?: unknown }).data).toBe('ns.dns.cluster.local');
  });

  it('answers an ExternalName Service with a CNAME whatever the type', () => {
    expect(z.resolve('ext.other.svc.cluster.local', 'A').answers).toEqual([{ name: 'ext.other.svc.cluster.local', type: 'CNAME', class: 'IN', ttl: 30, data: 'example.test' }]);
  });

  it('moves the SOA serial when touched', () => {
    const before = ((z.soa() as { data?: unknown }).data as { serial: number }).serial;
    z.touch(0);
    expect(((z.soa() as { data?: unknown }).data as { serial: number }).serial).toBe(before + 1);
  });

  it('serves another cluster domain', () => {
    const other = new ClusterZone(new StaticClusterView([clusterIPService('a', 'b', '10.0.0.1')]), { domain: 'corp.example', ttl: 5 });
    expect(other.resolve('b.a.svc.corp.example', 'A').answers[0]).toMatchObject({ data: '10.0.0.1', ttl: 5 });
    expect(other.contains('b.a.svc.cluster.local')).toBe(false);
  });
});
