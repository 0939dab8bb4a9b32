/**
 * Validation of the parts of a pod the agent enforces at run time:
 * securityContext (pod and container levels), lifecycle hooks, the
 * sidecar `restartPolicy` of init containers and the host namespace
 * switches. Rules and messages follow Kubernetes' (k8s.io/kubernetes
 * pkg/apis/core/validation); what Flotilla cannot do is refused with a
 * field path instead of being dropped.
 */
import type { Container, LifecycleHandler, PodSecurityContext, PodSpec, SecurityContext } from './core-types.js';
import type { FieldErrors } from './validation.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- input is untrusted JSON; fields are checked one by one
const isObj = (x: unknown): x is Record<string, any> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);

const MAX_ID = 2147483647;
const SYSCTL_RE = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;
/** Sysctls that belong to the IPC namespace (forbidden with hostIPC). */
const IPC_SYSCTL = /^(kernel\.shm|kernel\.msg|kernel\.sem$|fs\.mqueue\.)/;

/** A uid or gid. */
function id(e: FieldErrors, field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!isInt(value) || value < 0 || value > MAX_ID) e.invalid(field, value, `must be between 0 and ${MAX_ID}, inclusive`);
}

function bool(e: FieldErrors, field: string, value: unknown): void {
  if (value !== undefined && value !== null && typeof value !== 'boolean') e.invalid(field, value, 'must be a boolean');
}

function seccomp(e: FieldErrors, field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!isObj(value)) return e.invalid(field, value, 'must be an object');
  if (value.type === undefined) return e.required(`${field}.type`);
  if (value.type === 'Localhost') return e.notSupported(`${field}.type`, value.type, ['RuntimeDefault', 'Unconfined']);
  if (!['RuntimeDefault', 'Unconfined'].includes(value.type)) e.notSupported(`${field}.type`, value.type, ['Localhost', 'RuntimeDefault', 'Unconfined']);
  if (value.localhostProfile !== undefined) e.invalid(`${field}.localhostProfile`, value.localhostProfile, 'can only be set when seccomp type is Localhost');
}

/** Validates a container's securityContext at `field`. */
export function validateContainerSecurityContext(e: FieldErrors, sc: SecurityContext | undefined, field: string): void {
  if (sc === undefined || sc === null) return;
  if (!isObj(sc)) return e.invalid(field, sc, 'must be an object');
  id(e, `${field}.runAsUser`, sc.runAsUser);
  id(e, `${field}.runAsGroup`, sc.runAsGroup);
  for (const f of ['runAsNonRoot', 'readOnlyRootFilesystem', 'privileged', 'allowPrivilegeEscalation'] as const) bool(e, `${field}.${f}`, sc[f]);
  if (sc.capabilities !== undefined && sc.capabilities !== null) {
    if (!isObj(sc.capabilities)) e.invalid(`${field}.capabilities`, sc.capabilities, 'must be an object');
    else for (const f of ['add', 'drop'] as const) {
      const list = sc.capabilities[f];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) e.invalid(`${field}.capabilities.${f}`, list, 'must be a list');
      else list.forEach((c, i) => {
        if (typeof c !== 'string' || c === '') e.invalid(`${field}.capabilities.${f}[${i}]`, c, 'must be a capability name such as NET_ADMIN');
      });
    }
  }
  if (sc.procMount !== undefined && sc.procMount !== 'Default') e.notSupported(`${field}.procMount`, sc.procMount, ['Default']);
  seccomp(e, `${field}.seccompProfile`, sc.seccompProfile);
  if (sc.privileged === true && sc.allowPrivilegeEscalation === false) {
    e.invalid(field, sc, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true');
  }
  const added = Array.isArray(sc.capabilities?.add) ? sc.capabilities!.add! : [];
  if (sc.allowPrivilegeEscalation === false && added.some((c) => c === 'CAP_SYS_ADMIN' || c === 'SYS_ADMIN')) {
    e.invalid(field, sc, 'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN');
  }
}

