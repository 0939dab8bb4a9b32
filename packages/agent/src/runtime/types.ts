/**
 * The container runtime contract of the agent, shaped around pods like the
 * Kubernetes CRI: a pod is a sandbox (a pause container owning the network
 * namespace) plus app containers that join it. Everything the agent needs to
 * rebuild its view after a restart lives in labels on the engine's objects.
 */
import type { Readable } from 'node:stream';
import type { Container, PullPolicy } from '@flotilla/api';

/** Label keys put on every object the runtime creates. */
export const LABELS = {
  podUid: 'io.flotilla.pod.uid',
  podNamespace: 'io.flotilla.pod.namespace',
  podName: 'io.flotilla.pod.name',
  containerName: 'io.flotilla.container.name',
  attempt: 'io.flotilla.container.attempt',
  type: 'io.flotilla.type',
  terminationGracePeriodSeconds: 'io.flotilla.pod.terminationGracePeriodSeconds',
  /** On app containers: the sandbox whose namespaces they joined (stale once that sandbox is replaced). */
  sandboxId: 'io.flotilla.sandbox.id',
  /** The node whose agent owns the container: several agents may share one engine. */
  node: 'io.flotilla.node',
  /** On a hostNetwork sandbox: the node IP, which is the pod IP (the engine reports none). */
  hostNetworkIP: 'io.flotilla.pod.hostNetworkIP',
} as const;

/** The container name label value of a sandbox, as the kubelet spells it. */
export const SANDBOX_CONTAINER_NAME = 'POD';

/** The image of every pod sandbox. */
export const PAUSE_IMAGE = 'flotilla/pause:1';

/** Why a runtime call failed, in kubelet vocabulary where one exists. */
export type RuntimeErrorReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'HostPortConflict'
  | 'ErrImagePull'
  | 'ErrImageNeverPull'
  | 'CreateContainerError'
  | 'RunContainerError'
  | 'RuntimeUnavailable'
  | 'InvalidArgument'
  | 'Unknown';

/** A failed runtime call: a stable reason the agent can report plus the engine's message. */
export class RuntimeError extends Error {
  readonly reason: RuntimeErrorReason;
  /** The engine's HTTP status, when the engine answered. */
  readonly statusCode: number | undefined;

  constructor(reason: RuntimeErrorReason, message: string, statusCode?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RuntimeError';
    this.reason = reason;
    this.statusCode = statusCode;
  }
}

/** True when `err` is a RuntimeError with the given reason. */
export function isRuntimeError(err: unknown, reason?: RuntimeErrorReason): err is RuntimeError {
  return err instanceof RuntimeError && (reason === undefined || err.reason === reason);
}

/** A port of the pod published on the host (only ports with a hostPort). */
export interface PortMapping {
  containerPort: number;
  hostPort: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  /** Host address to bind; all addresses when empty. */
  hostIP?: string;
}

/** DNS settings written into the pod's resolv.conf. */
export interface DnsConfig {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

/** What the runtime needs to know about a pod to build its sandbox. */
export interface PodSandboxConfig {
  uid: string;
  namespace: string;
  name: string;
  /** The pod's hostname; the pod name when unset. */
  hostname?: string;
  ports?: PortMapping[];
  dns?: DnsConfig;
  /** Kept in a label so a restarted agent still knows how long to wait on stop. */
  terminationGracePeriodSeconds?: number;
  /** Namespaced kernel parameters (`securityContext.sysctls`), set on the sandbox. */
  sysctls?: Record<string, string>;
  /** The host's IPC namespace (`hostIPC`) instead of the pod's own. */
  hostIPC?: boolean;
  /** The host's PID namespace (`hostPID`). */
  hostPID?: boolean;
  /** The pod's DNS domain (`<subdomain>.<namespace>.svc.<cluster domain>`), so its FQDN resolves in /etc/hosts. */
  domainname?: string;
  /** Extra /etc/hosts entries (`hostAliases`) as `name:ip`. */
  extraHosts?: string[];
  /** The host's network namespace (`hostNetwork`): the pod IP is `hostIP`, no port mapping. */
  hostNetwork?: boolean;
  /** The node IP, the pod IP of a hostNetwork pod. */
  hostIP?: string;
}

/** The pod network of a node as the runtime made it. */
export interface PodNetworkInfo {
  /** The engine's network name (e.g. `flotilla`). */
  name: string;
  /** The Linux bridge device pods hang off (for forwarding rules). */
  bridge: string;
  /** The node's podCIDR. */
  subnet: string;
  /** The bridge's address, the pods' default gateway. */
  gateway: string;
  /** True when this call created it. */
  created: boolean;
}

/** A running pod sandbox. */
export interface Sandbox {
  /** Engine id of the pause container. */
  id: string;
  /** The pod IP, on the engine's default bridge. */
  ip: string;
  podUid: string;
  podNamespace: string;
  podName: string;
  /** How many sandboxes this pod had before this one. */
  attempt: number;
  /** True when this call made a new sandbox: containers of an older one lost their network and must be recreated. */
  created: boolean;
  terminationGracePeriodSeconds?: number;
}

/** A volume mounted into a container, resolved by the agent from the pod spec. */
export interface Mount {
  /** The pod volume's name (also the emptyDir's directory name). */
  name: string;
  containerPath: string;
  readOnly?: boolean;
  /** A sub-directory of the volume to mount instead of its root. */
  subPath?: string;
  /** Exactly one source. */
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string; type?: string };
}

