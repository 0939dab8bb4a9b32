/**
 * The level-triggered sync of one pod: compare the pod spec with the
 * containers the runtime has (found by labels), make the sandbox, pull
 * images, create and start what is missing, restart what died (with the
 * crash-loop back-off), kill what failed liveness, stop everything of a pod
 * being deleted, and report the resulting status. Every decision is made
 * from the runtime's view now, never from remembered events.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isReason, type Container, type LifecycleHandler, type Pod, type PodSpec, type PodStatus, type Service } from '@flotilla/api';
import type { ApiClient, EventRecorder, ReconcileResult, ResourceClient } from '@flotilla/client';
import type { Logger } from '@flotilla/observability';
import { RestartBackoff } from './backoff.js';
import type { ResolvedAgentConfig } from './config.js';
import { fetchSources, NO_SOURCES, referencedSources, type PodConfigSources } from './config-sources.js';
import { waitForEndpointDrain } from './endpoint-drain.js';
import { ephemeralContainerStatuses, syncEphemeralContainers } from './ephemeral-containers.js';
import { ContainerConfigError, containerHash, hostPorts, linuxResources, mountsOf, resolveEnv, SPEC_HASH_LABEL } from './container-config.js';
import { filesDigest, projectedVolumeDir, projectVolume, writeAtomically } from './projected-volumes.js';
import type { AgentMetrics } from './metrics.js';
import { computePodStatus, instancesOf, isSidecar, runningSandbox, type WaitingReason } from './pod-status.js';
import { runHook, type HookKind } from './lifecycle-hooks.js';
import { containerSecurity, pidNamespace, podSysctls, runAsNonRoot, verifyRunAsNonRoot } from './security-context.js';
import { parseResolvConf, podDnsConfig, type HostDns } from './pod-dns.js';
import type { ProbeManager, ProbeTarget } from './prober.js';
import { podServiceEnv } from './service-env.js';
import { fileTerminationLogs, terminationMessage, type TerminationLogs } from './termination-message.js';
import { isRuntimeError, type ContainerInfo, type ContainerRuntime, type PodSandboxConfig, type Sandbox } from './runtime/types.js';
import type { StatusManager } from './status-manager.js';

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The longest a postStart hook may run before it counts as failed. */
const POST_START_TIMEOUT_MS = 120_000;
/** How long a reading of the host's resolv.conf serves new sandboxes before the file is read again. */
const HOST_DNS_REREAD_MS = 1000;
/**
 * The last reading of each host resolv.conf, for every PodSyncer of the
 * process: a hollow-node process runs a thousand agents on the same file,
 * and one reading each made the cache miss for nearly every sandbox.
 */
const hostDnsReads = new Map<string, { at: number; dns: HostDns }>();

/** A sync's outcome: when to come back, and what the relist compares with next (relist.ts). */
export interface PodSyncResult extends ReconcileResult {
  /** The pod's containers as the sync last listed them. */
  containers?: readonly ContainerInfo[];
  /** The pod's resourceVersion after the sync's own status write, when it wrote one. */
  writtenVersion?: string;
}

/** Whether `status` shows every container of `spec` running, init containers done and sidecars running. */
function fullyUp(spec: PodSpec, status: PodStatus): boolean {
  if (status.phase !== 'Running') return false;
  const app = (c: Container) => status.containerStatuses?.find((s) => s.name === c.name)?.state?.running !== undefined;
  const init = (c: Container) => {
    const s = status.initContainerStatuses?.find((x) => x.name === c.name)?.state;
    return isSidecar(c) ? s?.running !== undefined : s?.terminated?.exitCode === 0;
  };
  return spec.containers.every(app) && (spec.initContainers ?? []).every(init);
}

/** What a PodSyncer works with. */
export interface PodSyncerDeps {
  runtime: ContainerRuntime;
  client: ApiClient;
  recorder: EventRecorder;
  prober: ProbeManager;
  status: StatusManager;
  config: ResolvedAgentConfig;
  metrics: AgentMetrics;
  log: Logger;
  now?: () => number;
  /** The Services that exist now (an informer's cache), for the containers' service variables; none when unset. */
  services?: () => Iterable<Service>;
  /** Why the pod network is not ready (no sandbox may start), or undefined when it is. */
  networkNotReady?: () => string | undefined;
  /** The containers' termination-log files (default: host files under the state directory). */
  terminationLogs?: (stateDir: string) => TerminationLogs;
}

interface PodMemory {
  /** When the agent first saw the pod, for start latency. */
  firstSeen: number;
  started: boolean;
  /** Until the pod first runs: ms after firstSeen at which each step of its start finished (logged once, for tracing where start time goes). */
  steps?: Record<string, number>;
}

/** A container created for a start, or why it could not be. */
type Created = { id: string } | { waiting: WaitingReason; retryInMs?: number; ran?: boolean };

