/**
 * The records of the cluster zone, as the Kubernetes DNS specification
 * (cluster DNS "schema 1.1.x") lays them out, computed from a ClusterView
 * at question time — nothing is precomputed, so an informer update is
 * visible to the next query:
 *
 * - `<svc>.<ns>.svc.<zone>` A: the ClusterIP; for a headless Service the
 *   ready endpoints' addresses (all of them with publishNotReadyAddresses);
 *   an ExternalName Service is a CNAME.
 * - `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV per named port: the
 *   Service name for a ClusterIP Service, each ready endpoint for a
 *   headless one (with its A record as additional).
 * - `<hostname>.<svc>.<ns>.svc.<zone>` A for a headless Service's endpoint
 *   with that hostname (or its dashed address when it has none).
 * - `<a-b-c-d>.<ns>.pod.<zone>` A: the address spelled in the name, without
 *   checking that such a pod exists (CoreDNS's `pods insecure`, the kubeadm
 *   default), so no pod informer is needed.
 * - Existing names with no record of the asked type (AAAA on this IPv4
 *   cluster, …) are NOERROR with no answers; names in the zone that do not
 *   exist are NXDOMAIN. Both carry the zone's SOA in the authority section
 *   so resolvers can cache the negative answer.
 */
import type { Endpoint, EndpointSlice, Service } from '@flotilla/api';
import type { Answer } from 'dns-packet';
import type { ClusterView } from './cluster-view.js';

/** Response codes this server sends, by their wire value. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** The name of an rcode value, for metrics and logs. */
export const RCODE_NAME: Record<number, string> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k]));

/** How the zone is configured. */
export interface ClusterZoneOptions {
  /** The cluster domain, e.g. `cluster.local` (no trailing dot). */
  domain: string;
  /** TTL of every record, seconds. */
  ttl: number;
}

/** What the zone says about one question. */
export interface ZoneAnswer {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

const DASHED_IPV4 = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/;

/** `a-b-c-d` → `a.b.c.d` when it spells an IPv4 address. */
function undash(label: string): string | undefined {
  const m = DASHED_IPV4.exec(label);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((n) => n <= 255) ? parts.join('.') : undefined;
}

/** The DNS label of an endpoint: its hostname, or its first address dashed. */
function endpointLabel(ep: Endpoint): string {
  return ep.hostname ?? ep.addresses[0]!.replace(/[.:]/g, '-');
}

function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIP === 'None';
}

/** The endpoints a name of `svc` publishes: ready ones (any with publishNotReadyAddresses), IPv4 slices only. */
function publishedEndpoints(svc: Service, slices: EndpointSlice[]): Array<{ ep: Endpoint; slice: EndpointSlice }> {
  const all = svc.spec?.publishNotReadyAddresses === true;
  const out: Array<{ ep: Endpoint; slice: EndpointSlice }> = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    for (const ep of slice.endpoints ?? []) {
      // Unset `ready` means unknown, which consumers treat as ready (EndpointSlice API).
      if (!all && ep.conditions?.ready === false) continue;
      const ip = ep.addresses?.[0];
      if (!ip || seen.has(ip)) continue;
      seen.add(ip);
      out.push({ ep, slice });
    }
  }
  return out;
}

/** Answers questions about one cluster domain from a ClusterView. */
export class ClusterZone {
  /** The zone in lower case, without a trailing dot. */
  readonly domain: string;
  private readonly labels: number;
  private serial = Math.floor(Date.now() / 1000);
  private gen = 0;

  constructor(
    private readonly view: ClusterView,
    private readonly options: ClusterZoneOptions,
  ) {
    this.domain = options.domain.toLowerCase().replace(/\.$/, '');
    this.labels = this.domain.split('.').length;
  }

  /** True when `name` is the zone or below it (this server is authoritative for it). */
  contains(name: string): boolean {
    const n = name.toLowerCase().replace(/\.$/, '');
    return n === this.domain || n.endsWith(`.${this.domain}`);
  }

  /** Tells the zone its data changed, so the SOA serial moves and cached answers are dropped. */
  touch(now = Date.now()): void {
    this.serial = Math.max(this.serial + 1, Math.floor(now / 1000));
    this.gen++;
  }

  /** Moves on every touch(): an answer computed at one generation is valid until the next. */
  get generation(): number {
    return this.gen;
  }

  /** The zone's SOA record (also the authority of negative answers). */
  soa(): Answer {
    const { ttl } = this.options;
    return {
      name: this.domain,
      type: 'SOA',
      class: 'IN',
      ttl,
      data: {
        mname: `ns.dns.${this.domain}`,
        rname: `hostmaster.${this.domain}`,
        serial: this.serial >>> 0,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: ttl,
      },
    };
  }

