/**
 * The service dataplane as iptables rules, computed purely from Services,
 * EndpointSlices and this node — kube-proxy's iptables mode, re-expressed:
 *
 *   nat  PREROUTING/OUTPUT → <P>-SERVICES → <P>-SVC-* (clusterIP:port)
 *        <P>-SVC-* → `-m statistic --mode random --probability` → <P>-SEP-* → DNAT
 *        <P>-SERVICES (last rule, local destinations) → <P>-NODEPORTS → <P>-EXT-* → <P>-SVC-*
 *        <P>-SVL-*: only this node's endpoints (internal/externalTrafficPolicy: Local)
 *        <P>-MARK-MASQ marks; <P>-POSTROUTING masquerades what is marked
 *   filter OUTPUT/FORWARD → <P>-SERVICES: REJECT a clusterIP:port with no endpoints
 *          INPUT/FORWARD → <P>-EXTERNAL-SERVICES: REJECT a NodePort with no endpoints
 *          FORWARD → <P>-FORWARD: accept marked and established service traffic
 *
 * The result is a set of chains with their rules; restore-plan.ts turns the
 * difference between two such sets into one iptables-restore input.
 */
import { createHash } from 'node:crypto';
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '@flotilla/api';

/** How rules are generated on this node. */
export interface RuleOptions {
  /** Chain name prefix (`KUBE` gives KUBE-SERVICES …); at most 5 characters. */
  prefix: string;
  /** This node's name: which endpoints are local. */
  nodeName?: string;
  /** The pod range: traffic to a ClusterIP from outside it is masqueraded. Unset: all ClusterIP traffic from this host's own processes is. */
  clusterCIDR?: string;
  /** Destinations NodePorts answer on (CIDRs); unset: every local address but loopback. */
  nodePortAddresses?: string[];
  /** Bit of the packet mark meaning "masquerade me". Default 14 (0x4000, as kube-proxy). */
  masqueradeBit?: number;
  /**
   * Comments on the per-endpoint and per-service chains' rules. Default true;
   * the Proxier turns them off above 1,000 endpoints, as kube-proxy does:
   * iptables-nft restores a rule with a comment match several times slower.
   */
  comments?: boolean;
}

/** One table's chains: name → rule lines (`-A CHAIN …`), in order. */
export type ChainSet = Map<string, string[]>;

/** Everything this proxy owns, by table. */
export interface RuleSet {
  nat: ChainSet;
  filter: ChainSet;
  /** The TCP and UDP service ports and the endpoints their rules send to (for deleting stale conntrack flows), by `ns/name:port/PROTOCOL`. */
  flows?: Map<string, ServicePortFlows>;
}

/** A TCP or UDP service port as its flows are matched: the addresses and ports clients use, and the endpoints the rules pick from. */
export interface ServicePortFlows {
  protocol: 'tcp' | 'udp';
  /** The ClusterIP, external IPs and load-balancer ingress IPs. */
  ips: string[];
  port: number;
  nodePort?: number;
  /** `ip:port` of every endpoint a rule of this port DNATs to. */
  endpoints: string[];
}

/** A built-in chain jump the proxy needs (kept with `iptables -C`/`-I`, not in the restore). */
export interface JumpRule {
  table: 'nat' | 'filter';
  chain: string;
  args: string[];
}

/** One backend of a service port as the dataplane sees it. */
export interface ServiceEndpoint {
  ip: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
}

/** The DNS-1123 identity of a service port: `ns/name:port`. */
export function servicePortName(svc: Service, portName: string): string {
  return `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}${portName ? `:${portName}` : ''}`;
}

/** A chain name: the prefix, a kind, and 16 hex digits of a hash (28 characters at most with a 5-character prefix). */
export function chainName(prefix: string, kind: 'SVC' | 'SVL' | 'EXT' | 'SEP', ...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 16).toUpperCase();
  return `${prefix}-${kind}-${h}`;
}

/** The proxy's own top-level chain names. */
export function topChains(prefix: string) {
  return {
    services: `${prefix}-SERVICES`,
    nodePorts: `${prefix}-NODEPORTS`,
    postrouting: `${prefix}-POSTROUTING`,
    markMasq: `${prefix}-MARK-MASQ`,
    externalServices: `${prefix}-EXTERNAL-SERVICES`,
    forward: `${prefix}-FORWARD`,
  };
}

