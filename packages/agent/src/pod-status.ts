/**
 * Pure computation of a pod's status from what the runtime shows: the
 * latest instance of each container, the dead one before it, probe results
 * and the reasons the last sync could not start something. Nothing here
 * does I/O, so the whole truth table is unit-testable.
 */
import { getCondition, nowTimestamp, setCondition, type Condition, type ContainerState, type ContainerStateTerminated, type ContainerStatus, type Pod, type PodPhase, type PodStatus } from '@flotilla/api';
import type { ContainerInfo } from './runtime/types.js';

/** Why a container is not running, as the last sync found it. */
export interface WaitingReason {
  reason: string;
  message?: string;
}

/** Everything computePodStatus needs besides the pod. */
export interface PodStatusInput {
  /** Every runtime container of the pod (sandboxes and app containers, any state). */
  containers: ContainerInfo[];
  /** Per container name: why it waits (CrashLoopBackOff, ErrImagePull, …). */
  waiting: Map<string, WaitingReason>;
  /** Termination messages by container id (the dead instance's last output). */
  terminationMessages: Map<string, string>;
  /** Readiness of a running instance by id: its readiness probe result, or undefined when it has none. */
  ready: (containerId: string) => boolean | undefined;
  /** Whether the startup probe of an instance passed (true when it has none). */
  started: (containerId: string) => boolean;
  hostIP: string;
  /** A pod-level problem (e.g. a host port clash), reported as the PodReadyToStartContainers condition. */
  sandboxProblem?: WaitingReason;
  /** Now, as an RFC 3339 timestamp. */
  now?: string;
  /** The pod failed as a whole (e.g. DeadlineExceeded): phase Failed with this reason and message. */
  podFailure?: WaitingReason;
}

/** The instances of one container, newest first. */
export function instancesOf(containers: ContainerInfo[], name: string): ContainerInfo[] {
  return containers.filter((c) => c.type === 'container' && c.containerName === name).sort((a, b) => b.attempt - a.attempt);
}

/** The pod's running sandbox, if any. */
export function runningSandbox(containers: ContainerInfo[]): ContainerInfo | undefined {
  return containers.filter((c) => c.type === 'sandbox' && c.state === 'running').sort((a, b) => b.attempt - a.attempt)[0];
}

/** `OOMKilled`, `Completed` or `Error`, as Kubernetes names a termination. */
export function terminationReason(info: ContainerInfo): string {
  if (info.oomKilled) return 'OOMKilled';
  return (info.exitCode ?? 0) === 0 ? 'Completed' : 'Error';
}

/** The terminated state of an exited instance. */
export function terminatedState(info: ContainerInfo, message: string | undefined): ContainerStateTerminated {
  const exitCode = info.exitCode ?? (info.error ? 128 : 0);
  const t: ContainerStateTerminated = { exitCode, reason: terminationReason(info), containerID: `docker://${info.id}` };
  // Shells report death by signal N as exit code 128+N.
  if (exitCode > 128 && exitCode <= 128 + 64) t.signal = exitCode - 128;
  const msg = message ?? info.error;
  if (msg) t.message = msg;
  if (info.startedAt) t.startedAt = info.startedAt;
  if (info.finishedAt) t.finishedAt = info.finishedAt;
  return t;
}

/** The status of one container of the spec. */
export function containerStatus(name: string, image: string, input: PodStatusInput): ContainerStatus {
  const [latest, prev] = instancesOf(input.containers, name);
  const waiting = input.waiting.get(name);
  const term = (i: ContainerInfo) => terminatedState(i, input.terminationMessages.get(i.id));
  const status: ContainerStatus = { name, state: {}, lastState: {}, ready: false, started: false, restartCount: 0, image, imageID: '' };
  if (!latest) {
    status.state = { waiting: waiting ?? { reason: 'ContainerCreating' } };
    return status;
  }
  status.restartCount = latest.attempt;
  status.imageID = latest.imageId ? `docker://${latest.imageId}` : '';
  status.containerID = `docker://${latest.id}`;
  let state: ContainerState;
  let last: ContainerState = prev && prev.state === 'exited' ? { terminated: term(prev) } : {};
  if (latest.state === 'running') {
    state = { running: latest.startedAt ? { startedAt: latest.startedAt } : {} };
    status.started = input.started(latest.id);
    status.ready = status.started && (input.ready(latest.id) ?? true);
  } else if (latest.state === 'exited') {
    if (waiting) {
      state = { waiting };
      last = { terminated: term(latest) };
    } else {
      state = { terminated: term(latest) };
    }
  } else {
    state = { waiting: waiting ?? { reason: 'ContainerCreating' } };
  }
  status.state = state;
  status.lastState = last;
  return status;
}

