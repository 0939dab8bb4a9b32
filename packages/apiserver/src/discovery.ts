/**
 * Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`)
 * and `/version`, shaped so that kubectl's legacy discovery understands them.
 */
import { groupVersion } from '@flotilla/api';
import type { ResourceInfo } from '@flotilla/api';

/** The Kubernetes version Flotilla claims to be, for client compatibility checks. */
export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-flotilla' } as const;

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/** The body of `/version` (version.Info). */
export function versionInfo(): Record<string, string> {
  return {
    major: KUBE_VERSION.major,
    minor: KUBE_VERSION.minor,
    gitVersion: KUBE_VERSION.gitVersion,
    gitCommit: 'flotilla',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: `node${process.version}`,
    compiler: 'tsc',
    platform: `${process.platform}/${ARCH[process.arch] ?? process.arch}`,
  };
}

/** `/api`: the versions of the core group. */
export function apiVersions(): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] };
}

/**
 * Group name → versions, named groups only. autoscaling/v1 is not listed:
 * no top-level resource lives there, and kubectl treats an empty resource
 * list as a failed discovery. Scale is announced on each `…/scale` entry.
 */
function groupVersions(resources: readonly ResourceInfo[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  const add = (g: string, v: string) => {
    const list = groups.get(g) ?? [];
    if (!list.includes(v)) list.push(v);
    groups.set(g, list);
  };
  for (const r of resources) if (r.group) add(r.group, r.version);
  return groups;
}

function groupDoc(name: string, versions: string[]) {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

/** `/apis`: every named group. */
export function apiGroupList(resources: readonly ResourceInfo[]): Record<string, unknown> {
  const groups = [...groupVersions(resources)].map(([name, versions]) => groupDoc(name, versions));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/** `/apis/{group}`; undefined when the group is not served. */
export function apiGroup(resources: readonly ResourceInfo[], group: string): Record<string, unknown> | undefined {
  const versions = groupVersions(resources).get(group);
  if (!versions) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(group, versions) };
}

/** Discovery categories as Kubernetes announces them: `kubectl get all` expands to the kinds in `all`. */
const CATEGORIES: Record<string, string[]> = {
  '/pods': ['all'],
  '/services': ['all'],
  'apps/deployments': ['all'],
  'apps/replicasets': ['all'],
  'apps/daemonsets': ['all'],
  'batch/jobs': ['all'],
  'batch/cronjobs': ['all'],
};

/** `/api/v1` or `/apis/{group}/{version}`; undefined when not served. */
export function apiResourceList(resources: readonly ResourceInfo[], group: string, version: string): Record<string, unknown> | undefined {
  const served = resources.filter((r) => r.group === group && r.version === version);
  if (served.length === 0) return undefined;
  const out: Array<Record<string, unknown>> = [];
  for (const r of served) {
    const categories = CATEGORIES[`${r.group}/${r.plural}`];
    out.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(categories ? { categories } : {}),
    });
    for (const sub of r.subresources) {
      const base = { name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced };
      if (sub === 'status') out.push({ ...base, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      if (sub === 'scale') out.push({ ...base, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
      if (sub === 'binding') out.push({ ...base, kind: 'Binding', verbs: ['create'] });
      // kubectl drain looks for exactly this entry to decide it can evict instead of delete.
      if (sub === 'eviction') out.push({ ...base, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
      if (sub === 'log') out.push({ ...base, kind: r.kind, verbs: ['get'] });
      if (sub === 'ephemeralcontainers') out.push({ ...base, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      // Kubernetes' proxy options kinds, with every verb a proxied request may map to.
      if (sub === 'proxy') out.push({ ...base, kind: `${r.kind}ProxyOptions`, verbs: ['create', 'delete', 'get', 'patch', 'update'] });
      // Connect subresources: kube lists them with kind PodExecOptions etc. and verbs get/create.
      if (sub === 'exec' || sub === 'attach' || sub === 'portforward') {
        const kind = { exec: 'PodExecOptions', attach: 'PodAttachOptions', portforward: 'PodPortForwardOptions' }[sub];
        out.push({ ...base, kind, verbs: ['create', 'get'] });
      }
    }
  }
  // Alphabetical like kube-apiserver's (a subresource right after its parent): `kubectl get all` prints kinds in this order.
  out.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources: out };
}