/**
 * Pod fields Flotilla has no implementation for: refused with a field path
 * (Kubernetes would act on them; silently dropping them would mislead).
 */
export function validateUnsupported(e: FieldErrors, spec: PodSpec, path: string): void {
  const s = spec as PodSpec & { hostUsers?: unknown; runtimeClassName?: unknown; resourceClaims?: unknown };
  if (s.hostUsers === false) e.forbidden(`${path}.hostUsers`, 'user namespaces (hostUsers: false) are not supported by Flotilla');
  if (s.runtimeClassName !== undefined && s.runtimeClassName !== null && s.runtimeClassName !== '') e.forbidden(`${path}.runtimeClassName`, 'RuntimeClasses are not supported by Flotilla');
  if (Array.isArray(s.resourceClaims) && s.resourceClaims.length > 0) e.forbidden(`${path}.resourceClaims`, 'dynamic resource allocation is not supported by Flotilla');
  for (const [list, field] of [[spec.containers, 'containers'], [spec.initContainers, 'initContainers']] as const) {
    if (!Array.isArray(list)) continue;
    list.forEach((c, i) => {
      const devices = isObj(c) ? (c as { volumeDevices?: unknown }).volumeDevices : undefined;
      if (Array.isArray(devices) && devices.length > 0) e.forbidden(`${path}.${field}[${i}].volumeDevices`, 'block volumes are not supported by Flotilla');
    });
  }
}

/** Validates a pod's securityContext and host namespace switches at `path` (`spec`). */
export function validatePodSecurity(e: FieldErrors, spec: PodSpec, path: string): void {
  for (const f of ['hostPID', 'hostIPC', 'shareProcessNamespace', 'setHostnameAsFQDN'] as const) bool(e, `${path}.${f}`, spec[f]);
  if (spec.shareProcessNamespace === true && spec.hostPID === true) {
    e.invalid(`${path}.shareProcessNamespace`, true, 'ShareProcessNamespace and HostPID cannot both be enabled');
  }
  const sc = spec.securityContext as PodSecurityContext | undefined;
  const field = `${path}.securityContext`;
  if (sc === undefined || sc === null) return;
  if (!isObj(sc)) return e.invalid(field, sc, 'must be an object');
  id(e, `${field}.runAsUser`, sc.runAsUser);
  id(e, `${field}.runAsGroup`, sc.runAsGroup);
  id(e, `${field}.fsGroup`, sc.fsGroup);
  bool(e, `${field}.runAsNonRoot`, sc.runAsNonRoot);
  if (sc.supplementalGroups !== undefined && sc.supplementalGroups !== null) {
    if (!Array.isArray(sc.supplementalGroups)) e.invalid(`${field}.supplementalGroups`, sc.supplementalGroups, 'must be a list');
    else sc.supplementalGroups.forEach((g, i) => id(e, `${field}.supplementalGroups[${i}]`, g));
  }
  if (sc.supplementalGroupsPolicy !== undefined && sc.supplementalGroupsPolicy !== 'Merge') {
    e.notSupported(`${field}.supplementalGroupsPolicy`, sc.supplementalGroupsPolicy, ['Merge']);
  }
  if (sc.fsGroupChangePolicy !== undefined && !['OnRootMismatch', 'Always'].includes(sc.fsGroupChangePolicy)) {
    e.notSupported(`${field}.fsGroupChangePolicy`, sc.fsGroupChangePolicy, ['OnRootMismatch', 'Always']);
  }
  seccomp(e, `${field}.seccompProfile`, sc.seccompProfile);
  if (sc.sysctls !== undefined && sc.sysctls !== null) {
    if (!Array.isArray(sc.sysctls)) return e.invalid(`${field}.sysctls`, sc.sysctls, 'must be a list');
    const seen = new Set<string>();
    sc.sysctls.forEach((s, i) => {
      const p = `${field}.sysctls[${i}]`;
      if (!isObj(s)) return e.invalid(p, s, 'must be an object');
      if (!s.name) return e.required(`${p}.name`);
      if (typeof s.name !== 'string' || s.name.length > 253 || !SYSCTL_RE.test(s.name)) {
        return e.invalid(`${p}.name`, s.name, `must have at most 253 characters and match regex ${SYSCTL_RE.source}`);
      }
      if (typeof s.value !== 'string') e.invalid(`${p}.value`, s.value, 'must be a string');
      if (seen.has(s.name)) e.duplicate(`${p}.name`, s.name);
      seen.add(s.name);
      if (spec.hostNetwork === true && s.name.startsWith('net.')) e.invalid(`${p}.name`, s.name, "may not be specified when 'hostNetwork' is true");
      if (spec.hostIPC === true && IPC_SYSCTL.test(s.name)) e.invalid(`${p}.name`, s.name, "may not be specified when 'hostIPC' is true");
    });
  }
}

