import { ENDPOINTSLICE_CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, type Endpoint, type EndpointSlice, type Service, type ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { planRestore } from './restore-plan.js';
import { FakeIptables } from './testing/fake-iptables.js';
import { buildRules, chainName, endpointsFor, RuleCache, slicesByService, usableEndpoints, type RuleSet } from './rules.js';

const svc = (name: string, spec: Partial<ServiceSpec> = {}): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec },
});
const ep = (ip: string, node = 'n1', cond: Endpoint['conditions'] = { ready: true, serving: true, terminating: false }): Endpoint => ({ addresses: [ip], nodeName: node, conditions: cond });
const slice = (service: string, endpoints: Endpoint[], port = 8080, name = `${service}-x`): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { [SERVICE_NAME_LABEL]: service, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER_NAME } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }],
  endpoints,
});
const opts = { prefix: 'KUBE', nodeName: 'n1', clusterCIDR: '10.244.0.0/16' };
const rules = (services: Service[], slices: EndpointSlice[], o = opts) => buildRules(services, slicesByService(slices), o);
const SVC = chainName('KUBE', 'SVC', 'default/web:http', 'TCP');
const SVL = chainName('KUBE', 'SVL', 'default/web:http', 'TCP');
const EXT = chainName('KUBE', 'EXT', 'default/web:http', 'TCP');
const SEP = (ip: string, port = 8080) => chainName('KUBE', 'SEP', 'default/web:http', 'TCP', `${ip}:${port}`);
const jumps = (r: RuleSet, chain: string) => (r.nat.get(chain) ?? []).map((l) => / -j (\S+)/.exec(l)?.[1]);

describe('usableEndpoints', () => {
  const r = { ip: '1', port: 1, ready: true, serving: true, terminating: false };
  const t = { ip: '2', port: 1, ready: false, serving: true, terminating: true };
  const gone = { ip: '3', port: 1, ready: false, serving: false, terminating: true };
  const unready = { ip: '4', port: 1, ready: false, serving: false, terminating: false };
  const cases = [
    { name: 'ready ones only, when there are any', in: [r, t, gone, unready], want: ['1'] },
    { name: 'serving-and-terminating ones when none is ready', in: [t, gone, unready], want: ['2'] },
    { name: 'nothing when nothing serves', in: [gone, unready], want: [] },
  ];
  for (const c of cases) it(c.name, () => expect(usableEndpoints(c.in).map((e) => e.ip)).toEqual(c.want));
});

describe('endpointsFor', () => {
  it('reads the port by name and protocol, dedupes across slices keeping the ready copy, reads unset conditions as ready', () => {
    const s1 = slice('web', [ep('10.244.1.2', 'n1', { ready: false, serving: false }), { addresses: ['10.244.1.3'] }]);
    const s2 = slice('web', [ep('10.244.1.2')], 8080, 'web-y');
    const other = { ...slice('web', [ep('10.244.9.9')], 9090, 'web-z'), ports: [{ name: 'metrics', port: 9090, protocol: 'TCP' as const }] };
    expect(endpointsFor(svc('web'), 'http', 'TCP', [s1, s2, other])).toEqual([
      { ip: '10.244.1.2', port: 8080, ready: true, serving: true, terminating: false, nodeName: 'n1' },
      { ip: '10.244.1.3', port: 8080, ready: true, serving: true, terminating: false },
    ]);
  });
});