/** Whether a container's environment takes the pod IP (downward API), which exists only once its sandbox runs. */
function needsPodIP(c: Container): boolean {
  return (c.env ?? []).some((e) => e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.podIPs');
}

/** `name_namespace(uid)`: how the kubelet names a pod in messages. */
export function podDesc(pod: Pod): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/** Syncs pods of one node against a runtime. */
export class PodSyncer {
  private readonly pods: ResourceClient<Pod>;
  private readonly backoff: RestartBackoff;
  private readonly imageBackoff: RestartBackoff;
  private readonly sandboxBackoff: RestartBackoff;
  private readonly imageFailedAt = new Map<string, { at: number; message: string }>();
  private readonly sandboxFailedAt = new Map<string, { at: number; reason: string; message: string }>();
  private readonly termMessages = new Map<string, string>();
  private readonly memory = new Map<string, PodMemory>();
  /** Per pod uid: the digest of what each configMap/secret volume directory holds, so unchanged volumes are not rewritten. */
  private readonly projected = new Map<string, Map<string, string>>();
  private readonly stateDir: string;
  private readonly terminationLogs: TerminationLogs;
  /** Pods whose containers are being stopped, so the orphan sweep leaves them to their worker. */
  readonly terminating = new Set<string>();
  private readonly now: () => number;
  private warnedNoClusterDNS = false;

  constructor(private readonly d: PodSyncerDeps) {
    this.pods = d.client.resource<Pod>({ apiVersion: 'v1', kind: 'Pod' });
    this.now = d.now ?? Date.now;
    this.stateDir = d.config.stateDir ?? join(tmpdir(), 'flotilla-agent', d.config.nodeName);
    this.terminationLogs = (d.terminationLogs ?? fileTerminationLogs)(this.stateDir);
    this.backoff = new RestartBackoff(d.config.backoffInitialMs, d.config.backoffMaxMs, this.now);
    this.imageBackoff = new RestartBackoff(d.config.backoffInitialMs, d.config.backoffMaxMs, this.now);
    this.sandboxBackoff = new RestartBackoff(d.config.backoffInitialMs, d.config.backoffMaxMs, this.now);
  }

  /** The crash back-off delay of a container (for tests and the CrashLoopBackOff message). */
  backoffDelay(podUid: string, container: string): number {
    return this.backoff.delay(`${podUid}/${container}`);
  }

  /** One reconcile of a pod that is in the API. */
  async sync(pod: Pod): Promise<PodSyncResult> {
    const started = this.now();
    try {
      if (pod.metadata.deletionTimestamp) {
        await this.terminate(pod);
        return {};
      }
      return await this.syncRunning(pod);
    } finally {
      this.d.metrics.syncDuration.observe((this.now() - started) / 1000);
    }
  }

  private async syncRunning(pod: Pod): Promise<PodSyncResult> {
    const uid = pod.metadata.uid ?? '';
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const spec = pod.spec ?? { containers: [] };
    const policy = spec.restartPolicy ?? 'Always';
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    const mem = this.memory.get(uid) ?? { firstSeen: this.now(), started: false, steps: {} };
    this.memory.set(uid, mem);
    const step = (name: string) => {
      if (mem.steps) mem.steps[name] ??= this.now() - mem.firstSeen;
    };
    const waiting = new Map<string, WaitingReason>();
    let requeue: number | undefined;
    const requeueIn = (ms: number) => {
      requeue = requeue === undefined ? ms : Math.min(requeue, ms);
    };
    let containers = await this.d.runtime.listContainers({ podUid: uid });
    step('listed');
    // From the status we last wrote, not the informer's possibly older copy: a pod we saw finish stays finished,
    // and startTime and transition times are not restamped (a needless second write).
    const base = this.d.status.base(pod);
    const terminal = base?.phase === 'Succeeded' || base?.phase === 'Failed';
    // activeDeadlineSeconds: past it, every container is stopped and the pod fails for good.
    const podFailure = terminal ? undefined : this.deadlineExceeded(pod, base, requeueIn);
    const finishing = terminal || podFailure !== undefined;

    // Every sync, not only before a start: a changed ConfigMap or Secret reaches running containers' volumes.
    const prep = finishing ? { sources: NO_SOURCES, dirs: new Map<string, string>() } : await this.prepareConfig(pod);
    step('config');

    // Init containers, one at a time to completion, before any app container starts.
    const sidecars = (spec.initContainers ?? []).filter(isSidecar);
    let initialized = true;
    let sandboxProblem: WaitingReason | undefined;
    if ((spec.initContainers?.length ?? 0) > 0 && !finishing) {
      const init = await this.syncInit(pod, containers, prep, grace, waiting, requeueIn);
      initialized = init.initialized;
      sandboxProblem = init.sandboxProblem;
      containers = await this.d.runtime.listContainers({ podUid: uid });
    }

    // Which containers must (re)start now, and which wait.
    const toStart: Array<{ c: Container; attempt: number; restart: boolean }> = [];
    const sandboxInfo = runningSandbox(containers);
    // Sidecars are looked after like app containers once initialization is over (it started them in order).
    for (const c of initialized ? [...sidecars, ...spec.containers] : spec.containers) {
      const [latest] = instancesOf(containers, c.name);
      const bkey = `${uid}/${c.name}`;
      if (latest && latest.state === 'running') {
        const why = this.killReason(latest, c, sandboxInfo, finishing);
        if (!why) {
          // A long clean run earns a fresh back-off.
          if (latest.startedAt && this.now() - Date.parse(latest.startedAt) >= this.d.config.backoffResetMs) this.backoff.reset(bkey);
          continue;
        }
        this.d.recorder.event(pod, 'Normal', 'Killing', why.message);
        await this.killContainer(pod, latest, c, why.grace ?? grace, sandboxInfo?.ip);
        containers = await this.d.runtime.listContainers({ podUid: uid });
      }
      const current = instancesOf(containers, c.name)[0];
      if (finishing || !initialized) continue;
      if (!current) {
        toStart.push({ c, attempt: 0, restart: false });
        continue;
      }
      if (current.state === 'created' || current.state === 'unknown') {
        // Created but never started (its start failed): replace it under the same attempt number.
        await this.d.runtime.removeContainer(current.id);
        toStart.push({ c, attempt: current.attempt, restart: current.attempt > 0 });
        continue;
      }
      if (current.state !== 'exited') continue;
      await this.rememberTermination(current, c);
      const cpolicy = isSidecar(c) ? 'Always' : policy;
      const restart = cpolicy === 'Always' || (cpolicy === 'OnFailure' && (current.exitCode ?? 0) !== 0);
      if (!restart) continue;
      if (current.startedAt && current.finishedAt && Date.parse(current.finishedAt) - Date.parse(current.startedAt) >= this.d.config.backoffResetMs) this.backoff.reset(bkey);
      const finishedAt = current.finishedAt ? Date.parse(current.finishedAt) : this.now();
      const remaining = this.backoff.remaining(bkey, finishedAt);
      if (remaining > 0) {
        const delay = Math.round(this.backoff.delay(bkey) / 1000);
        waiting.set(c.name, { reason: 'CrashLoopBackOff', message: `back-off ${delay}s restarting failed container=${c.name} pod=${podDesc(pod)}` });
        this.d.recorder.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${podDesc(pod)}`);
        requeueIn(remaining);
        continue;
      }
      toStart.push({ c, attempt: current.attempt + 1, restart: true });
    }

    if (prep.problem) {
      for (const t of toStart.splice(0)) waiting.set(t.c.name, prep.problem);
      requeueIn(prep.retryInMs ?? this.d.config.backoffInitialMs);
    }

    let sandbox: Sandbox | undefined;
    // A fresh pod's app containers are created while its new sandbox starts (they need its id, not its IP).
    const early = new Map<string, Created>();
    let whileStarting: ((sb: Sandbox) => Promise<void>) | undefined;
    if (toStart.length > 0 && !runningSandbox(containers) && (spec.initContainers?.length ?? 0) === 0 && !containers.some((x) => x.type === 'container')) {
      // One after another in spec order, as the kubelet creates them: the Created events and
      // the engine's containers come in the order of the spec, and the sandbox's start (the
      // longest step) still covers the creates.
      whileStarting = async (sb) => {
        for (const t of toStart) if (!needsPodIP(t.c)) early.set(t.c.name, await this.createFor(pod, sb, t.c, t.attempt, prep));
      };
    }
    if (toStart.length > 0) {
      const got = await this.ensureSandbox(pod, grace, containers, whileStarting);
      if ('problem' in got) {
        sandboxProblem = got.problem;
        for (const t of toStart) waiting.set(t.c.name, got.problem);
        requeueIn(got.retryInMs);
      } else {
        sandbox = got.sandbox;
        step('sandbox');
        // A sandbox made just now must run the init containers first: the next sync does that.
        if (sandbox.created && (spec.initContainers?.length ?? 0) > 0) {
          toStart.splice(0);
          requeueIn(0);
        }
        // A new sandbox means a new network namespace: containers of the old one are useless.
        if (sandbox.created) {
          for (const old of containers.filter((x) => x.type === 'container' && x.state === 'running' && x.sandboxId !== sandbox!.id)) {
            await this.d.runtime.stopContainer(old.id, grace);
            const c = spec.containers.find((s) => s.name === old.containerName);
            if (c && !toStart.some((t) => t.c.name === c.name)) toStart.push({ c, attempt: old.attempt + 1, restart: true });
          }
        }
      }
    }

    if (sandbox) {
      for (const t of toStart) {
        const r = await this.startContainer(pod, sandbox, t.c, t.attempt, prep, early.get(t.c.name));
        if (r.waiting) {
          waiting.set(t.c.name, r.waiting);
          if (r.retryInMs !== undefined) requeueIn(r.retryInMs);
          // A container that ran (and was killed for its postStart hook) counts as a restart for the back-off.
          if (!r.ran) continue;
        }
        if (t.restart) {
          this.backoff.next(`${uid}/${t.c.name}`);
          this.d.metrics.containerRestarts.inc();
        }
      }
      step('containers');
      containers = await this.d.runtime.listContainers({ podUid: uid });
      if (await this.pruneDead(containers, [...(spec.initContainers ?? []), ...spec.containers])) containers = await this.d.runtime.listContainers({ podUid: uid });
    }

    const eph = await syncEphemeralContainers({ ...this.d, nodeIP: this.d.config.nodeIP }, pod, containers, terminal);
    if (eph.changed) containers = await this.d.runtime.listContainers({ podUid: uid });
    if (eph.retryInMs !== undefined) requeueIn(eph.retryInMs);

    // Probe workers first: a container with a readiness (or startup) probe is not ready (started)
    // until that probe has passed. Asked before its worker existed, the prober has no result, which
    // reads as "no probe": the pod flashed Ready, then not ready once the worker began, then ready.
    this.d.prober.sync(key, this.probeTargets(pod, containers));
    // Instances that died since the loop above (or in a pod that has finished) get their message too.
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const [latest] = instancesOf(containers, c.name);
      if (latest?.state === 'exited') await this.rememberTermination(latest, c);
    }
    // Pods that finished keep their containers (for logs) but not their sandbox.
    const status = computePodStatus(base === pod.status ? pod : { ...pod, status: base }, {
      containers,
      waiting,
      terminationMessages: this.termMessages,
      ready: (id) => this.readiness(id),
      started: (id) => this.d.prober.started(id),
      hostIP: this.d.config.nodeIP,
      ...(sandboxProblem ? { sandboxProblem } : {}),
      ...(podFailure ? { podFailure } : {}),
    });
    const ephStatuses = ephemeralContainerStatuses(pod, containers, eph.waiting, this.termMessages);
    if (ephStatuses) status.ephemeralContainerStatuses = ephStatuses;
    if (status.phase === 'Succeeded' || status.phase === 'Failed') {
      const sb = runningSandbox(containers);
      if (sb && !containers.some((x) => x.type === 'container' && x.state === 'running')) await this.d.runtime.stopContainer(sb.id, 0);
    }
    const startedNow = !mem.started && status.containerStatuses?.every((s) => s.state?.running) === true;
    if (startedNow) {
      mem.started = true;
      this.d.metrics.podStarts.inc();
      this.d.metrics.podStartLatency.observe((this.now() - mem.firstSeen) / 1000);
    }
    step('computed');
    const written = await this.d.status.write(pod, status);
    if (startedNow && mem.steps) {
      step('status');
      this.d.log.info({ pod: key, uid, firstSeen: mem.firstSeen, steps: mem.steps }, 'pod started');
      delete mem.steps;
    }
    if (requeue !== undefined) return { requeueAfter: requeue };
    const writtenVersion = written?.metadata.resourceVersion;
    // The listing is the relist's to compare with only when this sync left the pod fully up: one it left half-way
    // (an init container yet to start, a container that died as the sync ended) must still come back to a sync.
    return { ...(fullyUp(spec, status) ? { containers } : {}), ...(writtenVersion ? { writtenVersion } : {}) };
  }

  /**
   * activeDeadlineSeconds, counted from the pod's startTime as the kubelet
   * does: once past, a DeadlineExceeded failure (and its Event); before,
   * a requeue for the moment it passes.
   */
  private deadlineExceeded(pod: Pod, base: PodStatus | undefined, requeueIn: (ms: number) => void): WaitingReason | undefined {
    const seconds = pod.spec?.activeDeadlineSeconds;
    if (seconds === undefined) return undefined;
    const start = Date.parse(base?.startTime ?? '');
    // Not started yet: the clock begins with the first status this agent writes.
    if (!Number.isFinite(start)) {
      requeueIn(seconds * 1000);
      return undefined;
    }
    const left = start + seconds * 1000 - this.now();
    if (left > 0) {
      requeueIn(left);
      return undefined;
    }
    const message = 'Pod was active on the node longer than the specified deadline';
    this.d.recorder.event(pod, 'Warning', 'DeadlineExceeded', message);
    return { reason: 'DeadlineExceeded', message };
  }

  /**
   * One step of initialization in the pod's current sandbox: the first init
   * container that has not completed (a sidecar: not started) is started,
   * restarted after its back-off, or waited for. Initialized once all have
   * completed, or once an app container ran in this sandbox (an app
   * container's restart never reruns them; a new sandbox does).
   */
  private async syncInit(
    pod: Pod,
    containers: ContainerInfo[],
    prep: { sources: PodConfigSources; dirs: Map<string, string>; problem?: WaitingReason; retryInMs?: number },
    grace: number,
    waiting: Map<string, WaitingReason>,
    requeueIn: (ms: number) => void,
    again = true,
  ): Promise<{ initialized: boolean; sandboxProblem?: WaitingReason }> {
    const uid = pod.metadata.uid ?? '';
    const spec = pod.spec ?? { containers: [] };
    const policy = spec.restartPolicy ?? 'Always';
    const sb = runningSandbox(containers);
    const inSandbox = (x: ContainerInfo) => sb !== undefined && x.sandboxId === sb.id;
    const appNames = new Set(spec.containers.map((c) => c.name));
    if (containers.some((x) => x.type === 'container' && appNames.has(x.containerName) && inSandbox(x) && x.state !== 'created' && x.state !== 'unknown')) return { initialized: true };
    for (const c of spec.initContainers ?? []) {
      const all = instancesOf(containers, c.name);
      const latest = all.find(inSandbox);
      if (latest?.state === 'exited' && latest.exitCode === 0 && !isSidecar(c)) continue;
      if (latest?.state === 'running') {
        // A sidecar counts once started (its startup probe passed); a plain init container must finish.
        if (isSidecar(c) && this.d.prober.started(latest.id)) continue;
        return { initialized: false };
      }
      let attempt = all.length > 0 ? all[0]!.attempt + 1 : 0;
      let restart = false;
      if (latest && (latest.state === 'created' || latest.state === 'unknown')) {
        await this.d.runtime.removeContainer(latest.id);
        attempt = latest.attempt;
        restart = attempt > 0;
      } else if (latest?.state === 'exited') {
        await this.rememberTermination(latest, c);
        // restartPolicy Never: a failed init container fails the pod (its status says so).
        if (policy === 'Never' && !isSidecar(c)) return { initialized: false };
        const bkey = `${uid}/${c.name}`;
        const remaining = this.backoff.remaining(bkey, latest.finishedAt ? Date.parse(latest.finishedAt) : this.now());
        if (remaining > 0) {
          const delay = Math.round(this.backoff.delay(bkey) / 1000);
          waiting.set(c.name, { reason: 'CrashLoopBackOff', message: `back-off ${delay}s restarting failed container=${c.name} pod=${podDesc(pod)}` });
          this.d.recorder.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${podDesc(pod)}`);
          requeueIn(remaining);
          return { initialized: false };
        }
        restart = true;
      }
      if (prep.problem) {
        waiting.set(c.name, prep.problem);
        requeueIn(prep.retryInMs ?? this.d.config.backoffInitialMs);
        return { initialized: false };
      }
      const got = await this.ensureSandbox(pod, grace);
      if ('problem' in got) {
        waiting.set(c.name, got.problem);
        requeueIn(got.retryInMs);
        return { initialized: false, sandboxProblem: got.problem };
      }
      if (got.sandbox.id !== sb?.id) {
        // A new sandbox: everything of the old one is stale, and initialization starts over in this one.
        for (const old of containers.filter((x) => x.type === 'container' && x.state === 'running' && x.sandboxId !== got.sandbox.id)) {
          await this.killContainer(pod, old, this.specOf(pod, old.containerName), grace, sb?.ip);
        }
        if (again) return this.syncInit(pod, await this.d.runtime.listContainers({ podUid: uid }), prep, grace, waiting, requeueIn, false);
      }
      const r = await this.startContainer(pod, got.sandbox, c, attempt, prep);
      if (r.waiting) {
        waiting.set(c.name, r.waiting);
        if (r.retryInMs !== undefined) requeueIn(r.retryInMs);
      }
      if ((!r.waiting || r.ran) && restart) {
        this.backoff.next(`${uid}/${c.name}`);
        this.d.metrics.containerRestarts.inc();
      }
      return { initialized: false };
    }
    return { initialized: true };
  }

  /** The spec of a container (app or init) by name. */
  private specOf(pod: Pod, name: string): Container | undefined {
    return pod.spec?.containers.find((c) => c.name === name) ?? pod.spec?.initContainers?.find((c) => c.name === name);
  }

  /**
   * Stops a running instance as the kubelet's killContainer does: its
   * preStop hook first (bounded by the grace period), then SIGTERM with
   * what is left of the grace period (at least 2 s after a hook), then
   * SIGKILL.
   */
  private async killContainer(pod: Pod, info: ContainerInfo, c: Container | undefined, grace: number, podIP: string | undefined): Promise<void> {
    const t0 = this.now();
    const hooked = await this.preStop(pod, info, c, grace, podIP);
    const left = hooked ? Math.max(2, Math.ceil(grace - (this.now() - t0) / 1000)) : grace;
    await this.d.runtime.stopContainer(info.id, left);
  }

  /** Runs a running instance's preStop hook, if it has one; true when one ran. A failure is a FailedPreStopHook Event and the stop goes on. */
  private async preStop(pod: Pod, info: ContainerInfo, c: Container | undefined, grace: number, podIP: string | undefined): Promise<boolean> {
    const handler = c?.lifecycle?.preStop;
    if (!handler || !c || info.state !== 'running' || grace <= 0) return false;
    const r = await this.hook(pod, 'preStop', handler, info.id, c, podIP, grace * 1000);
    if (!r.ok) this.d.recorder.event(pod, 'Warning', 'FailedPreStopHook', r.message);
    return true;
  }

  private hook(pod: Pod, kind: HookKind, handler: LifecycleHandler, id: string, c: Container, podIP: string | undefined, timeoutMs: number) {
    return runHook(this.d.runtime, kind, handler, { containerId: id, podIP: podIP ?? '', container: c, podDesc: podDesc(pod) }, timeoutMs).then((r) => {
      this.d.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: c.name, hook: kind, ok: r.ok }, 'lifecycle hook ran');
      return r;
    });
  }

  /** Why a running instance must be killed now, or undefined to keep it. */
  private killReason(latest: ContainerInfo, c: Container, sandbox: ContainerInfo | undefined, terminal: boolean): { message: string; grace?: number } | undefined {
    if (terminal) return { message: `Stopping container ${c.name}` };
    if (!sandbox || (latest.sandboxId && latest.sandboxId !== sandbox.id)) return { message: `Container ${c.name}'s sandbox is gone, will be restarted` };
    const hash = latest.labels[SPEC_HASH_LABEL];
    if (hash && hash !== containerHash(c)) return { message: `Container ${c.name} definition changed, will be restarted` };
    if (this.d.prober.result(latest.id, 'startup') === 'failure' && this.startupExpired(latest, c)) {
      return { message: `Container ${c.name} failed startup probe, will be restarted`, ...(c.startupProbe?.terminationGracePeriodSeconds !== undefined ? { grace: c.startupProbe.terminationGracePeriodSeconds } : {}) };
    }
    if (this.d.prober.result(latest.id, 'liveness') === 'failure') {
      return { message: `Container ${c.name} failed liveness probe, will be restarted`, ...(c.livenessProbe?.terminationGracePeriodSeconds !== undefined ? { grace: c.livenessProbe.terminationGracePeriodSeconds } : {}) };
    }
    return undefined;
  }

  /** A startup probe counts as failed only once it had its chance (initialDelay + threshold × period). */
  private startupExpired(latest: ContainerInfo, c: Container): boolean {
    const p = c.startupProbe;
    if (!p || !latest.startedAt) return false;
    const budget = ((p.initialDelaySeconds ?? 0) + (p.failureThreshold ?? 3) * (p.periodSeconds ?? 10)) * 1000;
    return this.now() - Date.parse(latest.startedAt) >= budget;
  }

  private readiness(id: string): boolean | undefined {
    const r = this.d.prober.result(id, 'readiness');
    return r === undefined ? undefined : r === 'success';
  }

  private probeTargets(pod: Pod, containers: ContainerInfo[]): ProbeTarget[] {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const sb = runningSandbox(containers);
    const out: ProbeTarget[] = [];
    for (const c of [...(pod.spec?.initContainers ?? []).filter(isSidecar), ...(pod.spec?.containers ?? [])]) {
      if (!c.livenessProbe && !c.readinessProbe && !c.startupProbe) continue;
      const [latest] = instancesOf(containers, c.name);
      if (!latest || latest.state !== 'running' || !sb?.ip) continue;
      out.push({ podKey: key, podIP: sb.ip, containerId: latest.id, container: c, startedAt: latest.startedAt ? Date.parse(latest.startedAt) : this.now() });
    }
    return out;
  }

  private async ensureSandbox(
    pod: Pod,
    grace: number,
    known?: ContainerInfo[],
    whileStarting?: (sb: Sandbox) => Promise<void>,
  ): Promise<{ sandbox: Sandbox } | { problem: WaitingReason; retryInMs: number }> {
    const uid = pod.metadata.uid ?? '';
    // As the kubelet with NetworkReady=false: no sandbox, the pod stays Pending and says why.
    const notReady = this.d.networkNotReady?.();
    if (notReady) {
      const message = `network is not ready: ${notReady}`;
      this.d.recorder.event(pod, 'Warning', 'NetworkNotReady', message);
      return { problem: { reason: 'NetworkNotReady', message }, retryInMs: 5_000 };
    }
    const failed = this.sandboxFailedAt.get(uid);
    if (failed) {
      const remaining = this.sandboxBackoff.remaining(uid, failed.at);
      if (remaining > 0) return { problem: { reason: failed.reason, message: failed.message }, retryInMs: remaining };
    }
    try {
      const { dns, missingClusterDNS } = podDnsConfig(pod, { clusterDNS: this.d.config.clusterDNS, clusterDomain: this.d.config.clusterDomain, host: this.hostDns() });
      const sandbox = await this.d.runtime.ensureSandbox({
        uid,
        namespace: pod.metadata.namespace ?? 'default',
        name: pod.metadata.name ?? '',
        ...podHostnames(pod, this.d.config.clusterDomain ?? 'cluster.local'),
        ports: hostPorts(pod),
        dns,
        terminationGracePeriodSeconds: grace,
        ...sandboxSecurity(pod),
        ...(pod.spec?.hostNetwork ? { hostNetwork: true, hostIP: this.d.config.nodeIP } : {}),
      }, known, whileStarting);
      // The kubelet records an Event per pod for this; once per agent in the log keeps clusters without DNS (benchmarks) cheap.
      if (sandbox.created && missingClusterDNS && !this.warnedNoClusterDNS) {
        this.warnedNoClusterDNS = true;
        this.d.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}` }, 'dnsPolicy ClusterFirst needs --cluster-dns, which is not set: pods get the host\'s resolvers ("Default" policy)');
      }
      this.sandboxFailedAt.delete(uid);
      this.sandboxBackoff.reset(uid);
      return { sandbox };
    } catch (err) {
      if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
      const reason = err.reason === 'HostPortConflict' ? 'HostPortConflict' : 'FailedCreatePodSandBox';
      this.d.recorder.event(pod, 'Warning', reason, `Failed to create pod sandbox: ${err.message}`);
      this.sandboxBackoff.next(uid);
      this.sandboxFailedAt.set(uid, { at: this.now(), reason, message: err.message });
      return { problem: { reason, message: err.message }, retryInMs: this.sandboxBackoff.delay(uid) };
    }
  }

  /**
   * The host's resolver settings (--resolv-conf) for a new sandbox. The file
   * may change, so it is read again once the last reading is a second old:
   * read for every sandbox, it cost a start burst of a thousand pods a
   * thousand reads of the same file.
   */
  private hostDns(): HostDns {
    const file = this.d.config.resolvConf;
    if (!file) return { servers: [], searches: [], options: [] };
    const now = this.now();
    const last = hostDnsReads.get(file);
    if (last && now - last.at < HOST_DNS_REREAD_MS && now >= last.at) return last.dns;
    let dns: HostDns;
    try {
      dns = parseResolvConf(readFileSync(file, 'utf8'));
    } catch {
      dns = { servers: [], searches: [], options: [] };
    }
    hostDnsReads.set(file, { at: now, dns });
    return dns;
  }

  /** Pulls (per policy), creates and starts one container; a waiting reason when it could not. */
  /**
   * Reads the pod's ConfigMaps and Secrets and brings its configMap/secret
   * volume directories up to date. A missing non-optional source of a
   * volume keeps new containers waiting (ContainerCreating, a FailedMount
   * Event), as the kubelet's volume manager does; running ones keep the
   * files they have.
   */
  private async prepareConfig(pod: Pod): Promise<{ sources: PodConfigSources; dirs: Map<string, string>; problem?: WaitingReason; retryInMs?: number }> {
    const dirs = new Map<string, string>();
    const refs = referencedSources(pod);
    if (refs.configMaps.size === 0 && refs.secrets.size === 0) return { sources: NO_SOURCES, dirs };
    const uid = pod.metadata.uid ?? '';
    let sources: PodConfigSources;
    try {
      sources = await fetchSources(this.d.client, pod);
    } catch (err) {
      // Transient (the apiserver's node authorizer may not have seen the binding yet): retry soon.
      const message = `failed to read the pod's ConfigMaps and Secrets: ${errorMessage(err)}`;
      this.d.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: errorMessage(err) }, 'reading config sources failed');
      return { sources: NO_SOURCES, dirs, problem: { reason: 'CreateContainerConfigError', message }, retryInMs: 1000 };
    }
    const known = this.projected.get(uid) ?? new Map<string, string>();
    this.projected.set(uid, known);
    let problem: WaitingReason | undefined;
    for (const v of pod.spec?.volumes ?? []) {
      if (!v.configMap && !v.secret) continue;
      const dir = projectedVolumeDir(this.stateDir, uid, v.configMap ? 'configmap' : 'secret', v.name);
      const result = projectVolume(pod, v, sources);
      if ('missing' in result) {
        const message = `MountVolume.SetUp failed for volume "${v.name}" : ${result.missing}`;
        this.d.recorder.event(pod, 'Warning', 'FailedMount', message);
        // Files written before stay in place for containers already running.
        if (known.has(v.name)) dirs.set(v.name, dir);
        else problem ??= { reason: 'ContainerCreating', message };
        continue;
      }
      const digest = filesDigest(result.files);
      if (known.get(v.name) !== digest) {
        await writeAtomically(dir, result.files);
        known.set(v.name, digest);
      }
      dirs.set(v.name, dir);
    }
    return { sources, dirs, ...(problem ? { problem, retryInMs: this.d.config.relistIntervalMs } : {}) };
  }

  private async startContainer(
    pod: Pod,
    sandbox: Sandbox,
    c: Container,
    attempt: number,
    prep: { sources: PodConfigSources; dirs: Map<string, string> },
    created?: Created,
  ): Promise<{ waiting?: WaitingReason; retryInMs?: number; ran?: boolean }> {
    const made = created ?? (await this.createFor(pod, sandbox, c, attempt, prep));
    if (!('id' in made)) return made;
    return this.runCreated(pod, sandbox, c, made.id);
  }

  /** Pulls (per policy) and creates one container, with its Events; its id, or why it could not. */
  private async createFor(pod: Pod, sandbox: Sandbox, c: Container, attempt: number, prep: { sources: PodConfigSources; dirs: Map<string, string> }): Promise<Created> {
    const uid = pod.metadata.uid ?? '';
    const image = c.image ?? '';
    const ikey = `${uid}/${c.name}`;
    const policy = c.imagePullPolicy ?? 'IfNotPresent';
    const failed = this.imageFailedAt.get(ikey);
    if (failed) {
      const remaining = this.imageBackoff.remaining(ikey, failed.at);
      if (remaining > 0) {
        this.d.recorder.event(pod, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
        return { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}": ${failed.message}` }, retryInMs: remaining };
      }
    }
    try {
      const present = await this.d.runtime.imageExists(image);
      const willPull = policy === 'Always' || (policy === 'IfNotPresent' && !present);
      if (willPull) this.d.recorder.event(pod, 'Normal', 'Pulling', `Pulling image "${image}"`);
      const t0 = this.now();
      // Present and not Always: nothing to pull, and no second look at the engine.
      if (willPull || policy === 'Never') await this.d.runtime.ensureImage(image, policy);
      if (willPull) this.d.recorder.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${this.now() - t0}ms`);
      else this.d.recorder.event(pod, 'Normal', 'Pulled', `Container image "${image}" already present on machine`);
      this.imageFailedAt.delete(ikey);
      this.imageBackoff.reset(ikey);
    } catch (err) {
      if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
      const reason = err.reason === 'ErrImageNeverPull' ? 'ErrImageNeverPull' : 'ErrImagePull';
      this.d.recorder.event(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${err.message}`);
      this.d.recorder.event(pod, 'Warning', 'Failed', `Error: ${reason}`);
      this.imageBackoff.next(ikey);
      this.imageFailedAt.set(ikey, { at: this.now(), message: err.message });
      return { waiting: { reason, message: err.message }, retryInMs: this.imageBackoff.delay(ikey) };
    }
    let id: string;
    try {
      const ns = pod.metadata.namespace ?? 'default';
      const env = resolveEnv(pod, c, sandbox.ip, this.d.config.nodeIP, this.d.services ? podServiceEnv(pod, this.d.services()) : [], prep.sources, (s) =>
        this.d.recorder.event(pod, 'Warning', 'InvalidEnvironmentVariableNames', `Keys [${s.keys.join(', ')}] from the EnvFrom ${s.kind} ${ns}/${s.name} were skipped since they are considered invalid environment variable names.`),
      );
      const mounts = [...mountsOf(pod, c, (name) => prep.dirs.get(name)), await this.terminationLogs.prepare(uid, c, attempt)];
      const security = containerSecurity(pod, c);
      if (runAsNonRoot(pod, c)) verifyRunAsNonRoot(pod, c, security, security.runAsUser === undefined ? await this.d.runtime.imageUser?.(image) : undefined);
      id = await this.d.runtime.createContainer(sandbox, c, {
        attempt,
        env,
        mounts,
        resources: linuxResources(c),
        labels: { [SPEC_HASH_LABEL]: containerHash(c) },
        security,
        pidNamespace: pidNamespace(pod),
        ...(pod.spec?.hostIPC ? { hostIPC: true } : {}),
      });
    } catch (err) {
      if (err instanceof ContainerConfigError) {
        this.d.recorder.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
        // Retried at the relist pace: a ConfigMap or Secret created meanwhile starts the container promptly.
        return { waiting: { reason: 'CreateContainerConfigError', message: err.message }, retryInMs: Math.min(this.d.config.backoffInitialMs, this.d.config.relistIntervalMs) };
      }
      if (isRuntimeError(err, 'AlreadyExists')) return { retryInMs: 0, waiting: { reason: 'ContainerCreating' } };
      if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
      const reason = err.reason === 'ErrImagePull' ? 'ErrImagePull' : 'CreateContainerError';
      this.d.recorder.event(pod, 'Warning', 'Failed', `Error: ${err.message}`);
      return { waiting: { reason, message: err.message }, retryInMs: this.d.config.backoffInitialMs };
    }
    this.d.recorder.event(pod, 'Normal', 'Created', `Created container ${c.name}`);
    return { id };
  }

  /** Starts a created container and runs its postStart hook. */
  private async runCreated(pod: Pod, sandbox: Sandbox, c: Container, id: string): Promise<{ waiting?: WaitingReason; retryInMs?: number; ran?: boolean }> {
    try {
      await this.d.runtime.startContainer(id);
    } catch (err) {
      if (!isRuntimeError(err) || err.reason === 'RuntimeUnavailable') throw err;
      this.d.recorder.event(pod, 'Warning', 'Failed', `Error: failed to start container "${c.name}": ${err.message}`);
      return { waiting: { reason: 'RunContainerError', message: err.message }, retryInMs: this.d.config.backoffInitialMs };
    }
    this.d.recorder.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
    return this.postStart(pod, sandbox, c, id);
  }

  /**
   * The postStart hook, run as the kubelet does: right after the start,
   * before the sync goes on (the container is not reported started until
   * it is done). A failure kills the container (FailedPostStartHook), which
   * the restart policy then treats as any other exit. Bounded, unlike the
   * kubelet's, so one hung hook cannot hold the pod's worker forever.
   */
  private async postStart(pod: Pod, sandbox: Sandbox, c: Container, id: string): Promise<{ waiting?: WaitingReason; retryInMs?: number; ran?: boolean }> {
    const handler = c.lifecycle?.postStart;
    if (!handler) return {};
    const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
    const r = await this.hook(pod, 'postStart', handler, id, c, sandbox.ip, POST_START_TIMEOUT_MS);
    if (r.ok) return {};
    this.d.recorder.event(pod, 'Warning', 'FailedPostStartHook', r.message);
    this.d.recorder.event(pod, 'Normal', 'Killing', `FailedPostStartHook`);
    await this.d.runtime.stopContainer(id, grace);
    // The container's death (an engine event) brings the next sync; the restart policy and back-off decide from there.
    return { waiting: { reason: 'PostStartHookError', message: r.message }, ran: true };
  }

  /** Reads a dead instance's termination message once, per its terminationMessagePolicy. */
  private async rememberTermination(info: ContainerInfo, c: Container | undefined): Promise<void> {
    if (this.termMessages.has(info.id)) return;
    const written = await this.terminationLogs.read(info.podUid, info.containerName, info.attempt);
    const text = await terminationMessage(written, c, info.exitCode ?? 0, () => this.d.runtime.tailOutput(info.id, this.d.config.terminationMessageLines));
    this.termMessages.set(info.id, text);
  }

  /** Keeps only the newest dead instance of each container (for `previous` logs and lastState); true when it removed any. */
  private async pruneDead(containers: ContainerInfo[], spec: Container[]): Promise<boolean> {
    let removed = false;
    for (const c of spec) {
      const [latest, prev, ...older] = instancesOf(containers, c.name);
      const doomed = [...older];
      if (latest && prev && prev.state === 'exited') await this.rememberTermination(prev, c);
      for (const o of doomed) {
        await this.d.runtime.removeContainer(o.id);
        this.termMessages.delete(o.id);
        removed = true;
      }
    }
    // Dead sandboxes are of no use once a newer one runs.
    const sandboxes = containers.filter((x) => x.type === 'sandbox').sort((a, b) => b.attempt - a.attempt);
    for (const s of sandboxes.slice(1)) {
      if (s.state === 'running') continue;
      await this.d.runtime.removeContainer(s.id);
      removed = true;
    }
    return removed;
  }

  /**
   * A pod being deleted: stop its containers with the grace period (SIGTERM,
   * then SIGKILL), remove the sandbox, then delete the pod for good with a
   * uid precondition so a new pod of the same name is never touched.
   */
  async terminate(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    this.terminating.add(uid);
    try {
      this.d.prober.remove(key);
      const containers = await this.d.runtime.listContainers({ podUid: uid });
      const running = containers.filter((c) => c.type === 'container' && c.state === 'running');
      // No host may still send it new connections when it gets SIGTERM, and preStop hooks run first; both
      // begin at once (as in Kubernetes, where endpoint removal and preStop are concurrent) and count against the grace period.
      let stopGrace = grace;
      if (running.length > 0 && grace > 0) {
        const t0 = this.now();
        const podIP = runningSandbox(containers)?.ip;
        for (const c of running) this.d.recorder.event(pod, 'Normal', 'Killing', `Stopping container ${c.containerName}`);
        const [drain, hooks] = await Promise.all([
          waitForEndpointDrain(pod, grace * 1000, { client: this.d.client, now: this.now }),
          Promise.all(running.map((c) => this.preStop(pod, c, this.specOf(pod, c.containerName), grace, podIP))),
        ]);
        const elapsed = (this.now() - t0) / 1000;
        stopGrace = Math.max(hooks.some(Boolean) ? 2 : 1, Math.round(grace - elapsed));
        this.d.log.info({ pod: key, uid, outcome: drain.outcome, waitedMs: drain.waitedMs, revision: drain.last?.revision, waitingFor: drain.last?.waitingFor }, 'endpoint drained from the proxies before stopping');
      } else for (const c of running) this.d.recorder.event(pod, 'Normal', 'Killing', `Stopping container ${c.containerName}`);
      // App containers first, sidecars after them, as Kubernetes stops them.
      const sidecarNames = new Set((pod.spec?.initContainers ?? []).filter(isSidecar).map((c) => c.name));
      await Promise.all(running.filter((c) => !sidecarNames.has(c.containerName)).map((c) => this.d.runtime.stopContainer(c.id, stopGrace)));
      await Promise.all(running.filter((c) => sidecarNames.has(c.containerName)).map((c) => this.d.runtime.stopContainer(c.id, stopGrace)));
      await this.d.runtime.removeSandbox(uid);
      this.forget(uid);
      try {
        await this.pods.delete(pod.metadata.namespace, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid } });
      } catch (err) {
        // Already gone, or a new pod took the name: either way ours is done.
        if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
      }
      this.d.log.info({ pod: key, uid, grace }, 'pod terminated and deleted');
    } finally {
      this.terminating.delete(uid);
    }
  }

  /**
   * Removes the containers of pods that are no longer in the API
   * (`keep(uid)` false), stopping them with their recorded grace period.
   * `listed` is a listing of every container to use instead of a new one;
   * `keep` must then answer from a pod list taken after that listing.
   */
  async removeOrphans(keep: (uid: string) => boolean, opts: { onlyKey?: string; listed?: ContainerInfo[] } = {}): Promise<number> {
    const { onlyKey } = opts;
    const all = opts.listed ?? await this.d.runtime.listContainers();
    const uids = new Map<string, ContainerInfo[]>();
    for (const c of all) {
      if (keep(c.podUid) || this.terminating.has(c.podUid)) continue;
      if (onlyKey && `${c.podNamespace}/${c.podName}` !== onlyKey) continue;
      const list = uids.get(c.podUid) ?? [];
      list.push(c);
      uids.set(c.podUid, list);
    }
    for (const [uid, list] of uids) {
      this.terminating.add(uid);
      try {
        const running = list.filter((c) => c.type === 'container' && c.state === 'running');
        await Promise.all(running.map((c) => this.d.runtime.stopContainer(c.id, c.terminationGracePeriodSeconds ?? 30)));
        await this.d.runtime.removeSandbox(uid);
        this.forget(uid);
        const first = list[0]!;
        this.d.prober.remove(`${first.podNamespace}/${first.podName}`);
        this.d.log.info({ pod: `${first.podNamespace}/${first.podName}`, uid, containers: list.length }, 'removed containers of a pod that no longer exists');
      } finally {
        this.terminating.delete(uid);
      }
    }
    return uids.size;
  }

  /** Drops everything remembered about a pod. */
  forget(uid: string): void {
    void this.terminationLogs.removePod(uid).catch(() => undefined);
    this.memory.delete(uid);
    this.projected.delete(uid);
    this.backoff.resetPrefix(`${uid}/`);
    this.imageBackoff.resetPrefix(`${uid}/`);
    this.sandboxBackoff.reset(uid);
    this.sandboxFailedAt.delete(uid);
    for (const k of this.imageFailedAt.keys()) if (k.startsWith(`${uid}/`)) this.imageFailedAt.delete(k);
    this.d.status.forget(uid);
  }

  /** Periodic housekeeping of in-memory state. */
  gc(liveContainerIds: Set<string>): void {
    this.backoff.gc();
    for (const id of this.termMessages.keys()) if (!liveContainerIds.has(id)) this.termMessages.delete(id);
  }
}