/** The jumps from the built-in chains into the proxy's chains (all inserted first, as kube-proxy does). */
export function jumpRules(prefix: string): JumpRule[] {
  const c = topChains(prefix);
  const comment = (s: string) => ['-m', 'comment', '--comment', s];
  return [
    { table: 'nat', chain: 'PREROUTING', args: [...comment('kubernetes service portals'), '-j', c.services] },
    { table: 'nat', chain: 'OUTPUT', args: [...comment('kubernetes service portals'), '-j', c.services] },
    { table: 'nat', chain: 'POSTROUTING', args: [...comment('kubernetes postrouting rules'), '-j', c.postrouting] },
    { table: 'filter', chain: 'INPUT', args: ['-m', 'conntrack', '--ctstate', 'NEW', ...comment('kubernetes externally-visible service portals'), '-j', c.externalServices] },
    { table: 'filter', chain: 'FORWARD', args: ['-m', 'conntrack', '--ctstate', 'NEW', ...comment('kubernetes externally-visible service portals'), '-j', c.externalServices] },
    { table: 'filter', chain: 'FORWARD', args: ['-m', 'conntrack', '--ctstate', 'NEW', ...comment('kubernetes service portals'), '-j', c.services] },
    { table: 'filter', chain: 'OUTPUT', args: ['-m', 'conntrack', '--ctstate', 'NEW', ...comment('kubernetes service portals'), '-j', c.services] },
    { table: 'filter', chain: 'FORWARD', args: [...comment('kubernetes forwarding rules'), '-j', c.forward] },
  ];
}

/**
 * The endpoints of one service port across its slices (IPv4 slices whose
 * port of that name and protocol resolved), one per address:port, the most
 * ready copy kept when slices overlap during a move.
 */
export function endpointsFor(svc: Service, portName: string, protocol: string, slices: readonly EndpointSlice[]): ServiceEndpoint[] {
  const out = new Map<string, ServiceEndpoint>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    const p = (slice.ports ?? []).find((x) => (x.name ?? '') === portName && (x.protocol ?? 'TCP') === protocol);
    if (!p || !p.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses?.[0];
      if (!ip) continue;
      // Unset conditions are "unknown", which consumers read as ready and serving.
      const ready = ep.conditions?.ready !== false;
      const e: ServiceEndpoint = { ip, port: p.port, ready, serving: ep.conditions?.serving ?? ready, terminating: ep.conditions?.terminating === true };
      if (ep.nodeName) e.nodeName = ep.nodeName;
      const key = `${ip}:${p.port}`;
      const have = out.get(key);
      if (!have || (e.ready && !have.ready)) out.set(key, e);
    }
  }
  return [...out.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : compareIp(a.ip, b.ip)));
}

function compareIp(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/**
 * The endpoints traffic may go to: the ready ones; when none is ready,
 * those still serving while they terminate (so a service whose every pod
 * is shutting down keeps answering until the last one stops).
 */
export function usableEndpoints(eps: readonly ServiceEndpoint[]): ServiceEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  if (ready.length > 0) return ready;
  return eps.filter((e) => e.serving && e.terminating);
}

/** Groups slices by `namespace/service-name`. */
export function slicesByService(slices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const m = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const key = `${s.metadata.namespace}/${svc}`;
    let l = m.get(key);
    if (!l) m.set(key, (l = []));
    l.push(s);
  }
  return m;
}

const q = (s: string) => `"${s}"`;