describe('buildRules', () => {
  it('ClusterIP: caught in KUBE-SERVICES, spread with equal odds, DNAT per endpoint with hairpin masquerade', () => {
    const r = rules([svc('web')], [slice('web', [ep('10.244.1.2'), ep('10.244.2.2', 'n2'), ep('10.244.3.2', 'n3')])]);
    expect(r.nat.get('KUBE-SERVICES')![0]).toBe(`-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j ${SVC}`);
    expect(r.nat.get(SVC)).toEqual([
      `-A ${SVC} ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`,
      `-A ${SVC} -m comment --comment "default/web:http" -m statistic --mode random --probability 0.3333333333 -j ${SEP('10.244.1.2')}`,
      `-A ${SVC} -m comment --comment "default/web:http" -m statistic --mode random --probability 0.5000000000 -j ${SEP('10.244.2.2')}`,
      `-A ${SVC} -m comment --comment "default/web:http" -j ${SEP('10.244.3.2')}`,
    ]);
    expect(r.nat.get(SEP('10.244.1.2'))).toEqual([
      `-A ${SEP('10.244.1.2')} -s 10.244.1.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ`,
      `-A ${SEP('10.244.1.2')} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.2:8080`,
    ]);
    expect(r.filter.get('KUBE-SERVICES')).toEqual([]);
    expect(r.nat.get('KUBE-POSTROUTING')!.at(-1)).toContain('-j MASQUERADE');
  });

  it('no usable endpoint: no NAT, a filter REJECT for the ClusterIP and the NodePort', () => {
    const r = rules([svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] })], [slice('web', [ep('10.244.1.2', 'n1', { ready: false, serving: false })])]);
    expect(r.nat.has(SVC)).toBe(false);
    expect(r.nat.get('KUBE-NODEPORTS')).toEqual([]);
    expect(r.filter.get('KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -m comment --comment "default/web:http has no endpoints" -j REJECT --reject-with icmp-port-unreachable',
    ]);
    expect(r.filter.get('KUBE-EXTERNAL-SERVICES')![0]).toContain('--dport 30080 -j REJECT --reject-with icmp-port-unreachable');
  });

  it('falls back to serving-but-terminating endpoints only when no ready one is left', () => {
    const term = { ready: false, serving: true, terminating: true };
    expect(jumps(rules([svc('web')], [slice('web', [ep('10.244.1.2'), ep('10.244.1.3', 'n1', term)])]), SVC).slice(1)).toEqual([SEP('10.244.1.2')]);
    expect(jumps(rules([svc('web')], [slice('web', [ep('10.244.1.3', 'n1', term)])]), SVC).slice(1)).toEqual([SEP('10.244.1.3')]);
  });

  it('NodePort: KUBE-NODEPORTS → EXT (masquerade) → SVC; the NodePort jump is the last rule of KUBE-SERVICES', () => {
    const r = rules([svc('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] })], [slice('web', [ep('10.244.1.2')])]);
    expect(r.nat.get('KUBE-NODEPORTS')).toEqual([`-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j ${EXT}`]);
    expect(jumps(r, EXT)).toEqual(['KUBE-MARK-MASQ', SVC]);
    expect(r.nat.get('KUBE-SERVICES')!.at(-1)).toBe('-A KUBE-SERVICES ! -d 127.0.0.0/8 -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    const narrowed = rules([svc('web')], [], { ...opts, nodePortAddresses: ['10.250.3.0/24'] } as typeof opts);
    expect(narrowed.nat.get('KUBE-SERVICES')!.at(-1)).toContain('-d 10.250.3.0/24 ');
  });

  it('externalTrafficPolicy Local: outside traffic only to this node’s endpoints, unmasqueraded; pods and the host may use any', () => {
    const s = svc('web', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    const r = rules([s], [slice('web', [ep('10.244.1.2', 'n1'), ep('10.244.2.2', 'n2')])]);
    expect(jumps(r, EXT)).toEqual([SVC, 'KUBE-MARK-MASQ', SVC, SVL]);
    expect(jumps(r, SVL)).toEqual([SEP('10.244.1.2')]);
    const none = rules([s], [slice('web', [ep('10.244.2.2', 'n2')])]);
    expect(jumps(none, EXT)).toEqual([SVC, 'KUBE-MARK-MASQ', SVC]);
    expect(none.filter.get('KUBE-EXTERNAL-SERVICES')![0]).toContain('has no local endpoints" -m tcp --dport 30080 -j DROP');
  });

  it('externalIPs and LoadBalancer ingress IPs: KUBE-SERVICES → EXT per address, before the NodePort catch-all; REJECT/DROP in filter when no (local) endpoint', () => {
    const lb = (spec: Partial<ServiceSpec>, ingress: string[]): Service => ({ ...svc('web', { type: 'LoadBalancer', externalIPs: ['10.250.0.99'], ports: [{ name: 'http', port: 80, nodePort: 30080 }], ...spec }), status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } } });
    const r = rules([lb({}, ['10.250.0.11', '10.250.0.99'])], [slice('web', [ep('10.244.1.2')])]);
    const services = r.nat.get('KUBE-SERVICES')!;
    expect(services.slice(1, 3)).toEqual([
      `-A KUBE-SERVICES -d 10.250.0.99/32 -p tcp -m comment --comment "default/web:http external IP" -m tcp --dport 80 -j ${EXT}`,
      `-A KUBE-SERVICES -d 10.250.0.11/32 -p tcp -m comment --comment "default/web:http loadbalancer IP" -m tcp --dport 80 -j ${EXT}`,
    ]);
    expect(services.at(-1)).toContain('-j KUBE-NODEPORTS');
    expect(jumps(r, EXT)).toEqual(['KUBE-MARK-MASQ', SVC]);
    // A ClusterIP Service with externalIPs gets the EXT chain without a NodePort.
    const plain = rules([svc('web', { externalIPs: ['10.250.0.99'] })], [slice('web', [ep('10.244.1.2')])]);
    expect(plain.nat.get('KUBE-NODEPORTS')).toEqual([]);
    expect(jumps(plain, EXT)).toEqual(['KUBE-MARK-MASQ', SVC]);
    const empty = rules([lb({}, ['10.250.0.11'])], []);
    expect(empty.filter.get('KUBE-EXTERNAL-SERVICES')!.filter((l) => l.includes('-d 10.250.0.'))).toHaveLength(2);
    expect(empty.filter.get('KUBE-EXTERNAL-SERVICES')![0]).toContain('-j REJECT');
    const local = rules([lb({ externalTrafficPolicy: 'Local' }, ['10.250.0.11'])], [slice('web', [ep('10.244.2.2', 'n2')])]);
    expect(local.filter.get('KUBE-EXTERNAL-SERVICES')!.filter((l) => l.includes('has no local endpoints') && l.endsWith('-j DROP'))).toHaveLength(3);
    // Ingress IPs are only read for type LoadBalancer.
    const np = rules([{ ...lb({ type: 'NodePort', externalIPs: [] }, ['10.250.0.11']) }], [slice('web', [ep('10.244.1.2')])]);
    expect(np.nat.get('KUBE-SERVICES')!.filter((l) => l.includes('10.250.0.11'))).toEqual([]);
  });

  it('TCP and UDP ports are listed with their addresses and the endpoints the rules send to', () => {
    const dns = svc('dns', { externalIPs: ['10.250.0.99'], type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 'tcp', port: 53, protocol: 'TCP', nodePort: 30054 }] });
    const s = { ...slice('dns', [ep('10.244.1.2'), ep('10.244.1.3', 'n1', { ready: false, serving: false })]), ports: [{ name: 'dns', port: 5353, protocol: 'UDP' as const }, { name: 'tcp', port: 5353, protocol: 'TCP' as const }] };
    const r = rules([dns], [s]);
    expect([...r.flows!]).toEqual([
      ['default/dns:dns/UDP', { protocol: 'udp', ips: ['10.96.0.10', '10.250.0.99'], port: 53, nodePort: 30053, endpoints: ['10.244.1.2:5353'] }],
      ['default/dns:tcp/TCP', { protocol: 'tcp', ips: ['10.96.0.10', '10.250.0.99'], port: 53, nodePort: 30054, endpoints: ['10.244.1.2:5353'] }],
    ]);
    expect(rules([dns], []).flows!.get('default/dns:dns/UDP')!.endpoints).toEqual([]);
  });

  it('internalTrafficPolicy Local: the ClusterIP goes to this node’s endpoints only, dropped when there are none', () => {
    const s = svc('web', { internalTrafficPolicy: 'Local' });
    const r = rules([s], [slice('web', [ep('10.244.1.2', 'n1'), ep('10.244.2.2', 'n2')])]);
    expect(r.nat.get('KUBE-SERVICES')![0]).toContain(`-j ${SVL}`);
    expect(jumps(r, SVL).slice(1)).toEqual([SEP('10.244.1.2')]);
    const none = rules([s], [slice('web', [ep('10.244.2.2', 'n2')])]);
    expect(none.nat.get('KUBE-SERVICES')!.filter((l) => l.includes('cluster IP'))).toEqual([]);
    expect(none.filter.get('KUBE-SERVICES')![0]).toContain('has no local endpoints" -j DROP');
  });

  it('sessionAffinity ClientIP: recent checks before the random pick, recent set on DNAT', () => {
    const r = rules([svc('web', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })], [slice('web', [ep('10.244.1.2'), ep('10.244.1.3')])]);
    const sep = SEP('10.244.1.2');
    expect(r.nat.get(SVC)![1]).toBe(`-A ${SVC} -m comment --comment "default/web:http -> ${sep}" -m recent --name ${sep} --rcheck --seconds 60 --reap -j ${sep}`);
    expect(r.nat.get(sep)![1]).toContain(`-m recent --set --name ${sep} --mask 255.255.255.255 --rsource -m tcp -j DNAT`);
  });

  it('headless, ExternalName and IP-less services get no rules', () => {
    const r = rules([svc('a', { clusterIP: 'None' }), svc('b', { type: 'ExternalName', clusterIP: undefined }), svc('c', { clusterIP: undefined })], []);
    expect(r.nat.get('KUBE-SERVICES')).toHaveLength(1);
    expect(r.filter.get('KUBE-SERVICES')).toEqual([]);
  });
});

