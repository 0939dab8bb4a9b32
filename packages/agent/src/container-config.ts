/**
 * Turns a pod's container spec into what the runtime needs: the resolved
 * environment (literal values, `$(VAR)` expansion, the downward API), the
 * mounts of its volumes, numeric resource limits, the pod's host ports and
 * a hash that detects a changed spec. Pure; errors are ContainerConfigErrors.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, cpuMillis, memoryBytes, parseQuantity, type Container, type Pod } from '@flotilla/api';
import type { LinuxResources, Mount, PortMapping } from './runtime/types.js';

/** A container cannot be configured (Kubernetes' CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  override readonly name = 'ContainerConfigError';
}

/** Label on app containers: a hash of their spec, so a changed spec restarts them. */
export const SPEC_HASH_LABEL = 'io.flotilla.container.hash';

/** A short stable hash of a container spec. */
export function containerHash(c: Container): string {
  return createHash('sha256').update(canonicalJson(c)).digest('hex').slice(0, 16);
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

/**
 * The container's environment with every value resolved, in order. The
 * Service variables (`serviceEnv`) come first: the container's own env
 * overrides them and may reference them as `$(VAR)`, as in Kubernetes.
 */
export function resolveEnv(pod: Pod, c: Container, podIP: string, hostIP: string, serviceEnv: Array<{ name: string; value: string }> = []): Array<{ name: string; value: string }> {
  const vars = new Map<string, string>(serviceEnv.map((e) => [e.name, e.value]));
  for (const e of c.env ?? []) {
    let value: string;
    if (e.valueFrom?.fieldRef) value = fieldRefValue(pod, e.valueFrom.fieldRef.fieldPath, podIP, hostIP);
    else if (e.valueFrom?.resourceFieldRef) value = resourceFieldValue(pod, c, e.valueFrom.resourceFieldRef);
    else if (e.valueFrom?.configMapKeyRef) throw new ContainerConfigError(`env ${e.name}: configMapKeyRef is not supported by this agent`);
    else if (e.valueFrom?.secretKeyRef) throw new ContainerConfigError(`env ${e.name}: secretKeyRef is not supported by this agent`);
    else value = expandVars(e.value ?? '', vars);
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

/** The runtime mounts of a container's volumeMounts. */
export function mountsOf(pod: Pod, c: Container): Mount[] {
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  return (c.volumeMounts ?? []).map((m) => {
    const v = volumes.get(m.name);
    if (!v) throw new ContainerConfigError(`volumeMount ${m.name}: no volume of that name in the pod`);
    const mount: Mount = { name: m.name, containerPath: m.mountPath, readOnly: Boolean(m.readOnly) };
    if (m.subPath) mount.subPath = m.subPath;
    if (v.emptyDir) mount.emptyDir = { ...v.emptyDir };
    else if (v.hostPath) mount.hostPath = { path: v.hostPath.path, ...(v.hostPath.type ? { type: v.hostPath.type } : {}) };
    else throw new ContainerConfigError(`volume ${m.name}: only emptyDir and hostPath volumes are supported`);
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
