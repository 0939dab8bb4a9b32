/**
 * Ephemeral containers (`kubectl debug`): started once in the pod's running
 * sandbox (its network and IPC namespaces), with `targetContainerName` in
 * the target container's PID namespace too, and never restarted — once an
 * instance exists, whatever its state, the agent leaves it be (as the
 * kubelet). A pod that has finished has its ephemeral containers stopped.
 * Their statuses go to `status.ephemeralContainerStatuses`.
 */
import type { ContainerStatus, EphemeralContainer, Pod } from '@flotilla/api';
import type { EventRecorder } from '@flotilla/client';
import type { Logger } from '@flotilla/observability';
import { ContainerConfigError, mountsOf, resolveEnv } from './container-config.js';
import { containerStatus, instancesOf, runningSandbox, type WaitingReason } from './pod-status.js';
import { isRuntimeError, type ContainerInfo, type ContainerRuntime, type Sandbox } from './runtime/types.js';

/** Label on the engine's containers that are ephemeral containers. */
export const EPHEMERAL_LABEL = 'io.flotilla.container.ephemeral';

/** What syncEphemeralContainers works with. */
export interface EphemeralDeps {
  runtime: ContainerRuntime;
  recorder: EventRecorder;
  log: Logger;
  nodeIP: string;
}

/** The outcome of one sync of a pod's ephemeral containers. */
export interface EphemeralSyncResult {
  /** Why a container has not started yet, by name. */
  waiting: Map<string, WaitingReason>;
  /** True when something was created, started or stopped (the caller lists the runtime again). */
  changed: boolean;
  /** When to look again (a target not running yet, a failed create). */
  retryInMs?: number;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** A Sandbox handle for the pod's running pause container. */
function sandboxOf(info: ContainerInfo): Sandbox {
  return {
    id: info.id,
    ip: info.ip ?? '',
    podUid: info.podUid,
    podNamespace: info.podNamespace,
    podName: info.podName,
    attempt: info.attempt,
    created: false,
    ...(info.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: info.terminationGracePeriodSeconds } : {}),
  };
}

/**
 * Starts the ephemeral containers of `pod` that never ran, stops those of a
 * finished pod (`terminal`). `containers` is the runtime's view of the pod now.
 */
export async function syncEphemeralContainers(d: EphemeralDeps, pod: Pod, containers: ContainerInfo[], terminal: boolean): Promise<EphemeralSyncResult> {
  const out: EphemeralSyncResult = { waiting: new Map(), changed: false };
  const list = pod.spec?.ephemeralContainers ?? [];
  if (list.length === 0) return out;
  const retry = (ms: number) => {
    out.retryInMs = out.retryInMs === undefined ? ms : Math.min(out.retryInMs, ms);
  };
  for (const ec of list) {
    const [latest] = instancesOf(containers, ec.name);
    if (latest) {
      if (terminal && latest.state === 'running') {
        await d.runtime.stopContainer(latest.id, 0);
        out.changed = true;
      }
      continue;
    }
    if (terminal) continue;
    const sb = runningSandbox(containers);
    if (!sb) {
      out.waiting.set(ec.name, { reason: 'ContainerCreating', message: 'the pod has no running sandbox' });
      retry(1000);
      continue;
    }
    const r = await startEphemeral(d, pod, ec, sb, containers);
    if ('waiting' in r) {
      out.waiting.set(ec.name, r.waiting);
      retry(r.retryInMs);
    } else out.changed = true;
  }
  return out;
}

async function startEphemeral(
  d: EphemeralDeps,
  pod: Pod,
  ec: EphemeralContainer,
  sb: ContainerInfo,
  containers: ContainerInfo[],
): Promise<{ started: true } | { waiting: WaitingReason; retryInMs: number }> {
  const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
  let pidNamespaceOf: string | undefined;
  if (ec.targetContainerName) {
    const [target] = instancesOf(containers, ec.targetContainerName);
    if (!target || target.state !== 'running') {
      return { waiting: { reason: 'ContainerCreating', message: `target container "${ec.targetContainerName}" is not running` }, retryInMs: 1000 };
    }
    pidNamespaceOf = target.id;
  }
  const image = ec.image ?? '';
  try {
    await d.runtime.ensureImage(image, ec.imagePullPolicy ?? 'IfNotPresent');
  } catch (err) {
    if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
    const reason = err.reason === 'ErrImageNeverPull' ? 'ErrImageNeverPull' : 'ErrImagePull';
    d.recorder.event(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${err.message}`);
    return { waiting: { reason, message: err.message }, retryInMs: 10_000 };
  }
  let id: string;
  try {
    const env = resolveEnv(pod, ec, sb.ip ?? '', d.nodeIP);
    const mounts = mountsOf(pod, ec);
    id = await d.runtime.createContainer(sandboxOf(sb), ec, { attempt: 0, env, mounts, labels: { [EPHEMERAL_LABEL]: 'true' }, ...(pidNamespaceOf ? { pidNamespaceOf } : {}) });
  } catch (err) {
    if (err instanceof ContainerConfigError) {
      d.recorder.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
      return { waiting: { reason: 'CreateContainerConfigError', message: err.message }, retryInMs: 5_000 };
    }
    if (isRuntimeError(err, 'AlreadyExists')) return { waiting: { reason: 'ContainerCreating' }, retryInMs: 0 };
    if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
    d.recorder.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
    return { waiting: { reason: 'CreateContainerError', message: err.message }, retryInMs: 5_000 };
  }
  d.recorder.event(pod, 'Normal', 'Created', `Created container ${ec.name}`);
  try {
    await d.runtime.startContainer(id);
  } catch (err) {
    if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
    // A start that failed leaves an instance: like any ephemeral container that ran, it is not tried again.
    d.recorder.event(pod, 'Warning', 'Failed', `Error: failed to start container "${ec.name}": ${err.message}`);
    return { waiting: { reason: 'RunContainerError', message: err.message }, retryInMs: 1000 };
  }
  d.recorder.event(pod, 'Normal', 'Started', `Started container ${ec.name}`);
  d.log.info({ pod: key, container: ec.name, target: ec.targetContainerName }, 'ephemeral container started');
  return { started: true };
}

/** `status.ephemeralContainerStatuses`: one per ephemeral container of the spec; never ready, never restarted. */
export function ephemeralContainerStatuses(
  pod: Pod,
  containers: ContainerInfo[],
  waiting: Map<string, WaitingReason>,
  terminationMessages: Map<string, string>,
): ContainerStatus[] | undefined {
  const list = pod.spec?.ephemeralContainers ?? [];
  if (list.length === 0) return undefined;
  const input = { containers, waiting, terminationMessages, ready: () => false, started: () => true, hostIP: '' };
  return list.map((ec) => {
    const s = containerStatus(ec.name, ec.image ?? '', input);
    s.ready = false;
    s.started = Boolean(s.state?.running);
    return s;
  });
}