describe('planRestore', () => {
  const base = rules([svc('web')], [slice('web', [ep('10.244.1.2'), ep('10.244.1.3')])]);
  it('first (or full) sync declares and writes every chain', () => {
    const p = planRestore(base, undefined);
    expect(p.written.nat).toBe(base.nat.size);
    expect(p.text).toMatch(/^\*filter\n/);
    expect(p.text).toContain(`:${SVC} - [0:0]`);
  });
  it('nothing changed: empty input', () => {
    expect(planRestore(base, base).text).toBe('');
  });
  it('one endpoint gone: rewrites its service chain only and deletes its endpoint chain', () => {
    const next = rules([svc('web')], [slice('web', [ep('10.244.1.2')])]);
    const p = planRestore(next, base);
    expect(p.written).toEqual({ nat: 1, filter: 0 });
    expect(p.deleted).toEqual({ nat: 1, filter: 0 });
    expect(p.text).toBe(`*nat\n:${SVC} - [0:0]\n:${SEP('10.244.1.3')} - [0:0]\n${next.nat.get(SVC)!.join('\n')}\n-X ${SEP('10.244.1.3')}\nCOMMIT\n`);
  });
  it('full sync deletes chains with the prefix that an earlier process left', () => {
    const p = planRestore(base, undefined, { nat: ['KUBE-SEP-OLD', 'KUBE-SERVICES'], filter: [] });
    expect(p.text).toContain('-X KUBE-SEP-OLD');
    expect(p.deleted.nat).toBe(1);
  });
  it('a large plan is cut into chunks in jump order, each valid on its own, with the same end state as one input', async () => {
    const many = (n: number, eps: number) => {
      const services = Array.from({ length: n }, (_, i) => svc(`s${i}`, { clusterIP: `10.96.1.${i + 1}`, type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30000 + i }] }));
      const slices = services.map((s, i) => slice(s.metadata.name!, Array.from({ length: eps }, (_, e) => ep(`10.244.${i}.${e + 1}`))));
      return rules(services, slices);
    };
    const first = many(30, 4);
    const second = many(20, 3);
    const one = new FakeIptables();
    const cut = new FakeIptables();
    for (const ipt of [one, cut]) await ipt.restore('*nat\n:KUBE-SEP-LEFTOVER - [0:0]\n:KUBE-SVC-LEFTOVER - [0:0]\n-A KUBE-SVC-LEFTOVER -j KUBE-SEP-LEFTOVER\nCOMMIT\n');
    const existing = { nat: ['KUBE-SEP-LEFTOVER', 'KUBE-SVC-LEFTOVER'], filter: [] };
    const whole = planRestore(first, undefined, existing, { maxChainsPerRestore: Infinity });
    const chunked = planRestore(first, undefined, existing, { maxChainsPerRestore: 7 });
    expect(whole.chunks).toHaveLength(1);
    expect(chunked.chunks.length).toBeGreaterThan(20);
    expect(chunked.written).toEqual(whole.written);
    // The fake rejects a jump to a chain that does not exist yet and a -X of a chain still jumped to.
    await one.restore(whole.chunks[0]!);
    for (const c of chunked.chunks) await cut.restore(c);
    expect(cut.tables).toEqual(one.tables);
    // Shrinking: stale endpoint and service chains are flushed before any is deleted.
    const shrink = planRestore(second, first, undefined, { maxChainsPerRestore: 5 });
    for (const c of shrink.chunks) await cut.restore(c);
    await one.restore(planRestore(second, first, undefined, { maxChainsPerRestore: Infinity }).text);
    expect(cut.tables).toEqual(one.tables);
    expect(cut.chains('nat', 'KUBE-SVC-')).toHaveLength(20);
  });
});

describe('RuleCache', () => {
  it('recomputes a service only when it or its slices change, with the same result as without a cache', () => {
    const withRv = <T extends Service | EndpointSlice>(o: T, rv: string): T => ({ ...o, metadata: { ...o.metadata, resourceVersion: rv, uid: o.metadata.name } });
    const cache = new RuleCache();
    const services = [withRv(svc('web'), '1'), withRv(svc('db', { clusterIP: '10.96.0.11' }), '2')];
    const s1 = slicesByService([withRv(slice('web', [ep('10.244.1.2')]), '3'), withRv(slice('db', [ep('10.244.1.9')]), '4')]);
    const a = buildRules(services, s1, opts, cache);
    const b = buildRules(services, s1, opts, cache);
    expect(b.nat.get(SVC)).toBe(a.nat.get(SVC)); // same array: not recomputed
    const s2 = slicesByService([withRv(slice('web', [ep('10.244.1.2'), ep('10.244.1.3')]), '5'), withRv(slice('db', [ep('10.244.1.9')]), '4')]);
    const c = buildRules(services, s2, opts, cache);
    expect(c.nat.get(SVC)).not.toBe(a.nat.get(SVC));
    expect(c).toEqual(buildRules(services, s2, opts));
  });
});