/**
 * The phase as the kubelet derives it: any container not yet started →
 * Pending; some running → Running; all stopped → Succeeded/Failed unless the
 * restart policy brings them back (then Running). A crash-looping container
 * (waiting, but it ran before) counts as stopped, not waiting.
 */
export function podPhase(pod: Pod, statuses: ContainerStatus[]): PodPhase {
  const policy = pod.spec?.restartPolicy ?? 'Always';
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) {
        stopped++;
        if (s.lastState.terminated.exitCode === 0) succeeded++;
      } else waiting++;
    } else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return policy === 'OnFailure' ? 'Running' : 'Failed';
  }
  return 'Pending';
}

/** True for an init container that keeps running beside the app containers (a sidecar, `restartPolicy: Always`). */
export function isSidecar(c: { restartPolicy?: string }): boolean {
  return c.restartPolicy === 'Always';
}

/**
 * Whether the pod is initialized, from the statuses: every init container
 * completed (a sidecar: started), or an app container has already run, as
 * the kubelet decides (init containers are not rerun for an app restart).
 */
export function podInitialized(pod: Pod, initStatuses: ContainerStatus[], statuses: ContainerStatus[]): boolean {
  if (statuses.some((s) => s.state?.running || s.state?.terminated || s.lastState?.terminated)) return true;
  return initIncomplete(pod, initStatuses).length === 0;
}

/** The init containers that have not completed (sidecars: not started), in order. */
export function initIncomplete(pod: Pod, initStatuses: ContainerStatus[]): string[] {
  const out: string[] = [];
  for (const c of pod.spec?.initContainers ?? []) {
    const s = initStatuses.find((x) => x.name === c.name);
    if (isSidecar(c) ? s?.started && s.state?.running : s?.state?.terminated?.exitCode === 0) continue;
    out.push(c.name);
  }
  return out;
}

/**
 * The phase contribution of init containers, as the kubelet's getPhase
 * counts it: how many are still to complete and how many failed.
 */
function initCounts(pod: Pod, initStatuses: ContainerStatus[]): { pending: number; failed: number } {
  let pending = 0;
  let failed = 0;
  for (const c of pod.spec?.initContainers ?? []) {
    const s = initStatuses.find((x) => x.name === c.name);
    if (isSidecar(c)) {
      if (!s?.started) pending++;
      continue;
    }
    if (!s) pending++;
    else if (s.state?.running) pending++;
    else if (s.state?.terminated) {
      if (s.state.terminated.exitCode !== 0) failed++;
    } else if (s.state?.waiting && s.lastState?.terminated) {
      if (s.lastState.terminated.exitCode !== 0) failed++;
    } else pending++;
  }
  return { pending, failed };
}

