/**
 * Turns a pod's container spec into what the runtime needs: the resolved
 * environment (literal values, `$(VAR)` expansion, the downward API), the
 * mounts of its volumes, numeric resource limits, the pod's host ports and
 * a hash that detects a changed spec. Pure; errors are ContainerConfigErrors.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, cpuMillis, isEnvVarName, memoryBytes, parseQuantity, type Container, type Pod } from '@flotilla/api';
import { NO_SOURCES, type PodConfigSources } from './config-sources.js';
import type { LinuxResources, Mount, PortMapping } from './runtime/types.js';

/** A container cannot be configured (Kubernetes' CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  override readonly name = 'ContainerConfigError';
}

/** Label on app containers: a hash of their spec, so a changed spec restarts them. */
export const SPEC_HASH_LABEL = 'io.flotilla.container.hash';

// Hashes of frozen container specs (the informer's cached pods are deep-frozen, so the same object always has the same content):
// every sync of a running pod compares its containers' hashes, and re-hashing an unchanged spec each time was a sha256 per container per sync.
const frozenHashes = new WeakMap<Container, string>();

// Hashes by the spec's plain JSON. Each version of a pod (bound, then its own status written back) is a new object, and
// the containers of a ReplicaSet's pods are the same spec: a canonical form and a sha256 (~40 µs) for each was 6 % of a
// hollow-node fleet's CPU. JSON.stringify is a few µs; a spec whose keys come in another order is a miss, hashed afresh,
// to the same value. Bounded: cleared when full.
const hashesByJson = new Map<string, string>();
const HASHES_BY_JSON_MAX = 1024;

/** A short stable hash of a container spec. */
export function containerHash(c: Container): string {
  const cached = frozenHashes.get(c);
  if (cached !== undefined) return cached;
  const json = JSON.stringify(c);
  let hash = hashesByJson.get(json);
  if (hash === undefined) {
    hash = createHash('sha256').update(canonicalJson(c)).digest('hex').slice(0, 16);
    if (hashesByJson.size >= HASHES_BY_JSON_MAX) hashesByJson.clear();
    hashesByJson.set(json, hash);
  }
  if (Object.isFrozen(c)) frozenHashes.set(c, hash);
  return hash;
}

/** The value of a downward API field path, or an error for unsupported paths. */
export function fieldRefValue(pod: Pod, fieldPath: string, podIP: string, hostIP: string): string {
  const md = pod.metadata;
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath "${fieldPath}"`);
  }
}

/** Expands `$(VAR)` references against earlier variables; `$$(VAR)` escapes; unknown references stay as written. */
export function expandVars(value: string, vars: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$';
    return name !== undefined && vars.has(name) ? vars.get(name)! : all;
  });
}

/** Keys of an `envFrom` source skipped because prefix + key is not a valid env var name (the kubelet's InvalidEnvironmentVariableNames). */
export interface SkippedEnvKeys {
  kind: 'configMap' | 'secret';
  name: string;
  keys: string[];
}

/** The value of one key of a ConfigMap (data) or Secret (decoded data), or a ContainerConfigError naming what is missing. */
function keyRefValue(pod: Pod, sources: PodConfigSources, kind: 'ConfigMap' | 'Secret', ref: { name?: string; key: string; optional?: boolean }): string | undefined {
  const ns = pod.metadata.namespace ?? 'default';
  const name = ref.name ?? '';
  const obj = kind === 'ConfigMap' ? sources.configMaps.get(name) : sources.secrets.get(name);
  if (!obj) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
  }
  const raw = (obj as { data?: Record<string, string> }).data?.[ref.key];
  if (raw === undefined) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(`couldn't find key ${ref.key} in ${kind} ${ns}/${name}`);
  }
  return kind === 'ConfigMap' ? raw : Buffer.from(raw, 'base64').toString('utf8');
}

/**
 * The container's environment with every value resolved, in order: the
 * Service variables (`serviceEnv`), then `envFrom` (each source's keys
 * sorted, invalid names skipped and reported through `onSkipped`), then
 * `env`; later ones override earlier ones and may refer to them as
 * `$(VAR)`, as in Kubernetes. A missing non-optional ConfigMap, Secret or
 * key is a ContainerConfigError.
 */