function validateHandler(e: FieldErrors, h: LifecycleHandler | undefined, field: string, grace: number): void {
  if (h === undefined || h === null) return;
  if (!isObj(h)) return e.invalid(field, h, 'must be an object');
  const handlers = (['exec', 'httpGet', 'tcpSocket', 'sleep'] as const).filter((k) => h[k] !== undefined && h[k] !== null);
  if (handlers.length === 0) return e.required(field, 'must specify a handler type');
  if (handlers.length > 1) return e.forbidden(`${field}.${handlers[1]}`, 'may not specify more than 1 handler type');
  if (h.tcpSocket) e.forbidden(`${field}.tcpSocket`, 'tcpSocket is not supported as a lifecycle handler; use exec, httpGet or sleep');
  if (h.exec && (!Array.isArray(h.exec.command) || h.exec.command.length === 0)) e.required(`${field}.exec.command`);
  if (h.httpGet) {
    const port = h.httpGet.port;
    if (port === undefined || port === null || port === '') e.required(`${field}.httpGet.port`);
    else if (typeof port === 'number' && (!isInt(port) || port < 1 || port > 65535)) e.invalid(`${field}.httpGet.port`, port, 'must be between 1 and 65535, inclusive');
    if (h.httpGet.scheme !== undefined && !['HTTP', 'HTTPS'].includes(h.httpGet.scheme)) e.notSupported(`${field}.httpGet.scheme`, h.httpGet.scheme, ['HTTP', 'HTTPS']);
  }
  if (h.sleep) {
    const s = h.sleep.seconds;
    if (!isInt(s) || s < 1 || s > grace) e.invalid(`${field}.sleep.seconds`, s, `must be greater than 0 and less than terminationGracePeriodSeconds (${grace})`);
  }
}

/**
 * Validates a container's `lifecycle` and `restartPolicy`. Init containers
 * may only be sidecars (`restartPolicy: Always`); only sidecars and app
 * containers may have hooks.
 */
export function validateContainerLifecycle(e: FieldErrors, c: Container, p: string, init: boolean, grace: number): void {
  const sidecar = init && c.restartPolicy === 'Always';
  if (c.restartPolicy !== undefined) {
    if (!init) e.forbidden(`${p}.restartPolicy`, 'may not be set for non-init containers');
    else if (c.restartPolicy !== 'Always') e.notSupported(`${p}.restartPolicy`, c.restartPolicy, ['Always']);
  }
  if (c.lifecycle === undefined || c.lifecycle === null) return;
  if (init && !sidecar) return e.forbidden(`${p}.lifecycle`, 'may not be set for init containers without restartPolicy=Always');
  if (!isObj(c.lifecycle)) return e.invalid(`${p}.lifecycle`, c.lifecycle, 'must be an object');
  validateHandler(e, c.lifecycle.postStart, `${p}.lifecycle.postStart`, grace);
  validateHandler(e, c.lifecycle.preStop, `${p}.lifecycle.preStop`, grace);
}
