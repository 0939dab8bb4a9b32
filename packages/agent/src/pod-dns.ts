/**
 * A pod's resolv.conf, decided as the kubelet does (pkg/kubelet/network/dns):
 *
 * - `ClusterFirst` (the default): the cluster DNS servers (--cluster-dns),
 *   search `<ns>.svc.<domain> svc.<domain> <domain>` then the host's search
 *   domains, `options ndots:5`. Without --cluster-dns it falls back to
 *   `Default` (and the caller records a MissingClusterDNS event).
 * - `ClusterFirstWithHostNet`: as ClusterFirst. (`ClusterFirst` on a
 *   hostNetwork pod means `Default`.)
 * - `Default`: the host's resolv.conf (--resolv-conf) as it is.
 * - `None`: nothing but the pod's dnsConfig.
 *
 * `spec.dnsConfig` is then merged in: nameservers and searches appended
 * without duplicates, options merged by name (the pod's value wins). At most
 * 3 nameservers and 32 search domains are kept, as glibc reads no more.
 */
import type { Pod } from '@flotilla/api';
import type { DnsConfig } from './runtime/types.js';

/** The host's resolver settings, from its resolv.conf. */
export interface HostDns {
  servers: string[];
  searches: string[];
  options: string[];
}

/** The agent's DNS settings (kubelet flags --cluster-dns, --cluster-domain). */
export interface ClusterDnsSettings {
  /** Cluster DNS server addresses; empty when the cluster has no DNS. */
  clusterDNS: string[];
  /** The cluster domain, e.g. `cluster.local`. */
  clusterDomain: string;
  /** The host's resolv.conf, parsed. */
  host: HostDns;
}

/** The decision for one pod. */
export interface PodDnsDecision {
  dns: DnsConfig;
  /** Set when ClusterFirst had to fall back to the host's resolvers (no --cluster-dns). */
  missingClusterDNS?: boolean;
}

const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

/** Parses resolv.conf text (`nameserver`, `search`/`domain`, `options`; the last search/domain line wins, as in glibc). */
export function parseResolvConf(text: string): HostDns {
  const out: HostDns = { servers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.servers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.searches = rest.filter(Boolean);
    else if (key === 'options') out.options.push(...rest.filter(Boolean));
  }
  return out;
}

/** Renders a DnsConfig as resolv.conf text. */
export function formatResolvConf(dns: DnsConfig): string {
  const lines: string[] = [];
  if (dns.searches?.length) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers ?? []) lines.push(`nameserver ${s}`);
  if (dns.options?.length) lines.push(`options ${dns.options.join(' ')}`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

const uniq = (xs: string[]) => [...new Set(xs)];
const optionName = (o: string) => o.split(':')[0]!;

/** Merges options by name: a later option replaces an earlier one of the same name. */
function mergeOptions(base: string[], extra: string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of [...base, ...extra]) byName.set(optionName(o), o);
  return [...byName.values()];
}

/** The resolv.conf of `pod` under `settings`. */
export function podDnsConfig(pod: Pod, settings: ClusterDnsSettings): PodDnsDecision {
  const spec = pod.spec;
  const ns = pod.metadata.namespace ?? 'default';
  const domain = settings.clusterDomain.replace(/\.$/, '');
  let policy = spec?.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && spec?.hostNetwork) policy = 'Default';
  let missingClusterDNS = false;
  if ((policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') && settings.clusterDNS.length === 0) {
    policy = 'Default';
    missingClusterDNS = true;
  }
  let servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') {
    servers = [...settings.clusterDNS];
    searches = [`${ns}.svc.${domain}`, `svc.${domain}`, domain, ...settings.host.searches];
    options = ['ndots:5'];
  } else if (policy === 'Default') {
    servers = [...settings.host.servers];
    searches = [...settings.host.searches];
    options = [...settings.host.options];
  }
  const extra = spec?.dnsConfig;
  if (extra) {
    servers = [...servers, ...(extra.nameservers ?? [])];
    searches = [...searches, ...(extra.searches ?? [])];
    options = mergeOptions(options, (extra.options ?? []).filter((o) => o.name).map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name!)));
  }
  const dns: DnsConfig = {
    servers: uniq(servers).slice(0, MAX_NAMESERVERS),
    searches: uniq(searches.map((s) => s.replace(/\.$/, ''))).slice(0, MAX_SEARCHES),
    options,
  };
  return missingClusterDNS ? { dns, missingClusterDNS } : { dns };
}
