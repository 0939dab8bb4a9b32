import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterZone } from './cluster-zone.js';
import { DnsServer } from './dns-server.js';
import { Forwarder } from './forwarder.js';
import { DnsMetrics } from './metrics.js';
import { clusterIPService, endpointSlice, headlessService, queryDns, startFakeUpstream, StaticClusterView, type FakeUpstream } from './testing/index.js';

describe('DnsServer on loopback sockets', () => {
  let upstream: FakeUpstream;
  let server: DnsServer;
  let forwarder: Forwarder;
  let zone: ClusterZone;
  const metrics = new DnsMetrics();
  const view = new StaticClusterView([clusterIPService('default', 'web', '10.96.0.20'), headlessService('default', 'big')], []);

  beforeAll(async () => {
    upstream = await startFakeUpstream({ 'outside.test': '192.0.2.7' });
    // 20 endpoints: ~900 bytes of answers (no name compression): more than 512, less than EDNS 1232.
    view.slices.push(endpointSlice('default', 'big', Array.from({ length: 20 }, (_, i) => ({ addresses: [`10.244.9.${i + 1}`] }))));
    forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: 9 }, { host: upstream.host, port: upstream.port }], timeoutMs: 300 });
    zone = new ClusterZone(view, { domain: 'cluster.local', ttl: 30 });
    server = new DnsServer({ zone, forwarder, metrics, host: '127.0.0.1', port: 0 });
    await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    forwarder?.close();
    await upstream?.close();
  });

  it('answers a zone name over UDP and TCP, authoritatively', async () => {
    for (const tcp of [false, true]) {
      const r = await queryDns('127.0.0.1', server.port, 'web.default.svc.cluster.local', 'A', { tcp });
      expect(r.rcode).toBe('NOERROR');
      expect(r.flag_aa).toBe(true);
      expect(r.flag_rd).toBe(true);
      expect(r.answers.map((a) => a.data)).toEqual(['10.96.0.20']);
    }
  });

  it('says NXDOMAIN with the SOA for a missing name', async () => {
    const r = await queryDns('127.0.0.1', server.port, 'nope.default.svc.cluster.local', 'A');
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.authorities.map((a) => a.type)).toEqual(['SOA']);
  });

  it('forwards outside names, skipping an upstream that does not answer', async () => {
    const r = await queryDns('127.0.0.1', server.port, 'outside.test', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers.map((a) => a.data)).toEqual(['192.0.2.7']);
    expect(upstream.asked).toContain('outside.test A');
    const nx = await queryDns('127.0.0.1', server.port, 'missing.test', 'A', { tcp: true });
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(metrics.forwardDuration.render()).toContain('dns_forward_duration_seconds_count');
  });

  it('truncates a UDP answer that does not fit, and answers it whole over TCP or with a large EDNS size', async () => {
    const udp = await queryDns('127.0.0.1', server.port, 'big.default.svc.cluster.local', 'A');
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const tcp = await queryDns('127.0.0.1', server.port, 'big.default.svc.cluster.local', 'A', { tcp: true });
    expect(tcp.flag_tc).toBe(false);
    expect(tcp.answers).toHaveLength(20);
    const edns = await queryDns('127.0.0.1', server.port, 'big.default.svc.cluster.local', 'A', { ednsSize: 1232 });
    expect(edns.answers).toHaveLength(20);
    expect(edns.additionals.some((a) => a.type === 'OPT')).toBe(true);
  });

  it('answers garbage with FORMERR and ignores responses', async () => {
    const garbage = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff]);
    const out = await server.handle(garbage, 'udp');
    expect(out!.readUInt16BE(0)).toBe(0x1234);
    expect(out![3]! & 0x0f).toBe(1);
    const response = Buffer.from(garbage);
    response[2] = 0x80;
    expect(await server.handle(response, 'udp')).toBeUndefined();
  });

  it('counts queries by type and rcode', () => {
    const text = metrics.registry.render();
    expect(text).toMatch(/dns_requests_total\{proto="udp",source="zone",type="A"\} \d+/);
    expect(text).toMatch(/dns_responses_total\{rcode="NXDOMAIN",source="zone"\} 1/);
    expect(text).toMatch(/dns_responses_total\{rcode="NOERROR",source="forward"\} 1/);
    expect(text).toMatch(/dns_truncated_responses_total 1/);
  });

  it('serves repeated questions from its answer cache until the zone changes, with each asker\'s id', async () => {
    const name = 'cached.default.svc.cluster.local';
    view.services.push(clusterIPService('default', 'cached', '10.96.0.30'));
    zone.touch();
    const first = await queryDns('127.0.0.1', server.port, name, 'A');
    expect(first.answers.map((a) => a.data)).toEqual(['10.96.0.30']);
    view.services = view.services.map((s) => (s.metadata.name === 'cached' ? clusterIPService('default', 'cached', '10.96.0.31') : s));
    const again = await queryDns('127.0.0.1', server.port, name, 'A');
    expect(again.answers.map((a) => a.data)).toEqual(['10.96.0.30']);
    expect(again.id).not.toBe(first.id);
    zone.touch();
    expect((await queryDns('127.0.0.1', server.port, name, 'A')).answers.map((a) => a.data)).toEqual(['10.96.0.31']);
  });

  it('answers SERVFAIL when no upstream answers', async () => {
    const dead = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: 9 }], timeoutMs: 100 });
    const s = new DnsServer({ zone: new ClusterZone(view, { domain: 'cluster.local', ttl: 30 }), forwarder: dead, metrics: new DnsMetrics(), host: '127.0.0.1', port: 0 });
    await s.listen();
    try {
      const r = await queryDns('127.0.0.1', s.port, 'outside.test', 'A');
      expect(r.rcode).toBe('SERVFAIL');
    } finally {
      await s.close();
      dead.close();
    }
  });
});
