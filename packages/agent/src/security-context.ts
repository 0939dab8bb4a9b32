/**
 * A pod's and a container's securityContext merged into what the runtime
 * applies (the container's fields win, as in Kubernetes), the kubelet's
 * runAsNonRoot check against the image's user, and the sandbox-level
 * settings (sysctls, host namespaces). Pure; refusals are
 * ContainerConfigErrors (Kubernetes' CreateContainerConfigError).
 */
import type { Container, Pod } from '@flotilla/api';
import { ContainerConfigError } from './container-config.js';
import type { ContainerSecurity } from './runtime/types.js';

/** The effective security settings of container `c` of `pod`. */
export function containerSecurity(pod: Pod, c: Container): ContainerSecurity {
  const p = pod.spec?.securityContext ?? {};
  const s = c.securityContext ?? {};
  const out: ContainerSecurity = {};
  const user = s.runAsUser ?? p.runAsUser;
  const group = s.runAsGroup ?? p.runAsGroup;
  if (user !== undefined) out.runAsUser = user;
  if (group !== undefined) out.runAsGroup = group;
  const groups = [...(p.supplementalGroups ?? [])];
  // The kubelet adds fsGroup to every container's groups, so volumes it owns are writable.
  if (p.fsGroup !== undefined) {
    out.fsGroup = p.fsGroup;
    if (!groups.includes(p.fsGroup)) groups.push(p.fsGroup);
  }
  if (groups.length > 0) out.supplementalGroups = groups;
  if (s.readOnlyRootFilesystem) out.readOnlyRootFilesystem = true;
  if (s.privileged) out.privileged = true;
  if (s.capabilities?.add?.length) out.capAdd = s.capabilities.add.map(capName);
  if (s.capabilities?.drop?.length) out.capDrop = s.capabilities.drop.map(capName);
  if (s.allowPrivilegeEscalation === false) out.noNewPrivileges = true;
  if ((s.seccompProfile ?? p.seccompProfile)?.type === 'Unconfined') out.seccompUnconfined = true;
  return out;
}

/** `NET_ADMIN` and `CAP_NET_ADMIN` are the same capability; the engine takes either, `ALL` as is. */
function capName(c: string): string {
  const up = c.toUpperCase();
  return up === 'ALL' || up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** Whether runAsNonRoot applies to the container (its own setting wins). */
export function runAsNonRoot(pod: Pod, c: Container): boolean {
  return (c.securityContext?.runAsNonRoot ?? pod.spec?.securityContext?.runAsNonRoot) === true;
}

/**
 * The kubelet's verifyRunAsNonRoot: with runAsNonRoot, the uid the container
 * will run as (runAsUser, else the image's USER) must be a known non-zero
 * number. `imageUser` is the image's USER (`''` means root).
 */
export function verifyRunAsNonRoot(pod: Pod, c: Container, security: ContainerSecurity, imageUser: string | undefined): void {
  if (!runAsNonRoot(pod, c)) return;
  const where = `(pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`;
  if (security.runAsUser !== undefined) {
    if (security.runAsUser === 0) throw new ContainerConfigError(`container's runAsUser breaks non-root policy ${where}`);
    return;
  }
  // USER may be "name", "uid" or "uid:gid".
  const user = (imageUser ?? '').split(':')[0] ?? '';
  if (user === '' || user === '0' || user === 'root') throw new ContainerConfigError(`container has runAsNonRoot and image will run as root ${where}`);
  if (!/^\d+$/.test(user)) throw new ContainerConfigError(`container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root ${where}`);
}

/** The sysctls of the pod's sandbox, by name. */
export function podSysctls(pod: Pod): Record<string, string> | undefined {
  const list = pod.spec?.securityContext?.sysctls ?? [];
  if (list.length === 0) return undefined;
  return Object.fromEntries(list.map((s) => [s.name, s.value]));
}

/** Whose PID namespace a container joins. */
export function pidNamespace(pod: Pod): 'container' | 'pod' | 'host' {
  if (pod.spec?.hostPID) return 'host';
  return pod.spec?.shareProcessNamespace ? 'pod' : 'container';
}