/**
 * The sandbox's hostname and domain, as the kubelet's GeneratePodHostNameAndDomain: `hostname` (the pod name by
 * default), with `subdomain` the domain `<subdomain>.<ns>.svc.<cluster domain>`; setHostnameAsFQDN makes the
 * kernel hostname the FQDN.
 */
function podHostnames(pod: Pod, clusterDomain: string): { hostname: string; domainname?: string } {
  const hostname = pod.spec?.hostname || pod.metadata.name || '';
  if (!pod.spec?.subdomain) return { hostname };
  const domainname = `${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}`;
  return pod.spec.setHostnameAsFQDN ? { hostname: `${hostname}.${domainname}`.slice(0, 64), domainname } : { hostname, domainname };
}

/** The pod-level settings of its sandbox: sysctls, host IPC/PID namespaces, hostAliases. */
function sandboxSecurity(pod: Pod): Pick<PodSandboxConfig, 'sysctls' | 'hostIPC' | 'hostPID' | 'extraHosts'> {
  const out: Pick<PodSandboxConfig, 'sysctls' | 'hostIPC' | 'hostPID' | 'extraHosts'> = {};
  const sysctls = podSysctls(pod);
  if (sysctls) out.sysctls = sysctls;
  if (pod.spec?.hostIPC) out.hostIPC = true;
  if (pod.spec?.hostPID) out.hostPID = true;
  const hosts = (pod.spec?.hostAliases ?? []).flatMap((a) => (a.hostnames ?? []).map((h) => `${h}:${a.ip}`));
  if (hosts.length > 0) out.extraHosts = hosts;
  return out;
}