/** Resolved Linux resources of a container (numbers, not quantities: the agent parses those). */
export interface LinuxResources {
  /** Hard memory limit; the kernel OOM-kills the container above it. */
  memoryLimitBytes?: number;
  /** CPU limit in millicores, enforced by CFS quota. */
  cpuLimitMillis?: number;
  /** CPU request in millicores, used as the relative CPU weight. */
  cpuRequestMillis?: number;
}

/** Per-create settings of an app container that are not in its spec. */
export interface CreateContainerOptions {
  /** 0 for the first instance; +1 per restart. Part of the engine name, so attempts never clash. */
  attempt: number;
  /** The fully resolved environment (literal values and downward API already applied). */
  env?: Array<{ name: string; value: string }>;
  mounts?: Mount[];
  resources?: LinuxResources;
  /** Extra labels, e.g. a hash of the container spec to detect changes. */
  labels?: Record<string, string>;
  /** Join the PID namespace of this container (an ephemeral container's target). */
  pidNamespaceOf?: string;
  /** The resolved securityContext (pod and container levels merged). */
  security?: ContainerSecurity;
  /** Whose PID namespace the container joins: its own (default), the sandbox's (`shareProcessNamespace`) or the host's (`hostPID`). */
  pidNamespace?: 'container' | 'pod' | 'host';
  /** The host's IPC namespace (`hostIPC`) instead of the sandbox's. */
  hostIPC?: boolean;
}

/** A container's effective security settings, as the runtime applies them. */
export interface ContainerSecurity {
  /** Numeric uid; the image's user when unset. */
  runAsUser?: number;
  /** Numeric primary gid; the user's (or 0) when unset. */
  runAsGroup?: number;
  /** Extra groups (supplementalGroups and fsGroup). */
  supplementalGroups?: number[];
  /** Group owner (setgid) of the pod's emptyDir volumes. */
  fsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** `allowPrivilegeEscalation: false`: the no_new_privs bit. */
  noNewPrivileges?: boolean;
  /** seccompProfile Unconfined. */
  seccompUnconfined?: boolean;
}

/** The part of a Kubernetes container the runtime reads. `Container` from @flotilla/api fits. */
export type ContainerSpec = Pick<Container, 'name' | 'image' | 'command' | 'args' | 'workingDir' | 'tty' | 'stdin' | 'stdinOnce'>;

/** Engine-side state of a container. */
export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

/** A container as the runtime sees it, rebuilt from the engine's labels and state alone. */
export interface ContainerInfo {
  id: string;
  type: 'sandbox' | 'container';
  podUid: string;
  podNamespace: string;
  podName: string;
  /** `POD` for a sandbox. */
  containerName: string;
  attempt: number;
  state: ContainerState;
  /** Exit code once exited. */
  exitCode?: number;
  oomKilled: boolean;
  /** The engine's error text when the process could not start. */
  error?: string;
  /** RFC 3339 times; absent when not yet started or finished. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The image reference as the pod named it. */
  image: string;
  /** The engine's image id (`sha256:…`). */
  imageId: string;
  /** The pod IP, for a running sandbox. */
  ip?: string;
  terminationGracePeriodSeconds?: number;
  /** For app containers: the sandbox they joined. */
  sandboxId?: string;
  labels: Record<string, string>;
}

/** Filters of listContainers. */
export interface ListFilter {
  podUid?: string;
  type?: 'sandbox' | 'container';
}

/** A change of a runtime-managed container, as the engine reported it. */
export interface RuntimeEvent {
  type: 'start' | 'die' | 'oom' | 'destroy';
  id: string;
  podUid: string;
  podNamespace: string;
  podName: string;
  containerName: string;
  containerType: 'sandbox' | 'container';
  attempt: number;
  exitCode?: number;
  /** Engine time of the event, in milliseconds since the epoch. */
  time: number;
}

/** Options of logs(). */
export interface LogOptions {
  follow?: boolean;
  /** Only the last N lines. */
  tailLines?: number;
  /** Prefix each line with an RFC 3339 timestamp. */
  timestamps?: boolean;
  /** Only lines after this time. */
  since?: Date;
  /** Ends a follow stream. */
  signal?: AbortSignal;
}

/** The outcome of a command run inside a container. */
export interface ExecResult {
  /** null when the command did not finish within the timeout. */
  exitCode: number | null;
  /** stdout and stderr interleaved, truncated to a few KiB. */
  output: string;
  timedOut: boolean;
}