export function resolveEnv(
  pod: Pod,
  c: Container,
  podIP: string,
  hostIP: string,
  serviceEnv: Array<{ name: string; value: string }> = [],
  sources: PodConfigSources = NO_SOURCES,
  onSkipped?: (skipped: SkippedEnvKeys) => void,
): Array<{ name: string; value: string }> {
  const vars = new Map<string, string>(serviceEnv.map((e) => [e.name, e.value]));
  for (const f of c.envFrom ?? []) {
    const kind = f.configMapRef ? 'ConfigMap' : 'Secret';
    const ref = f.configMapRef ?? f.secretRef;
    if (!ref) continue;
    const name = ref.name ?? '';
    const obj = kind === 'ConfigMap' ? sources.configMaps.get(name) : sources.secrets.get(name);
    if (!obj) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind.toLowerCase()} "${name}" not found`);
    }
    const data = (obj as { data?: Record<string, string> }).data ?? {};
    const invalid: string[] = [];
    for (const k of Object.keys(data).sort()) {
      const envName = `${f.prefix ?? ''}${k}`;
      if (isEnvVarName(envName).length > 0) {
        invalid.push(k);
        continue;
      }
      vars.set(envName, kind === 'ConfigMap' ? data[k]! : Buffer.from(data[k]!, 'base64').toString('utf8'));
    }
    if (invalid.length > 0) onSkipped?.({ kind: kind === 'ConfigMap' ? 'configMap' : 'secret', name, keys: invalid });
  }
  for (const e of c.env ?? []) {
    let value: string | undefined;
    if (e.valueFrom?.fieldRef) value = fieldRefValue(pod, e.valueFrom.fieldRef.fieldPath, podIP, hostIP);
    else if (e.valueFrom?.resourceFieldRef) value = resourceFieldValue(pod, c, e.valueFrom.resourceFieldRef);
    else if (e.valueFrom?.configMapKeyRef) value = keyRefValue(pod, sources, 'ConfigMap', e.valueFrom.configMapKeyRef);
    else if (e.valueFrom?.secretKeyRef) value = keyRefValue(pod, sources, 'Secret', e.valueFrom.secretKeyRef);
    else value = expandVars(e.value ?? '', vars);
    // An optional reference to something missing sets nothing, as in Kubernetes.
    if (value === undefined) continue;
    vars.set(e.name, value);
  }
  return [...vars].map(([name, value]) => ({ name, value }));
}

function resourceFieldValue(pod: Pod, c: Container, ref: { containerName?: string; resource: string; divisor?: string | number }): string {
  const target = ref.containerName ? pod.spec?.containers.find((x) => x.name === ref.containerName) : c;
  if (!target) throw new ContainerConfigError(`resourceFieldRef: no container "${ref.containerName}"`);
  const [kind, res] = ref.resource.split('.') as [string, string];
  const list = kind === 'limits' ? target.resources?.limits : target.resources?.requests;
  const raw = list?.[res];
  const divisor = ref.divisor !== undefined ? parseQuantity(ref.divisor) : 1;
  if (raw === undefined) return '0';
  const v = parseQuantity(raw) / (divisor || 1);
  return String(Math.ceil(v));
}

/** Numeric limits from `resources` (limits.memory, limits.cpu, requests.cpu). */
export function linuxResources(c: Container): LinuxResources {
  const r: LinuxResources = {};
  const lim = c.resources?.limits ?? {};
  const req = c.resources?.requests ?? {};
  if (lim.memory !== undefined) r.memoryLimitBytes = memoryBytes(lim.memory);
  if (lim.cpu !== undefined) r.cpuLimitMillis = cpuMillis(lim.cpu);
  if (req.cpu !== undefined) r.cpuRequestMillis = cpuMillis(req.cpu);
  return r;
}

/**
 * The runtime mounts of a container's volumeMounts. ConfigMap and Secret
 * volumes are host directories the agent keeps up to date
 * (`projectedDir(volumeName)`), mounted read-only.
 */
export function mountsOf(pod: Pod, c: Container, projectedDir?: (volume: string) => string | undefined): Mount[] {
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  return (c.volumeMounts ?? []).map((m) => {
    const v = volumes.get(m.name);
    if (!v) throw new ContainerConfigError(`volumeMount ${m.name}: no volume of that name in the pod`);
    const mount: Mount = { name: m.name, containerPath: m.mountPath, readOnly: Boolean(m.readOnly) };
    if (m.subPath) mount.subPath = m.subPath;
    if (v.emptyDir) mount.emptyDir = { ...v.emptyDir };
    else if (v.hostPath) mount.hostPath = { path: v.hostPath.path, ...(v.hostPath.type ? { type: v.hostPath.type } : {}) };
    else if (v.configMap || v.secret) {
      const dir = projectedDir?.(m.name);
      if (!dir) throw new ContainerConfigError(`volume ${m.name}: its files are not ready`);
      mount.hostPath = { path: dir, type: 'Directory' };
      mount.readOnly = true;
    } else throw new ContainerConfigError(`volume ${m.name}: only emptyDir, hostPath, configMap and secret volumes are supported`);
    return mount;
  });
}

/** The pod's ports that ask for a host port. */
export function hostPorts(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol ?? 'TCP', ...(p.hostIP ? { hostIP: p.hostIP } : {}) });
    }
  }
  return out;
}