/** The rules one Service contributes: its own chains, and its lines in the shared chains. */
export interface ServiceRules {
  /** Chains owned by this service (SVC, SVL, EXT, SEP), nat table. */
  nat: ChainSet;
  /** Its lines in nat <P>-SERVICES, nat <P>-NODEPORTS, filter <P>-SERVICES, filter <P>-EXTERNAL-SERVICES. */
  natServices: string[];
  natNodePorts: string[];
  filterServices: string[];
  filterExternal: string[];
  /** Its TCP and UDP ports, by key. */
  flows: Array<[string, ServicePortFlows]>;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The addresses a Service answers on besides its ClusterIP and NodePorts:
 * `spec.externalIPs` and, for `type: LoadBalancer`, the IPs in
 * `status.loadBalancer.ingress` (IPv4 only, each once, in that order).
 */
export function externalAddresses(svc: Service): string[] {
  const out: string[] = [];
  const add = (ip: string | undefined) => {
    if (ip && IPV4.test(ip) && !out.includes(ip)) out.push(ip);
  };
  for (const ip of svc.spec?.externalIPs ?? []) add(ip);
  if (svc.spec?.type === 'LoadBalancer') for (const i of svc.status?.loadBalancer?.ingress ?? []) add(i.ip);
  return out;
}

/** Computes the rules of one Service from its slices (pure). */
export function serviceRules(svc: Service, svcSlices: readonly EndpointSlice[], options: RuleOptions): ServiceRules {
  const P = options.prefix;
  const top = topChains(P);
  const out: ServiceRules = { nat: new Map(), natServices: [], natNodePorts: [], filterServices: [], filterExternal: [], flows: [] };
  const { nat, natServices, natNodePorts, filterServices, filterExternal } = out;
  const add = (set: ChainSet, chain: string, lines: string[]) => set.set(chain, lines);
  const spec = svc.spec ?? {};
  const clusterIP = spec.clusterIP;
  if (!clusterIP || clusterIP === 'None' || spec.type === 'ExternalName' || clusterIP.includes(':')) return out;
  const affinity = spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : 0;
  const hasNodePort = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const external = externalAddresses(svc);
  for (const sp of spec.ports ?? []) {
    const protocol = sp.protocol ?? 'TCP';
    const proto = protocol.toLowerCase();
    const portName = sp.name ?? '';
    const spn = servicePortName(svc, portName);
    const all = endpointsFor(svc, portName, protocol, svcSlices);
    const clusterEps = usableEndpoints(all);
    const localEps = usableEndpoints(all.filter((e) => e.nodeName !== undefined && e.nodeName === options.nodeName));
    const svcChain = chainName(P, 'SVC', spn, protocol);
    const svlChain = chainName(P, 'SVL', spn, protocol);
    const extChain = chainName(P, 'EXT', spn, protocol);
    const internalLocal = spec.internalTrafficPolicy === 'Local';
    const externalLocal = spec.externalTrafficPolicy === 'Local';
    const nodePort = hasNodePort ? sp.nodePort : undefined;
    const dst = `-d ${clusterIP}/32 -p ${proto} -m comment --comment ${q(`${spn} cluster IP`)} -m ${proto} --dport ${sp.port}`;
    const extDst = (ip: string, what: string) => `-d ${ip}/32 -p ${proto} -m comment --comment ${q(`${spn} ${what}`)} -m ${proto} --dport ${sp.port}`;

    const sepChains = new Map<string, string>();
    const sepFor = (e: ServiceEndpoint) => {
      const key = `${e.ip}:${e.port}`;
      let name = sepChains.get(key);
      if (!name) {
        name = chainName(P, 'SEP', spn, protocol, key);
        sepChains.set(key, name);
        const recent = affinity ? ` -m recent --set --name ${name} --mask 255.255.255.255 --rsource` : '';
        add(nat, name, [
          `-A ${name} -s ${e.ip}/32 -m comment --comment ${q(spn)} -j ${top.markMasq}`,
          `-A ${name} -p ${proto} -m comment --comment ${q(spn)}${recent} -m ${proto} -j DNAT --to-destination ${key}`,
        ]);
      }
      return name;
    };
    /** A chain spreading over `eps`: affinity first, then a random pick with equal odds. */
    const spread = (chain: string, eps: ServiceEndpoint[], masq: boolean) => {
      const lines: string[] = [];
      if (masq) {
        if (options.clusterCIDR) lines.push(`-A ${chain} ! -s ${options.clusterCIDR} ${dst} -j ${top.markMasq}`);
        else lines.push(`-A ${chain} -m addrtype --src-type LOCAL ${dst} -j ${top.markMasq}`);
      }
      const seps = eps.map(sepFor);
      if (affinity) for (const s of seps) lines.push(`-A ${chain} -m comment --comment ${q(`${spn} -> ${s}`)} -m recent --name ${s} --rcheck --seconds ${affinity} --reap -j ${s}`);
      seps.forEach((s, i) => {
        const left = seps.length - i;
        const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
        lines.push(`-A ${chain} -m comment --comment ${q(spn)}${pick} -j ${s}`);
      });
      add(nat, chain, lines);
    };

    const flows: ServicePortFlows | undefined = protocol === 'UDP' || protocol === 'TCP'
      ? { protocol: protocol === 'UDP' ? 'udp' : 'tcp', ips: [clusterIP, ...external], port: sp.port, ...(nodePort ? { nodePort } : {}), endpoints: [] }
      : undefined;
    // Filled in below with the endpoints the rules send to (none when there are none).
    if (flows) out.flows.push([`${spn}/${protocol}`, flows]);
    if (clusterEps.length === 0) {
      filterServices.push(`-A ${top.services} ${dst} -m comment --comment ${q(`${spn} has no endpoints`)} -j REJECT --reject-with icmp-port-unreachable`);
      for (const ip of external) filterExternal.push(`-A ${top.externalServices} ${extDst(ip, 'has no endpoints')} -j REJECT --reject-with icmp-port-unreachable`);
      if (nodePort) filterExternal.push(`-A ${top.externalServices} -m addrtype --dst-type LOCAL -p ${proto} -m comment --comment ${q(`${spn} has no endpoints`)} -m ${proto} --dport ${nodePort} -j REJECT --reject-with icmp-port-unreachable`);
      continue;
    }
    spread(svcChain, clusterEps, true);
    if ((internalLocal || externalLocal) && localEps.length > 0) spread(svlChain, localEps, internalLocal);

    // Cluster IP: all endpoints, or only this node's (internalTrafficPolicy: Local).
    if (!internalLocal) natServices.push(`-A ${top.services} ${dst} -j ${svcChain}`);
    else if (localEps.length > 0) natServices.push(`-A ${top.services} ${dst} -j ${svlChain}`);
    else filterServices.push(`-A ${top.services} ${dst} -m comment --comment ${q(`${spn} has no local endpoints`)} -j DROP`);

    // External IPs and load-balancer IPs enter through the EXT chain, as NodePorts do.
    for (const ip of external) natServices.push(`-A ${top.services} ${extDst(ip, (spec.externalIPs ?? []).includes(ip) ? 'external IP' : 'loadbalancer IP')} -j ${extChain}`);
    if (nodePort || external.length > 0) {
      const ext: string[] = [];
      if (!externalLocal) {
        ext.push(`-A ${extChain} -m comment --comment ${q(`masquerade traffic for ${spn} external destinations`)} -j ${top.markMasq}`);
        ext.push(`-A ${extChain} -j ${svcChain}`);
      } else {
        // Pods and this host's processes are not "external": they may use any endpoint.
        if (options.clusterCIDR) ext.push(`-A ${extChain} -s ${options.clusterCIDR} -m comment --comment ${q(`pod traffic for ${spn} external destinations`)} -j ${svcChain}`);
        ext.push(`-A ${extChain} -m comment --comment ${q(`masquerade LOCAL traffic for ${spn} external destinations`)} -m addrtype --src-type LOCAL -j ${top.markMasq}`);
        ext.push(`-A ${extChain} -m comment --comment ${q(`route LOCAL traffic for ${spn} external destinations`)} -m addrtype --src-type LOCAL -j ${svcChain}`);
        if (localEps.length > 0) ext.push(`-A ${extChain} -j ${svlChain}`);
        else {
          for (const ip of external) filterExternal.push(`-A ${top.externalServices} ${extDst(ip, 'has no local endpoints')} -j DROP`);
          if (nodePort) filterExternal.push(`-A ${top.externalServices} -m addrtype --dst-type LOCAL -p ${proto} -m comment --comment ${q(`${spn} has no local endpoints`)} -m ${proto} --dport ${nodePort} -j DROP`);
        }
      }
      add(nat, extChain, ext);
      if (nodePort) natNodePorts.push(`-A ${top.nodePorts} -p ${proto} -m comment --comment ${q(spn)} -m ${proto} --dport ${nodePort} -j ${extChain}`);
    }
    if (flows) flows.endpoints = [...sepChains.keys()].sort();
  }
  if (options.comments === false) {
    for (const [chain, lines] of nat) if (/-(SEP|SVC|SVL)-/.test(chain)) nat.set(chain, lines.map((l) => l.replace(/ -m comment --comment "[^"]*"/g, '')));
  }
  return out;
}

/**
 * Caches each Service's rules by the resourceVersions of the Service and of
 * its slices, so a sync recomputes only the services that changed.
 */
export class RuleCache {
  private readonly entries = new Map<string, { fingerprint: string; rules: ServiceRules }>();
  private optionsKey = '';

  /** The rules of `svc`, recomputed only when it or its slices (or the options) changed. */
  get(svc: Service, svcSlices: readonly EndpointSlice[], options: RuleOptions): ServiceRules {
    const optionsKey = JSON.stringify(options);
    if (optionsKey !== this.optionsKey) {
      this.entries.clear();
      this.optionsKey = optionsKey;
    }
    const rv = svc.metadata.resourceVersion;
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    if (!rv || svcSlices.some((x) => !x.metadata.resourceVersion)) return serviceRules(svc, svcSlices, options);
    const fingerprint = `${svc.metadata.uid}/${rv}|${svcSlices.map((x) => `${x.metadata.uid ?? x.metadata.name}/${x.metadata.resourceVersion}`).sort().join(',')}`;
    const hit = this.entries.get(key);
    if (hit && hit.fingerprint === fingerprint) return hit.rules;
    const rules = serviceRules(svc, svcSlices, options);
    this.entries.set(key, { fingerprint, rules });
    return rules;
  }

  /** Drops entries of services not in `keep`. */
  prune(keep: Set<string>): void {
    for (const k of this.entries.keys()) if (!keep.has(k)) this.entries.delete(k);
  }
}

/** Computes every chain and rule of this node's dataplane; with a cache, unchanged services are not recomputed. */
export function buildRules(services: Iterable<Service>, slices: Map<string, EndpointSlice[]>, options: RuleOptions, cache?: RuleCache): RuleSet {
  const P = options.prefix;
  const top = topChains(P);
  const markBit = options.masqueradeBit ?? 14;
  const mark = `0x${(1 << markBit).toString(16)}`;
  const nat: ChainSet = new Map();
  const filter: ChainSet = new Map();
  const natServices: string[] = [];
  const natNodePorts: string[] = [];
  const filterServices: string[] = [];
  const filterExternal: string[] = [];
  const flows = new Map<string, ServicePortFlows>();
  const add = (set: ChainSet, chain: string, lines: string[]) => set.set(chain, lines);

  // Stable order: services sorted by namespace/name, so equal input gives equal text.
  const sorted = [...services].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const keep = new Set<string>();
  for (const svc of sorted) {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    keep.add(key);
    const svcSlices = slices.get(key) ?? [];
    const r = cache ? cache.get(svc, svcSlices, options) : serviceRules(svc, svcSlices, options);
    for (const [chain, lines] of r.nat) nat.set(chain, lines);
    for (const l of r.natServices) natServices.push(l);
    for (const l of r.natNodePorts) natNodePorts.push(l);
    for (const l of r.filterServices) filterServices.push(l);
    for (const l of r.filterExternal) filterExternal.push(l);
    for (const [k, f] of r.flows) flows.set(k, f);
  }
  cache?.prune(keep);

  // NodePorts last, so a ClusterIP that is also a local address still goes to its service.
  if (options.nodePortAddresses && options.nodePortAddresses.length > 0) {
    for (const cidr of options.nodePortAddresses) natServices.push(`-A ${top.services} -d ${cidr} -m comment --comment ${q('kubernetes service nodeports')} -m addrtype --dst-type LOCAL -j ${top.nodePorts}`);
  } else {
    natServices.push(`-A ${top.services} ! -d 127.0.0.0/8 -m comment --comment ${q('kubernetes service nodeports')} -m addrtype --dst-type LOCAL -j ${top.nodePorts}`);
  }
  add(nat, top.services, natServices);
  add(nat, top.nodePorts, natNodePorts);
  add(nat, top.markMasq, [`-A ${top.markMasq} -j MARK --set-xmark ${mark}/${mark}`]);
  add(nat, top.postrouting, [
    `-A ${top.postrouting} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the mark so a packet re-traversing the stack is not masqueraded twice.
    `-A ${top.postrouting} -j MARK --xor-mark ${mark}`,
    `-A ${top.postrouting} -m comment --comment ${q('kubernetes service traffic requiring SNAT')} -j MASQUERADE`,
  ]);
  add(filter, top.services, filterServices);
  add(filter, top.externalServices, filterExternal);
  add(filter, top.forward, [
    `-A ${top.forward} -m comment --comment ${q('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${top.forward} -m comment --comment ${q('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ]);
  return { nat, filter, flows };
}

/** Number of rules in a rule set (for metrics). */
export function countRules(rules: RuleSet): { nat: number; filter: number } {
  const n = (s: ChainSet) => [...s.values()].reduce((a, l) => a + l.length, 0);
  return { nat: n(rules.nat), filter: n(rules.filter) };
}
