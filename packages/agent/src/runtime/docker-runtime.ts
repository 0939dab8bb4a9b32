/**
 * ContainerRuntime on a Docker engine (dockerode). A pod is a pause container
 * on the pod network (the node's podCIDR as a Docker bridge network, or the
 * engine's default bridge when none is configured) that owns the network and IPC
 * namespaces and publishes the hostPorts; app containers join it with
 * `NetworkMode: container:<sandbox>`. The agent heals, so Docker never
 * restarts anything itself.
 */
import { chmod, chown, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { PassThrough, Readable, type Duplex } from 'node:stream';
import Docker from 'dockerode';
import type { PullPolicy } from '@flotilla/api';
import { ensureHairpin, formatCidr, nthAddress, parseCidr } from '@flotilla/network';
import { createLogger, type Logger } from '@flotilla/observability';
import { formatResolvConf } from '../pod-dns.js';
import { DockerDemux, demuxBuffer, splitDockerStream } from './docker-stream.js';
import {
  LABELS,
  PAUSE_IMAGE,
  RuntimeError,
  SANDBOX_CONTAINER_NAME,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSecurity,
  type ContainerSpec,
  type ContainerState,
  type CreateContainerOptions,
  type ExecResult,
  type HostInfo,
  type ListFilter,
  type LogOptions,
  type Mount,
  type PodNetworkInfo,
  type PodSandboxConfig,
  type RuntimeEvent,
  type Sandbox,
  type ContainerUsage,
  type StreamOptions,
  type StreamSession,
} from './types.js';

/** Options of DockerRuntime. */
export interface DockerRuntimeOptions {
  /** `unix:///var/run/docker.sock`, `tcp://host:port`, or a socket path; DOCKER_HOST or the default socket when unset. */
  host?: string;
  /** The agent's state directory; emptyDir volumes live under `<stateDir>/pods/<uid>/volumes`. */
  stateDir: string;
  /** How long a pull may take before it counts as failed (no registry may be reachable). Default 60 s. */
  pullTimeoutMs?: number;
  /** The sandbox image. Default flotilla/pause:1. */
  pauseImage?: string;
  /**
   * The node this runtime works for. Its containers carry the name in a label,
   * and listing and events see only those, so agents sharing one engine never
   * touch (or garbage-collect) each other's pods.
   */
  nodeName?: string;
  /**
   * The Docker network pod sandboxes join (made by ensurePodNetwork from the
   * node's podCIDR). Unset: the engine's default bridge, as when several
   * agents share one engine in tests.
   */
  podNetwork?: string;
  /** Linux bridge device of the pod network. Default `flotilla0`. */
  podBridge?: string;
  logger?: Logger;
}

/** Label on the pod network Docker network. */
const POD_NETWORK_LABEL = 'io.flotilla.network';

/** Largest exec probe output kept, as the kubelet does (10 KiB). */
const MAX_EXEC_OUTPUT = 10 * 1024;
/** json-file logs are capped so a chatty container cannot fill the disk. */
const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } };
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Builds a dockerode client from a Docker host string. */
export function dockerFromHost(host: string | undefined = process.env.DOCKER_HOST): Docker {
  const h = host && host.length > 0 ? host : 'unix:///var/run/docker.sock';
  if (h.startsWith('unix://')) return new Docker({ socketPath: h.slice('unix://'.length) });
  if (h.startsWith('/')) return new Docker({ socketPath: h });
  const url = new URL(h.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' });
}

interface EngineError {
  statusCode?: number;
  json?: { message?: string } | null;
  reason?: string;
  message?: string;
  code?: string;
}

/** The engine's own message of a dockerode error. */
function engineMessage(err: unknown): string {
  const e = err as EngineError;
  const fromJson = e?.json && typeof e.json === 'object' ? e.json.message : undefined;
  return (fromJson ?? e?.message ?? String(err)).trim();
}

function statusOf(err: unknown): number | undefined {
  return (err as EngineError)?.statusCode;
}

/** Maps an engine failure to a RuntimeError: connection errors mean the engine is down. */
function wrap(err: unknown, fallback: RuntimeError['reason'], what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const code = (err as EngineError)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES' || code === 'ECONNRESET') {
    return new RuntimeError('RuntimeUnavailable', `${what}: container engine unreachable: ${engineMessage(err)}`, undefined, { cause: err });
  }
  const status = statusOf(err);
  const reason = status === 404 ? 'NotFound' : fallback;
  return new RuntimeError(reason, `${what}: ${engineMessage(err)}`, status, { cause: err });
}

const isPortConflict = (msg: string) => /port is already allocated|address already in use/i.test(msg);

/** Engine object names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '-');

/** A pod hostname: at most 63 characters, no trailing dot or dash (like the kubelet). */
function podHostname(name: string): string {
  return name.slice(0, 63).replace(/[-.]+$/, '') || 'pod';
}