/** The full status the agent reports for a pod. */
export function computePodStatus(pod: Pod, input: PodStatusInput): PodStatus {
  const now = input.now ?? nowTimestamp();
  const old = pod.status ?? {};
  const containers = pod.spec?.containers ?? [];
  const inits = pod.spec?.initContainers ?? [];
  let statuses = containers.map((c) => containerStatus(c.name, c.image ?? '', input));
  let initStatuses = inits.map((c) => {
    const s = containerStatus(c.name, c.image ?? '', input);
    // A completed init container counts as ready (the kubelet's rule); a sidecar as its probes say.
    if (!isSidecar(c)) s.ready = s.state?.terminated?.exitCode === 0;
    return s;
  });
  const initialized = podInitialized(pod, initStatuses, statuses);
  // The kubelet's default waiting reason in a pod with init containers is PodInitializing, not ContainerCreating.
  const initializing = (s: ContainerStatus) => (s.state?.waiting?.reason === 'ContainerCreating' && !s.containerID ? { ...s, state: { waiting: { reason: 'PodInitializing' } } } : s);
  if (inits.length > 0) {
    statuses = statuses.map(initializing);
    initStatuses = initStatuses.map(initializing);
  }
  let phase = podPhase(pod, statuses);
  const init = initCounts(pod, initStatuses);
  if (!initialized && init.failed > 0 && (pod.spec?.restartPolicy ?? 'Always') === 'Never') phase = 'Failed';
  else if (!initialized && phase !== 'Failed') phase = 'Pending';
  if (input.podFailure) phase = 'Failed';
  // A pod that has finished never comes back.
  if (old.phase === 'Succeeded' || old.phase === 'Failed') phase = old.phase;

  const conditions: Condition[] = (old.conditions ?? []).map((c) => ({ ...c }));
  const set = (c: Condition) => setCondition(conditions, c, now);
  const sandbox = runningSandbox(input.containers);
  if (!getCondition(conditions, 'PodScheduled')) set({ type: 'PodScheduled', status: 'True', lastProbeTime: null });
  if (input.sandboxProblem) {
    set({ type: 'PodReadyToStartContainers', status: 'False', reason: input.sandboxProblem.reason, message: input.sandboxProblem.message ?? '', lastProbeTime: null });
  } else {
    set({ type: 'PodReadyToStartContainers', status: sandbox ? 'True' : 'False', lastProbeTime: null });
  }
  const incomplete = initIncomplete(pod, initStatuses);
  if (initialized) set({ type: 'Initialized', status: 'True', lastProbeTime: null });
  else set({ type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${incomplete.join(' ')}]`, lastProbeTime: null });
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const ready = unready.length === 0 && statuses.length > 0 && !terminal;
  const notReady = { reason: terminal ? 'PodCompleted' : 'ContainersNotReady', message: terminal ? '' : `containers with unready status: [${unready.join(' ')}]` };
  set(ready ? { type: 'ContainersReady', status: 'True', lastProbeTime: null } : { type: 'ContainersReady', status: 'False', ...notReady, lastProbeTime: null });
  // readinessGates: conditions others (controllers) set must be True as well, as the kubelet's GeneratePodReadyCondition says.
  const gates = (pod.spec?.readinessGates ?? []).map((g) => {
    const c = getCondition(conditions, g.conditionType);
    if (!c) return `corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`;
    return c.status === 'True' ? '' : `the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`;
  }).filter(Boolean);
  if (ready && gates.length > 0) set({ type: 'Ready', status: 'False', reason: 'ReadinessGatesNotReady', message: gates.join(', '), lastProbeTime: null });
  else set(ready ? { type: 'Ready', status: 'True', lastProbeTime: null } : { type: 'Ready', status: 'False', ...notReady, lastProbeTime: null });
  for (const c of conditions) {
    // setCondition keeps reason/message from the caller only; drop stale ones on True.
    if (c.status === 'True' && c.type !== 'PodScheduled') {
      delete c.reason;
      delete c.message;
    }
  }

  const status: PodStatus = { phase, conditions, hostIP: input.hostIP, hostIPs: [{ ip: input.hostIP }], startTime: old.startTime ?? now, containerStatuses: statuses, qosClass: qosClass(pod) };
  if (inits.length > 0) status.initContainerStatuses = initStatuses;
  const failure = input.podFailure ?? (old.phase === 'Failed' && old.reason ? { reason: old.reason, message: old.message ?? '' } : undefined);
  if (failure && phase === 'Failed') {
    status.reason = failure.reason;
    if (failure.message) status.message = failure.message;
  }
  const ip = sandbox?.ip ?? old.podIP;
  if (ip) {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  }
  if (old.nominatedNodeName) status.nominatedNodeName = old.nominatedNodeName;
  return status;
}

/** Guaranteed / Burstable / BestEffort from requests and limits (Kubernetes' rule). */
export function qosClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const cs = pod.spec?.containers ?? [];
  let any = false;
  let guaranteed = cs.length > 0;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