/** Which streams an interactive exec or attach carries. */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** A pseudo-terminal: stdout and stderr arrive together on stdout, and the size can change. */
  tty: boolean;
}

/** A running interactive exec or attach: the process's streams and its end. */
export interface StreamSession {
  /** The process's stdin (when asked for); end() closes it. */
  stdin?: NodeJS.WritableStream & { end(): unknown; destroyed?: boolean };
  /** stdout (everything, with a TTY); ends when the process closes it. */
  stdout?: Readable;
  /** stderr (never with a TTY). */
  stderr?: Readable;
  /** Sets the TTY size. */
  resize(width: number, height: number): Promise<void>;
  /** Resolves once the output has ended, with the exit code (null when the engine cannot tell). */
  done: Promise<number | null>;
  /** Drops the connection to the process (the client went away). */
  close(): void;
}

/** Resource usage of a container over the engine's last sampling window. */
export interface ContainerUsage {
  /** CPU in cores (1.0 = one core busy). */
  cpuCores: number;
  /** Working set: memory in use minus inactive file cache, in bytes. */
  memoryBytes: number;
  /** CPU time used since the container started, in seconds (cAdvisor's container_cpu_usage_seconds_total). */
  cpuSecondsTotal?: number;
}

/** Facts about the host the engine runs on, for Node capacity and nodeInfo. */
export interface HostInfo {
  cpus: number;
  memoryBytes: number;
  os: string;
  osType: string;
  architecture: string;
  kernel: string;
  dockerVersion: string;
}

/**
 * What the agent uses to run pods. A real implementation drives Docker; a fake
 * keeps everything in memory. Stop and remove are idempotent: a missing
 * container is not an error there.
 */
export interface ContainerRuntime {
  /**
   * Returns the pod's running sandbox, creating (and starting) a new one when none runs.
   * `known`: the pod's containers as the caller listed them just now, so the runtime need not list them again.
   * `whileStarting`: work to overlap with a new sandbox's start (creating its app containers), given the
   * sandbox without its IP; awaited before this returns or throws. A runtime may not call it.
   */
  ensureSandbox(pod: PodSandboxConfig, known?: ContainerInfo[], whileStarting?: (sandbox: Sandbox) => Promise<void>): Promise<Sandbox>;
  /** Creates (does not start) an app container inside the sandbox's network namespace; returns its id. */
  createContainer(sandbox: Sandbox, spec: ContainerSpec, options: CreateContainerOptions): Promise<string>;
  /** Starts a created container. */
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceSeconds`. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  /** Removes a container (killing it if still running). */
  removeContainer(id: string): Promise<void>;
  /** Removes every container of the pod, the sandbox last, and the pod's emptyDir volumes. */
  removeSandbox(podUid: string): Promise<void>;
  /** Every runtime-managed container, optionally of one pod. */
  listContainers(filter?: ListFilter): Promise<ContainerInfo[]>;
  /** One container; RuntimeError NotFound when absent. */
  inspect(id: string): Promise<ContainerInfo>;
  /**
   * Live changes of runtime-managed containers until `signal` aborts; throws if the
   * stream breaks. `since` replays from that time, so list-then-watch has no gap.
   */
  events(signal: AbortSignal, since?: Date): AsyncIterable<RuntimeEvent>;
  /** stdout and stderr of a container (running or exited), interleaved. */
  logs(id: string, options?: LogOptions): Promise<Readable>;
  /** The last `lines` lines of a container's output, e.g. for a termination message. */
  tailOutput(id: string, lines: number): Promise<string>;
  /** Runs a command in a running container (exec probes). */
  exec(id: string, command: string[], timeoutMs: number): Promise<ExecResult>;
  /** Starts a command in a running container with its streams attached (kubectl exec); RuntimeError NotFound / RunContainerError. */
  execStream?(id: string, command: string[], options: StreamOptions): Promise<StreamSession>;
  /** Attaches to a running container's main process (kubectl attach). */
  attach?(id: string, options: StreamOptions): Promise<StreamSession>;
  /** CPU and memory use of a running container (kubectl top); undefined when the engine has no numbers. */
  usage?(id: string): Promise<ContainerUsage | undefined>;
  /** Makes the image present according to the pull policy; RuntimeError ErrImagePull / ErrImageNeverPull otherwise. */
  ensureImage(image: string, pullPolicy: PullPolicy): Promise<void>;
  /** Whether the engine has the image locally. */
  imageExists(image: string): Promise<boolean>;
  /** The user an image runs as (its `USER`; '' for root by default), for runAsNonRoot; undefined when the engine cannot tell. */
  imageUser?(image: string): Promise<string | undefined>;
  /** CPU, memory and versions of the host. */
  hostInfo(): Promise<HostInfo>;
  /** Makes the node's pod network exist with this range (runtimes that manage one; see DockerRuntime). */
  ensurePodNetwork?(podCIDR: string): Promise<PodNetworkInfo>;
}