function time(s: string | undefined): string | undefined {
  if (!s || s === ZERO_TIME || s.startsWith('0001-')) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function stateOf(status: string | undefined): ContainerState {
  switch (status) {
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    case 'exited':
    case 'dead':
    case 'removing':
      return 'exited';
    case 'created':
      return 'created';
    default:
      return 'unknown';
  }
}

function numberLabel(labels: Record<string, string>, key: string): number | undefined {
  const v = labels[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Rebuilds a ContainerInfo from an inspect answer: labels and engine state only. */
export function infoFromInspect(c: Docker.ContainerInspectInfo): ContainerInfo {
  const labels = c.Config?.Labels ?? {};
  const type = labels[LABELS.type] === 'sandbox' ? 'sandbox' : 'container';
  const state = stateOf(c.State?.Status);
  const grace = numberLabel(labels, LABELS.terminationGracePeriodSeconds);
  const info: ContainerInfo = {
    id: c.Id,
    type,
    podUid: labels[LABELS.podUid] ?? '',
    podNamespace: labels[LABELS.podNamespace] ?? '',
    podName: labels[LABELS.podName] ?? '',
    containerName: labels[LABELS.containerName] ?? '',
    attempt: numberLabel(labels, LABELS.attempt) ?? 0,
    state,
    oomKilled: Boolean(c.State?.OOMKilled),
    createdAt: time(c.Created) ?? new Date(0).toISOString(),
    image: c.Config?.Image ?? '',
    imageId: c.Image ?? '',
    labels,
  };
  if (state === 'exited') info.exitCode = c.State?.ExitCode ?? 0;
  if (c.State?.Error) info.error = c.State.Error;
  const started = time(c.State?.StartedAt);
  if (started) info.startedAt = started;
  const finished = time(c.State?.FinishedAt);
  if (finished && state === 'exited') info.finishedAt = finished;
  if (grace !== undefined) info.terminationGracePeriodSeconds = grace;
  if (type === 'container' && labels[LABELS.sandboxId]) info.sandboxId = labels[LABELS.sandboxId];
  if (type === 'sandbox' && state === 'running') {
    // The top-level IPAddress is the default bridge's; newer typings omit it.
    const ns = c.NetworkSettings as (typeof c.NetworkSettings & { IPAddress?: string }) | undefined;
    const ip = ns?.IPAddress || Object.values(ns?.Networks ?? {}).find((n) => n?.IPAddress)?.IPAddress || labels[LABELS.hostNetworkIP];
    if (ip) info.ip = ip;
  }
  return info;
}

/**
 * A container SIGKILLed (exit 137) under a memory limit that the engine does
 * not call OOM-killed: possibly an OOM kill whose report lost a race inside
 * the engine (see DockerRuntime.oomEventSince).
 */
export function mayHideOomKill(c: Docker.ContainerInspectInfo): boolean {
  return c.State?.Status === 'exited' && c.State.ExitCode === 137 && !c.State.OOMKilled && (c.HostConfig?.Memory ?? 0) > 0;
}

/** Runs `fn` over items with at most `limit` calls in flight. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The ContainerRuntime of a real Docker engine. */
export class DockerRuntime implements ContainerRuntime {
  /** The dockerode client, for callers that need the engine directly (tests, node setup). */
  readonly docker: Docker;
  private readonly stateDir: string;
  private readonly pullTimeoutMs: number;
  private readonly pauseImage: string;
  private readonly nodeName: string | undefined;
  private readonly podNetwork: string | undefined;
  private readonly podBridge: string;
  private readonly log: Logger;
  /**
   * Inspect answers by container id, with the engine state the list showed
   * then: a listing reuses one while the list shows the same state and no
   * engine event for it has passed (a container's inspect changes only with
   * its state), so a sync costs one list call, not one inspect per container.
   */
  private readonly inspected = new Map<string, { status: string; info: ContainerInfo }>();
  /** The hairpin pass in flight, and whether another was asked for meanwhile. */
  private hairpin: Promise<void> | undefined;
  private hairpinAgain = false;

  constructor(options: DockerRuntimeOptions) {
    this.docker = dockerFromHost(options.host);
    this.stateDir = options.stateDir;
    this.pullTimeoutMs = options.pullTimeoutMs ?? 60_000;
    this.pauseImage = options.pauseImage ?? PAUSE_IMAGE;
    this.nodeName = options.nodeName;
    this.podNetwork = options.podNetwork;
    this.podBridge = options.podBridge ?? 'flotilla0';
    this.log = options.logger ?? createLogger('agent-runtime');
  }

  /**
   * Makes the pod network exist with exactly `podCIDR`: a bridge network,
   * gateway .1, masquerading off (pods keep their addresses towards other
   * hosts; host-gw routes bring the answers back). Idempotent. A network of
   * that name on another subnet is replaced when no container uses it; a
   * range that overlaps another network of the engine (an old `--bip`) is
   * refused by the engine, and said so.
   */
  async ensurePodNetwork(podCIDR: string, retried = false): Promise<PodNetworkInfo> {
    const name = this.podNetwork;
    if (!name) throw new RuntimeError('InvalidArgument', 'this runtime has no pod network configured (podNetwork)');
    const range = parseCidr(podCIDR);
    if (!range || range.bits > 30) throw new RuntimeError('InvalidArgument', `pod CIDR ${podCIDR} is not an IPv4 range with room for pods`);
    podCIDR = formatCidr(range);
    const gateway = nthAddress(range, 1);
    try {
      const net = (await this.docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
      const subnet = net.IPAM?.Config?.[0]?.Subnet;
      const bridge = net.Options?.['com.docker.network.bridge.name'] ?? `br-${net.Id.slice(0, 12)}`;
      if (subnet === podCIDR) return { name, bridge, subnet, gateway: net.IPAM?.Config?.[0]?.Gateway ?? gateway, created: false };
      const users = Object.keys(net.Containers ?? {});
      if (users.length > 0) {
        throw new RuntimeError('InvalidArgument', `Docker network ${name} has subnet ${subnet}, not the node's podCIDR ${podCIDR}, and ${users.length} container(s) still use it`);
      }
      this.log.warn({ network: name, subnet, podCIDR }, 'pod network has another subnet; replacing it');
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if (err instanceof RuntimeError) throw err;
      if (statusOf(err) !== 404) throw wrap(err, 'RuntimeUnavailable', `inspect network ${name}`);
    }
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: podCIDR, Gateway: gateway }] },
        Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false', 'com.docker.network.bridge.name': this.podBridge },
        Labels: { [POD_NETWORK_LABEL]: 'pod' },
      });
    } catch (err) {
      if (statusOf(err) === 409 && !retried) return this.ensurePodNetwork(podCIDR, true); // a concurrent creator: look once more
      throw wrap(err, 'InvalidArgument', `create pod network ${name} ${podCIDR} (does it overlap the engine's docker0, e.g. an old --bip?)`);
    }
    this.log.info({ network: name, subnet: podCIDR, gateway, bridge: this.podBridge }, 'pod network created');
    return { name, bridge: this.podBridge, subnet: podCIDR, gateway, created: true };
  }

  /** Where a pod's emptyDir volumes live on the host. */
  podVolumesDir(podUid: string): string {
    return join(this.stateDir, 'pods', safe(podUid), 'volumes');
  }

  async ensureSandbox(pod: PodSandboxConfig, known?: ContainerInfo[], whileStarting?: (sandbox: Sandbox) => Promise<void>): Promise<Sandbox> {
    const existing = known ? known.filter((c) => c.type === 'sandbox' && c.podUid === pod.uid) : await this.listContainers({ podUid: pod.uid, type: 'sandbox' });
    const running = existing.filter((s) => s.state === 'running' && s.ip).sort((a, b) => b.attempt - a.attempt)[0];
    if (running) return this.toSandbox(running, false);

    const attempt = existing.length ? Math.max(...existing.map((s) => s.attempt)) + 1 : 0;
    // A dead sandbox's namespace is gone; its containers are useless too.
    for (const old of existing) await this.removeContainer(old.id);

    const labels = this.podLabels(pod.uid, pod.namespace, pod.name, SANDBOX_CONTAINER_NAME, attempt, 'sandbox', pod.terminationGracePeriodSeconds);
    const hostNet = pod.hostNetwork === true;
    if (hostNet) labels[LABELS.hostNetworkIP] = pod.hostIP ?? '127.0.0.1';
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
    for (const p of pod.ports ?? []) {
      if (!p.hostPort) continue;
      const key = `${p.containerPort}/${(p.protocol ?? 'TCP').toLowerCase()}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.hostIP ?? '', HostPort: String(p.hostPort) });
    }
    const name = `flotilla_${SANDBOX_CONTAINER_NAME}_${safe(pod.name)}_${safe(pod.namespace)}_${safe(pod.uid)}_${attempt}`;
    const hostConfig: Docker.HostConfig = {
      // hostNetwork: the host's namespace, where a hostPort is the container's own port (nothing to publish).
      NetworkMode: hostNet ? 'host' : (this.podNetwork ?? 'bridge'),
      IpcMode: pod.hostIPC ? 'host' : 'shareable',
      PortBindings: hostNet ? {} : bindings,
      RestartPolicy: { Name: 'no' },
      LogConfig: LOG_CONFIG,
      Init: false,
    };
    // On the host's network the engine takes no DNS settings; writeResolvConf sets the file itself.
    if (!hostNet && pod.dns?.servers?.length) hostConfig.Dns = pod.dns.servers;
    if (!hostNet && pod.dns?.searches?.length) hostConfig.DnsSearch = pod.dns.searches;
    if (!hostNet && pod.dns?.options?.length) hostConfig.DnsOptions = pod.dns.options;
    if (pod.sysctls) hostConfig.Sysctls = pod.sysctls;
    if (pod.extraHosts?.length) hostConfig.ExtraHosts = pod.extraHosts;
    if (pod.hostPID) hostConfig.PidMode = 'host';

    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name,
        Image: this.pauseImage,
        // A hostNetwork pod has the host's name, as in Kubernetes.
        ...(hostNet ? {} : { Hostname: podHostname(pod.hostname ?? pod.name) }),
        ...(pod.domainname && !hostNet ? { Domainname: pod.domainname } : {}),
        Labels: labels,
        ExposedPorts: hostNet ? {} : exposed,
        HostConfig: hostConfig,
        StopTimeout: 2,
      });
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new RuntimeError('CreateContainerError', `sandbox image ${this.pauseImage} is missing: run scripts/images.sh (${engineMessage(err)})`, 404, { cause: err });
      }
      if (statusOf(err) === 409) throw new RuntimeError('AlreadyExists', `sandbox ${name} already exists: ${engineMessage(err)}`, 409, { cause: err });
      throw wrap(err, 'CreateContainerError', `create sandbox of pod ${pod.namespace}/${pod.name}`);
    }
    // The engine creates app containers joined to a sandbox that is not running yet (they only start once it
    // runs), so the caller's creates overlap the start's network setup instead of following it.
    const alongside = whileStarting?.({
      id: container.id,
      ip: '',
      podUid: pod.uid,
      podNamespace: pod.namespace,
      podName: pod.name,
      attempt,
      created: true,
      ...(pod.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds } : {}),
    }).catch((err: unknown) => this.log.warn({ pod: `${pod.namespace}/${pod.name}`, err: (err as Error)?.message ?? String(err) }, 'work alongside the sandbox start failed'));
    try {
      await container.start();
    } catch (err) {
      await alongside;
      await this.removeContainer(container.id).catch(() => undefined);
      const msg = engineMessage(err);
      if (isPortConflict(msg)) {
        const ports = (pod.ports ?? []).filter((p) => p.hostPort).map((p) => `${p.hostPort}/${p.protocol ?? 'TCP'}`).join(', ');
        throw new RuntimeError('HostPortConflict', `host port ${ports} of pod ${pod.namespace}/${pod.name} is already in use: ${msg}`, statusOf(err), { cause: err });
      }
      throw wrap(err, 'RunContainerError', `start sandbox of pod ${pod.namespace}/${pod.name}`);
    }
    // One inspect serves both the pod IP and where the engine put resolv.conf.
    let raw: Docker.ContainerInspectInfo;
    await alongside;
    try {
      raw = await container.inspect();
    } catch (err) {
      throw wrap(err, 'Unknown', `inspect sandbox of pod ${pod.namespace}/${pod.name}`);
    }
    if (pod.dns) await this.writeResolvConf(raw.ResolvConfPath, pod);
    // A pod reaching itself through its Service comes back in through its own bridge port. Off the start's
    // critical path (it runs `ip`): a Service sends the pod its own traffic only once it is Ready and the
    // proxies have synced, well after this pass.
    if (this.podNetwork && !hostNet) this.hairpinSoon();
    const info = infoFromInspect(raw);
    this.remember(raw, info);
    if (!info.ip) throw new RuntimeError('RunContainerError', `sandbox of pod ${pod.namespace}/${pod.name} has no IP (state ${info.state})`);
    this.log.debug({ pod: `${pod.namespace}/${pod.name}`, id: info.id, ip: info.ip, attempt }, 'sandbox started');
    return this.toSandbox(info, true);
  }

  /**
   * Writes the pod's resolv.conf over the one the engine made for the sandbox,
   * as cri-dockerd does: app containers joining the sandbox's network share
   * that file, and on a user-defined network the engine would otherwise point
   * it at its embedded resolver (127.0.0.11) instead of the cluster DNS.
   * The engine's own file is the fallback when it is not on this machine.
   */
  private async writeResolvConf(path: string | undefined, pod: PodSandboxConfig): Promise<void> {
    try {
      if (path) await writeFile(path, formatResolvConf(pod.dns ?? {}));
    } catch (err) {
      this.log.warn({ pod: `${pod.namespace}/${pod.name}`, path, err: engineMessage(err) }, 'could not write the pod resolv.conf; keeping the engine\'s');
    }
  }

  async createContainer(sandbox: Sandbox, spec: ContainerSpec, options: CreateContainerOptions): Promise<string> {
    if (!spec.image) throw new RuntimeError('InvalidArgument', `container ${spec.name} has no image`);
    const labels = {
      ...(options.labels ?? {}),
      ...this.podLabels(sandbox.podUid, sandbox.podNamespace, sandbox.podName, spec.name, options.attempt, 'container', sandbox.terminationGracePeriodSeconds),
      [LABELS.sandboxId]: sandbox.id,
    };
    const mounts = await this.prepareMounts(sandbox.podUid, options.mounts ?? [], options.security?.fsGroup);
    const r = options.resources ?? {};
    const hostConfig: Docker.HostConfig = {
      NetworkMode: `container:${sandbox.id}`,
      IpcMode: options.hostIPC ? 'host' : `container:${sandbox.id}`,
      Mounts: mounts,
      RestartPolicy: { Name: 'no' },
      LogConfig: LOG_CONFIG,
      Init: false,
    };
    if (r.memoryLimitBytes && r.memoryLimitBytes > 0) {
      hostConfig.Memory = Math.floor(r.memoryLimitBytes);
      // No swap: over the limit means an OOM kill, as in Kubernetes.
      hostConfig.MemorySwap = Math.floor(r.memoryLimitBytes);
    }
    if (r.cpuLimitMillis && r.cpuLimitMillis > 0) hostConfig.NanoCpus = Math.round(r.cpuLimitMillis * 1e6);
    if (r.cpuRequestMillis && r.cpuRequestMillis > 0) hostConfig.CpuShares = Math.max(2, Math.round((r.cpuRequestMillis * 1024) / 1000));

    const name = `flotilla_${safe(spec.name)}_${safe(sandbox.podName)}_${safe(sandbox.podNamespace)}_${safe(sandbox.podUid)}_${options.attempt}`;
    const create: Docker.ContainerCreateOptions = {
      name,
      Image: spec.image,
      Labels: labels,
      Env: (options.env ?? []).map((e) => `${e.name}=${e.value}`),
      ...stdioConfig(spec),
      HostConfig: hostConfig,
    };
    if (options.pidNamespace === 'host') hostConfig.PidMode = 'host';
    else if (options.pidNamespace === 'pod') hostConfig.PidMode = `container:${sandbox.id}`;
    // kubectl debug --target: the ephemeral container sees the target's processes.
    if (options.pidNamespaceOf) hostConfig.PidMode = `container:${options.pidNamespaceOf}`;
    // Kubernetes semantics: command replaces ENTRYPOINT (and drops the image CMD), args replace CMD.
    if (spec.command?.length) create.Entrypoint = spec.command;
    if (spec.args?.length) create.Cmd = spec.args;
    else if (spec.command?.length) create.Cmd = [];
    if (spec.workingDir) create.WorkingDir = spec.workingDir;
    if (sandbox.terminationGracePeriodSeconds !== undefined) create.StopTimeout = sandbox.terminationGracePeriodSeconds;
    if (options.security) await this.applySecurity(create, hostConfig, spec.image, options.security);
    try {
      const c = await this.docker.createContainer(create);
      this.log.debug({ pod: `${sandbox.podNamespace}/${sandbox.podName}`, container: spec.name, id: c.id, attempt: options.attempt }, 'container created');
      return c.id;
    } catch (err) {
      if (statusOf(err) === 409) throw new RuntimeError('AlreadyExists', `container ${name} already exists: ${engineMessage(err)}`, 409, { cause: err });
      if (statusOf(err) === 404 && /image/i.test(engineMessage(err))) {
        throw new RuntimeError('ErrImagePull', `image "${spec.image}" is not present: ${engineMessage(err)}`, 404, { cause: err });
      }
      throw wrap(err, 'CreateContainerError', `create container ${spec.name} of pod ${sandbox.podNamespace}/${sandbox.podName}`);
    }
  }

  /** A resolved securityContext as engine settings: user and groups, capabilities, privileges, read-only rootfs. */
  private async applySecurity(create: Docker.ContainerCreateOptions, hostConfig: Docker.HostConfig, image: string, sec: ContainerSecurity): Promise<void> {
    if (sec.runAsUser !== undefined) create.User = sec.runAsGroup !== undefined ? `${sec.runAsUser}:${sec.runAsGroup}` : String(sec.runAsUser);
    else if (sec.runAsGroup !== undefined) {
      // A group alone keeps the image's user.
      const user = ((await this.imageUser(image)) ?? '').split(':')[0] || '0';
      create.User = `${user}:${sec.runAsGroup}`;
    }
    if (sec.supplementalGroups?.length) hostConfig.GroupAdd = sec.supplementalGroups.map(String);
    if (sec.readOnlyRootFilesystem) hostConfig.ReadonlyRootfs = true;
    if (sec.privileged) hostConfig.Privileged = true;
    if (sec.capAdd?.length) hostConfig.CapAdd = sec.capAdd;
    if (sec.capDrop?.length) hostConfig.CapDrop = sec.capDrop;
    const opts: string[] = [];
    if (sec.noNewPrivileges) opts.push('no-new-privileges');
    if (sec.seccompUnconfined) opts.push('seccomp=unconfined');
    if (opts.length) hostConfig.SecurityOpt = opts;
  }

  async imageUser(image: string): Promise<string | undefined> {
    try {
      const info = await this.docker.getImage(image).inspect();
      return info.Config?.User ?? '';
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw wrap(err, 'Unknown', `inspect image ${image}`);
    }
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return;
      throw wrap(err, 'RunContainerError', `start container ${id.slice(0, 12)}`);
    }
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceSeconds)) });
    } catch (err) {
      const s = statusOf(err);
      if (s === 304 || s === 404) return;
      throw wrap(err, 'Unknown', `stop container ${id.slice(0, 12)}`);
    }
  }

  async removeContainer(id: string): Promise<void> {
    this.inspected.delete(id);
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const s = statusOf(err);
      // 409: a removal is already in progress, which is what we asked for.
      if (s === 404 || (s === 409 && /already in progress/i.test(engineMessage(err)))) return;
      throw wrap(err, 'Unknown', `remove container ${id.slice(0, 12)}`);
    }
  }

  async removeSandbox(podUid: string): Promise<void> {
    const all = await this.listContainers({ podUid });
    // App containers first: removing the sandbox first would leave them without a network namespace.
    const ordered = [...all.filter((c) => c.type === 'container'), ...all.filter((c) => c.type === 'sandbox')];
    for (const c of ordered) await this.removeContainer(c.id);
    await rm(join(this.stateDir, 'pods', safe(podUid)), { recursive: true, force: true });
  }

  async listContainers(filter: ListFilter = {}): Promise<ContainerInfo[]> {
    const label: string[] = [filter.type ? `${LABELS.type}=${filter.type}` : LABELS.type, ...this.nodeFilter()];
    if (filter.podUid) label.push(`${LABELS.podUid}=${filter.podUid}`);
    let summaries: Docker.ContainerInfo[];
    try {
      summaries = await this.docker.listContainers({ all: true, filters: { label } });
    } catch (err) {
      throw wrap(err, 'Unknown', 'list containers');
    }
    const live = new Set(summaries.map((s) => s.Id));
    // Forget containers that are gone (a full listing sees every one of ours).
    if (!filter.podUid && !filter.type) for (const id of this.inspected.keys()) if (!live.has(id)) this.inspected.delete(id);
    const infos = await mapLimit(summaries, 8, async (s) => {
      const cached = this.inspected.get(s.Id);
      if (cached && cached.status === s.State) return cached.info;
      try {
        return await this.inspect(s.Id);
      } catch (err) {
        if (err instanceof RuntimeError && err.reason === 'NotFound') return undefined; // removed meanwhile
        throw err;
      }
    });
    return infos.filter((i): i is ContainerInfo => i !== undefined);
  }

  async inspect(id: string): Promise<ContainerInfo> {
    let raw: Docker.ContainerInspectInfo;
    try {
      raw = await this.docker.getContainer(id).inspect();
    } catch (err) {
      if (statusOf(err) === 404) this.inspected.delete(id);
      throw wrap(err, 'Unknown', `inspect container ${id.slice(0, 12)}`);
    }
    const info = infoFromInspect(raw);
    if (mayHideOomKill(raw)) info.oomKilled = await this.oomEventSince(raw);
    this.remember(raw, info);
    return info;
  }

  /**
   * Whether the engine published an `oom` event for this container since it
   * started. Docker 20.10 records OOMKilled with the exit only when
   * containerd's OOM event arrives before the exit event; the two come from
   * different goroutines of the shim, and under load the OOM event can come
   * second: the container then says OOMKilled=false while the engine still
   * publishes its `oom` event (an agent following events re-syncs the pod on
   * it, and this inspect looks again). Best effort: an engine that cannot
   * answer leaves the flag as the container has it.
   */
  private async oomEventSince(raw: Docker.ContainerInspectInfo): Promise<boolean> {
    const started = Date.parse(raw.State?.StartedAt ?? '');
    const opts = {
      since: Number.isFinite(started) ? Math.floor(started / 1000) : 0,
      until: Math.ceil(Date.now() / 1000) + 1,
      filters: { container: [raw.Id], event: ['oom'] },
      abortSignal: AbortSignal.timeout(5_000),
    };
    try {
      for await (const ev of engineEvents((await this.docker.getEvents(opts as Docker.GetEventsOptions)) as NodeJS.ReadableStream)) if (ev.type === 'oom') return true;
      return false;
    } catch (err) {
      this.log.warn({ container: raw.Id.slice(0, 12), err: (err as Error)?.message ?? String(err) }, 'could not read the engine events to confirm an OOM kill');
      return Boolean(raw.State?.OOMKilled);
    }
  }

  /** Caches an inspect answer under the engine's state word (what a listing shows). */
  private remember(raw: Docker.ContainerInspectInfo, info: ContainerInfo): void {
    const status = raw.State?.Status;
    // A container in transition is inspected again next time.
    if (status === 'running' || status === 'exited' || status === 'created' || status === 'dead') this.inspected.set(raw.Id, { status, info });
    else this.inspected.delete(raw.Id);
  }

  /** Sets hairpin mode on the pod bridge's new ports soon, one pass at a time (a pass sees every port made before it). */
  private hairpinSoon(): void {
    if (this.hairpin) {
      this.hairpinAgain = true;
      return;
    }
    this.hairpin = (async () => {
      do {
        this.hairpinAgain = false;
        await ensureHairpin(this.podBridge).catch((err: unknown) => this.log.warn({ bridge: this.podBridge, err: (err as Error)?.message }, 'could not set hairpin mode'));
      } while (this.hairpinAgain);
      this.hairpin = undefined;
    })();
  }

  /**
   * Docker's event stream for our containers. `since` replays buffered engine
   * events from that time, so a caller can list first and then watch without a gap.
   */
  async *events(signal: AbortSignal, since?: Date): AsyncIterable<RuntimeEvent> {
    const opts: Record<string, unknown> = {
      filters: { type: ['container'], label: [LABELS.type, ...this.nodeFilter()], event: ['start', 'die', 'oom', 'destroy'] },
      abortSignal: signal,
    };
    if (since) opts.since = Math.floor(since.getTime() / 1000);
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.docker.getEvents(opts as Docker.GetEventsOptions)) as NodeJS.ReadableStream;
    } catch (err) {
      if (signal.aborted) return;
      throw wrap(err, 'Unknown', 'subscribe to engine events');
    }
    const onAbort = () => (stream as Readable).destroy?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const ev of engineEvents(stream)) {
        this.inspected.delete(ev.id);
        yield ev;
      }
    } catch (err) {
      if (signal.aborted) return;
      throw wrap(err, 'RuntimeUnavailable', 'engine event stream');
    } finally {
      signal.removeEventListener('abort', onAbort);
      (stream as Readable).destroy?.();
    }
    if (!signal.aborted) throw new RuntimeError('RuntimeUnavailable', 'engine event stream ended');
  }

  async logs(id: string, options: LogOptions = {}): Promise<Readable> {
    const c = this.docker.getContainer(id);
    // A TTY container's log is its raw terminal output, not multiplexed frames.
    const tty = Boolean((await c.inspect().catch(() => undefined))?.Config?.Tty);
    const base: Record<string, unknown> = { stdout: true, stderr: true, timestamps: Boolean(options.timestamps) };
    if (options.tailLines !== undefined) base.tail = Math.max(0, Math.floor(options.tailLines));
    if (options.since) base.since = Math.floor(options.since.getTime() / 1000);
    try {
      if (options.follow) {
        const raw = (await c.logs({ ...base, follow: true, abortSignal: options.signal } as Docker.ContainerLogsOptions & { follow: true })) as Readable;
        const out = tty ? new PassThrough() : new DockerDemux();
        raw.on('error', (e) => (options.signal?.aborted ? out.end() : out.destroy(e)));
        out.on('close', () => raw.destroy());
        return raw.pipe(out);
      }
      const buf = (await c.logs({ ...base, follow: false } as Docker.ContainerLogsOptions & { follow?: false })) as Buffer;
      return Readable.from([tty ? buf : demuxBuffer(buf)]);
    } catch (err) {
      throw wrap(err, 'Unknown', `logs of container ${id.slice(0, 12)}`);
    }
  }

  async tailOutput(id: string, lines: number): Promise<string> {
    const stream = await this.logs(id, { tailLines: lines });
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(Buffer.from(chunk));
    return Buffer.concat(parts).toString('utf8');
  }

  async exec(id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const c = this.docker.getContainer(id);
    let exec: Docker.Exec;
    try {
      exec = await c.exec({ Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
    } catch (err) {
      throw wrap(err, 'RunContainerError', `exec in container ${id.slice(0, 12)}`);
    }
    const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
    const demux = new DockerDemux();
    let output = Buffer.alloc(0);
    demux.on('data', (d: Buffer) => {
      if (output.length < MAX_EXEC_OUTPUT) output = Buffer.concat([output, d]).subarray(0, MAX_EXEC_OUTPUT);
    });
    stream.pipe(demux);
    const finished = new Promise<boolean>((resolve) => {
      demux.on('end', () => resolve(true));
      stream.on('end', () => resolve(true));
      stream.on('close', () => resolve(true));
      stream.on('error', () => resolve(true));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const done = await Promise.race([finished, timeout]);
    clearTimeout(timer);
    if (!done) {
      stream.destroy();
      return { exitCode: null, output: output.toString('utf8'), timedOut: true };
    }
    // The stream can end a moment before the engine records the exit code.
    const deadline = Date.now() + Math.max(1000, timeoutMs);
    for (;;) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
        return { exitCode: info.ExitCode, output: output.toString('utf8'), timedOut: false };
      }
      if (Date.now() > deadline) return { exitCode: null, output: output.toString('utf8'), timedOut: true };
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async execStream(id: string, command: string[], options: StreamOptions): Promise<StreamSession> {
    const c = this.docker.getContainer(id);
    let exec: Docker.Exec;
    try {
      exec = await c.exec({ Cmd: command, AttachStdin: options.stdin, AttachStdout: options.stdout, AttachStderr: options.stderr && !options.tty, Tty: options.tty });
    } catch (err) {
      throw wrap(err, 'RunContainerError', `exec in container ${id.slice(0, 12)}`);
    }
    let socket: Duplex;
    try {
      socket = (await exec.start({ hijack: true, stdin: options.stdin, Tty: options.tty } as Docker.ExecStartOptions)) as unknown as Duplex;
    } catch (err) {
      throw wrap(err, 'RunContainerError', `start exec in container ${id.slice(0, 12)}`);
    }
    const session = this.session(socket, options, (w, h) => (exec.resize({ w, h } as never) as unknown as Promise<unknown>).then(() => undefined));
    return {
      ...session,
      done: session.done.then(async () => {
        // The stream can end a moment before the engine records the exit code.
        const deadline = Date.now() + 5_000;
        for (;;) {
          const info = await exec.inspect().catch(() => undefined);
          if (!info) return null;
          if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
          if (Date.now() > deadline) return null;
          await new Promise((r) => setTimeout(r, 10));
        }
      }),
    };
  }

  async attach(id: string, options: StreamOptions): Promise<StreamSession> {
    const c = this.docker.getContainer(id);
    let socket: Duplex;
    try {
      const info = await c.inspect();
      if (options.stdin && !info.Config.OpenStdin) throw new RuntimeError('InvalidArgument', `container ${id.slice(0, 12)} was not started with stdin open (spec.stdin: true)`);
      options = { ...options, tty: Boolean(info.Config.Tty) };
      socket = (await c.attach({ stream: true, hijack: true, stdin: options.stdin, stdout: options.stdout, stderr: options.stderr, logs: false } as never)) as unknown as Duplex;
    } catch (err) {
      throw wrap(err, 'RunContainerError', `attach to container ${id.slice(0, 12)}`);
    }
    const session = this.session(socket, options, (w, h) => (c.resize({ w, h } as never) as unknown as Promise<unknown>).then(() => undefined));
    return {
      ...session,
      done: session.done.then(async () => {
        const info = await c.inspect().catch(() => undefined);
        return info && !info.State.Running ? info.State.ExitCode : null;
      }),
    };
  }

  /** The streams of a hijacked exec/attach connection: raw with a TTY, demultiplexed without. */
  private session(socket: Duplex, options: StreamOptions, resize: (w: number, h: number) => Promise<void>): StreamSession {
    const stdout = options.stdout ? new PassThrough() : undefined;
    const stderr = options.stderr && !options.tty ? new PassThrough() : undefined;
    // The engine ends the connection when the process exits, and stdin may still be flowing into it then (a
    // terminal's user typing as the shell exits): that write fails with EPIPE. It ends this session ('close'
    // follows), and must not be an unhandled error, which took the whole agent down.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.log.debug({ err: err.message, code: err.code }, 'exec/attach connection to the engine failed');
      socket.destroy();
    });
    if (options.tty) {
      if (stdout) socket.pipe(stdout);
      else socket.resume();
    } else {
      splitDockerStream(socket, stdout, stderr);
    }
    const done = new Promise<void>((resolve) => {
      let left = (stdout ? 1 : 0) + (stderr ? 1 : 0);
      const one = () => {
        if (--left <= 0) resolve();
      };
      stdout?.on('end', one);
      stderr?.on('end', one);
      socket.on('close', () => {
        stdout?.end();
        stderr?.end();
        resolve();
      });
      if (left === 0) socket.on('end', () => resolve());
    });
    // stdin's end() half-closes the connection: the engine closes the process's stdin and keeps sending output.
    let stdin: PassThrough | undefined;
    if (options.stdin) {
      stdin = new PassThrough();
      stdin.pipe(socket);
    }
    return {
      ...(stdin ? { stdin } : {}),
      ...(stdout ? { stdout } : {}),
      ...(stderr ? { stderr } : {}),
      resize: (w, h) => resize(w, h).catch(() => undefined),
      done: done.then(() => null),
      close: () => socket.destroy(),
    };
  }

  async usage(id: string): Promise<ContainerUsage | undefined> {
    // stream=false: the engine samples twice about a second apart and fills precpu_stats, so one call gives a rate.
    const st = (await this.docker.getContainer(id).stats({ stream: false })) as unknown as {
      cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
      precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
      memory_stats?: { usage?: number; stats?: Record<string, number> };
    };
    const cpu = st.cpu_stats;
    const pre = st.precpu_stats;
    if (!cpu?.cpu_usage?.total_usage || !cpu.system_cpu_usage) return undefined;
    const cpuDelta = cpu.cpu_usage.total_usage - (pre?.cpu_usage?.total_usage ?? 0);
    const sysDelta = cpu.system_cpu_usage - (pre?.system_cpu_usage ?? 0);
    const cpuCores = sysDelta > 0 && pre?.system_cpu_usage ? (cpuDelta / sysDelta) * (cpu.online_cpus ?? 1) : 0;
    const mem = st.memory_stats;
    const inactive = mem?.stats?.total_inactive_file ?? mem?.stats?.inactive_file ?? 0;
    return { cpuCores: Math.max(0, cpuCores), memoryBytes: Math.max(0, (mem?.usage ?? 0) - inactive), cpuSecondsTotal: cpu.cpu_usage.total_usage / 1e9 };
  }

  async ensureImage(image: string, pullPolicy: PullPolicy): Promise<void> {
    const present = await this.imageExists(image);
    if (pullPolicy === 'Never') {
      if (!present) throw new RuntimeError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      return;
    }
    if (pullPolicy === 'IfNotPresent' && present) return;
    this.log.info({ image, pullPolicy }, 'pulling image');
    const signal = AbortSignal.timeout(this.pullTimeoutMs);
    try {
      const stream = (await this.docker.pull(image, { abortSignal: signal })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
          if (err) return reject(err);
          const failed = out?.find((o) => o.error || o.errorDetail);
          if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
          resolve();
        });
      });
    } catch (err) {
      const why = signal.aborted ? `timed out after ${this.pullTimeoutMs} ms` : engineMessage(err);
      throw new RuntimeError('ErrImagePull', `Failed to pull image "${image}": ${why}`, statusOf(err), { cause: err });
    }
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw wrap(err, 'Unknown', `inspect image ${image}`);
    }
  }

  async hostInfo(): Promise<HostInfo> {
    try {
      const i = await this.docker.info();
      return {
        cpus: i.NCPU,
        memoryBytes: i.MemTotal,
        os: i.OperatingSystem,
        osType: i.OSType,
        architecture: i.Architecture,
        kernel: i.KernelVersion,
        dockerVersion: i.ServerVersion,
      };
    } catch (err) {
      throw wrap(err, 'RuntimeUnavailable', 'engine info');
    }
  }

  private podLabels(uid: string, namespace: string, name: string, container: string, attempt: number, type: 'sandbox' | 'container', grace?: number): Record<string, string> {
    const labels: Record<string, string> = {
      [LABELS.podUid]: uid,
      [LABELS.podNamespace]: namespace,
      [LABELS.podName]: name,
      [LABELS.containerName]: container,
      [LABELS.attempt]: String(attempt),
      [LABELS.type]: type,
    };
    if (grace !== undefined) labels[LABELS.terminationGracePeriodSeconds] = String(grace);
    if (this.nodeName) labels[LABELS.node] = this.nodeName;
    return labels;
  }

  /** The label filter that limits listing and events to this node's containers. */
  private nodeFilter(): string[] {
    return this.nodeName ? [`${LABELS.node}=${this.nodeName}`] : [];
  }

  private toSandbox(info: ContainerInfo, created: boolean): Sandbox {
    const s: Sandbox = {
      id: info.id,
      ip: info.ip ?? '',
      podUid: info.podUid,
      podNamespace: info.podNamespace,
      podName: info.podName,
      attempt: info.attempt,
      created,
    };
    if (info.terminationGracePeriodSeconds !== undefined) s.terminationGracePeriodSeconds = info.terminationGracePeriodSeconds;
    return s;
  }

  /** Resolves volume sources to host paths, creating emptyDirs and hostPath dirs/files as their types require. */
  private async prepareMounts(podUid: string, mounts: Mount[], fsGroup?: number): Promise<Docker.MountSettings[]> {
    const out: Docker.MountSettings[] = [];
    for (const m of mounts) {
      if (!isAbsolute(m.containerPath)) throw new RuntimeError('InvalidArgument', `mount path ${m.containerPath} of volume ${m.name} must be absolute`);
      let source: string;
      if (m.emptyDir) {
        source = join(this.podVolumesDir(podUid), 'empty-dir', safe(m.name));
        await mkdir(source, { recursive: true });
        // World-writable as Kubernetes makes an emptyDir, so a non-root container can use it; with fsGroup, group-owned and setgid.
        if (fsGroup !== undefined) {
          await chown(source, 0, fsGroup);
          await chmod(source, 0o2777);
        } else await chmod(source, 0o777);
      } else if (m.hostPath) {
        source = m.hostPath.path;
        await this.prepareHostPath(m.name, source, m.hostPath.type ?? '');
      } else {
        throw new RuntimeError('InvalidArgument', `volume ${m.name} has no supported source (emptyDir or hostPath)`);
      }
      if (m.subPath) {
        const sub = normalize(m.subPath);
        if (isAbsolute(sub) || sub.split('/').includes('..')) throw new RuntimeError('InvalidArgument', `subPath ${m.subPath} of volume ${m.name} must be a relative path inside the volume`);
        source = join(source, sub);
        await mkdir(source, { recursive: true });
      }
      out.push({ Type: 'bind', Source: source, Target: m.containerPath, ReadOnly: Boolean(m.readOnly) });
    }
    return out;
  }

  private async prepareHostPath(volume: string, path: string, type: string): Promise<void> {
    const st = await stat(path).catch(() => undefined);
    const fail = (why: string) => new RuntimeError('CreateContainerError', `hostPath volume ${volume}: ${path} ${why}`);
    switch (type) {
      case 'DirectoryOrCreate':
      case '':
        // An unchecked hostPath behaves as Docker's -v does: a missing directory is created.
        if (!st) await mkdir(path, { recursive: true });
        return;
      case 'FileOrCreate':
        if (!st) {
          await mkdir(join(path, '..'), { recursive: true });
          await writeFile(path, '', { flag: 'a' });
        }
        return;
      case 'Directory':
        if (!st?.isDirectory()) throw fail('is not a directory');
        return;
      case 'File':
        if (!st?.isFile()) throw fail('is not a file');
        return;
      case 'Socket':
        if (!st?.isSocket()) throw fail('is not a socket');
        return;
      case 'CharDevice':
        if (!st?.isCharacterDevice()) throw fail('is not a character device');
        return;
      case 'BlockDevice':
        if (!st?.isBlockDevice()) throw fail('is not a block device');
        return;
      default:
        throw new RuntimeError('InvalidArgument', `hostPath volume ${volume}: unsupported type ${type}`);
    }
  }
}

/**
 * The stdio settings of a container from its spec, as `docker run -i -t`
 * makes them: stdin kept open for a later attach (closed again after the
 * first attach with stdinOnce), and a pseudo-terminal.
 */
export function stdioConfig(spec: Pick<ContainerSpec, 'stdin' | 'stdinOnce' | 'tty'>): Pick<Docker.ContainerCreateOptions, 'Tty' | 'OpenStdin' | 'StdinOnce' | 'AttachStdin' | 'AttachStdout' | 'AttachStderr'> {
  const stdin = spec.stdin === true;
  return { Tty: spec.tty === true, OpenStdin: stdin, StdinOnce: stdin && spec.stdinOnce === true, AttachStdin: stdin, AttachStdout: false, AttachStderr: false };
}

/** The events of ours in an engine event stream (one JSON object a line). */
async function* engineEvents(stream: NodeJS.ReadableStream): AsyncGenerator<RuntimeEvent> {
  let buf = '';
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      const ev = line ? parseEvent(line) : undefined;
      if (ev) yield ev;
    }
  }
}

/** Parses one engine event line; undefined for events that are not ours. */
export function parseEvent(line: string): RuntimeEvent | undefined {
  let raw: { Action?: string; status?: string; id?: string; time?: number; timeNano?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } };
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  const action = raw.Action ?? raw.status;
  if (action !== 'start' && action !== 'die' && action !== 'oom' && action !== 'destroy') return undefined;
  const a = raw.Actor?.Attributes ?? {};
  if (!a[LABELS.type]) return undefined;
  const ev: RuntimeEvent = {
    type: action,
    id: raw.Actor?.ID ?? raw.id ?? '',
    podUid: a[LABELS.podUid] ?? '',
    podNamespace: a[LABELS.podNamespace] ?? '',
    podName: a[LABELS.podName] ?? '',
    containerName: a[LABELS.containerName] ?? '',
    containerType: a[LABELS.type] === 'sandbox' ? 'sandbox' : 'container',
    attempt: Number(a[LABELS.attempt] ?? 0) || 0,
    time: raw.timeNano ? Math.floor(raw.timeNano / 1e6) : (raw.time ?? 0) * 1000,
  };
  if (action === 'die' && a.exitCode !== undefined) ev.exitCode = Number(a.exitCode);
  return ev;
}