  /** Answers one question for a name inside the zone (see contains()). */
  resolve(qname: string, qtype: string): ZoneAnswer {
    const name = qname.replace(/\.$/, '');
    const labels = name.toLowerCase().split('.');
    // Labels left of the zone, innermost last: `web.default.svc` → ['web', 'default', 'svc'].
    const rel = labels.slice(0, labels.length - this.labels);
    const found = this.lookup(name, rel);
    if (found === undefined) return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [this.soa()], additionals: [] };
    if (qtype === 'SOA' && rel.length === 0) return { rcode: RCODE.NOERROR, answers: [this.soa()], authorities: [], additionals: [] };
    if (qtype === 'NS' && rel.length === 0) {
      return { rcode: RCODE.NOERROR, answers: [{ name, type: 'NS', class: 'IN', ttl: this.options.ttl, data: `ns.dns.${this.domain}` }], authorities: [], additionals: [] };
    }
    // A CNAME answers every type (the client follows it).
    const cname = found.filter((r) => r.type === 'CNAME');
    const answers = cname.length > 0 ? cname : found.filter((r) => qtype === 'ANY' || r.type === qtype);
    if (answers.length === 0) return { rcode: RCODE.NOERROR, answers: [], authorities: [this.soa()], additionals: [] };
    const additionals = qtype === 'SRV' ? this.srvAdditionals(answers) : [];
    return { rcode: RCODE.NOERROR, answers, authorities: [], additionals };
  }

  /** Every record of `name` (any type), [] for a name that exists without records, undefined when it does not exist. */
  private lookup(name: string, rel: string[]): Answer[] | undefined {
    const n = rel.length;
    if (n === 0) return []; // the apex: SOA and NS are handled by the caller
    const kind = rel[n - 1];
    if (kind === 'pod') {
      if (n === 1 || n === 2) return [];
      if (n !== 3) return undefined;
      const ip = undash(rel[0]!);
      return ip ? [this.a(name, ip)] : undefined;
    }
    if (kind !== 'svc') return undefined;
    if (n === 1) return [];
    const ns = rel[n - 2]!;
    if (n === 2) return this.view.hasServicesIn(ns) ? [] : undefined;
    const svc = this.view.service(ns, rel[n - 3]!);
    if (!svc) return undefined;
    if (n === 3) return this.serviceRecords(name, svc);
    if (n === 4) return this.endpointRecords(name, svc, rel[0]!);
    if (n === 5 && rel[0]!.startsWith('_') && rel[1]!.startsWith('_')) return this.portRecords(name, svc, rel[0]!.slice(1), rel[1]!.slice(1));
    return undefined;
  }

  /** `<svc>.<ns>.svc`: A (ClusterIP or endpoints), CNAME for ExternalName, SRV of every named port. */
  private serviceRecords(name: string, svc: Service): Answer[] {
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') return spec.externalName ? [{ name, type: 'CNAME', class: 'IN', ttl: this.options.ttl, data: spec.externalName.replace(/\.$/, '') }] : [];
    const out: Answer[] = [];
    const base = this.serviceName(svc);
    if (isHeadless(svc)) {
      const eps = publishedEndpoints(svc, this.slices(svc));
      for (const { ep } of eps) out.push(this.a(name, ep.addresses[0]!));
      for (const { ep, slice } of eps) {
        for (const p of slice.ports ?? []) if (p.name && p.port) out.push(this.srv(name, p.port, `${endpointLabel(ep)}.${base}`, eps.length));
      }
    } else if (spec.clusterIP) {
      out.push(this.a(name, spec.clusterIP));
      for (const p of spec.ports ?? []) if (p.name) out.push(this.srv(name, p.port, base, 1));
    }
    return out;
  }

  /** `<hostname>.<svc>.<ns>.svc`: a headless Service's endpoint. */
  private endpointRecords(name: string, svc: Service, label: string): Answer[] | undefined {
    if (!isHeadless(svc)) return undefined;
    const hit = publishedEndpoints(svc, this.slices(svc)).filter(({ ep }) => endpointLabel(ep).toLowerCase() === label);
    return hit.length > 0 ? hit.map(({ ep }) => this.a(name, ep.addresses[0]!)) : undefined;
  }

  /** `_<port>._<proto>.<svc>.<ns>.svc`: SRV of one named port. */
  private portRecords(name: string, svc: Service, port: string, proto: string): Answer[] | undefined {
    const matches = (p: { name?: string; protocol?: string }) => (p.name ?? '').toLowerCase() === port && (p.protocol ?? 'TCP').toLowerCase() === proto;
    const base = this.serviceName(svc);
    if (!isHeadless(svc)) {
      const p = (svc.spec?.ports ?? []).find(matches);
      return p ? [this.srv(name, p.port, base, 1)] : undefined;
    }
    const eps = publishedEndpoints(svc, this.slices(svc));
    const out: Answer[] = [];
    for (const { ep, slice } of eps) {
      const p = (slice.ports ?? []).find(matches);
      if (p?.port) out.push(this.srv(name, p.port, `${endpointLabel(ep)}.${base}`, eps.length));
    }
    // The port exists on the Service even with no endpoints now: the name exists, with no data.
    return out.length > 0 || (svc.spec?.ports ?? []).some(matches) ? out : undefined;
  }

  /** A records of SRV targets inside the zone, for the additional section. */
  private srvAdditionals(answers: Answer[]): Answer[] {
    const out: Answer[] = [];
    const seen = new Set<string>();
    for (const r of answers) {
      if (r.type !== 'SRV') continue;
      const target = r.data.target;
      if (seen.has(target)) continue;
      seen.add(target);
      const rel = target.toLowerCase().split('.');
      for (const x of this.lookup(target, rel.slice(0, rel.length - this.labels)) ?? []) if (x.type === 'A') out.push(x);
    }
    return out;
  }

  private slices(svc: Service): EndpointSlice[] {
    return this.view.endpointSlices(svc.metadata.namespace ?? 'default', svc.metadata.name ?? '');
  }

  private serviceName(svc: Service): string {
    return `${svc.metadata.name}.${svc.metadata.namespace}.svc.${this.domain}`;
  }

  private a(name: string, ip: string): Answer {
    return { name, type: 'A', class: 'IN', ttl: this.options.ttl, data: ip };
  }

  private srv(name: string, port: number, target: string, count: number): Answer {
    // Equal weights that add up to ~100, as CoreDNS spreads them.
    return { name, type: 'SRV', class: 'IN', ttl: this.options.ttl, data: { priority: 0, weight: Math.max(1, Math.floor(100 / count)), port, target } };
  }
}
