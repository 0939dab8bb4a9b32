/**
 * An in-memory ContainerRuntime for unit tests and hollow nodes: containers
 * "run" the moment they start and keep running until told otherwise (stop,
 * `exit()`, a behaviour), and every change is published as a RuntimeEvent the
 * way Docker's event stream would.
 */
import { Readable } from 'node:stream';
import type { PullPolicy } from '@flotilla/api';
import { onAbort } from '@flotilla/client';
import {
  LABELS,
  RuntimeError,
  SANDBOX_CONTAINER_NAME,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type CreateContainerOptions,
  type ExecResult,
  type HostInfo,
  type ListFilter,
  type LogOptions,
  type PodSandboxConfig,
  type RuntimeEvent,
  type Sandbox,
} from './types.js';

/** What a fake container does once started; returned by a behaviour function. */
export interface FakeBehavior {
  /** Exit by itself this long after start (never when unset). */
  exitAfterMs?: number;
  exitCode?: number;
  oomKilled?: boolean;
  /** Written to the container's output at start. */
  output?: string;
}

/** Options of FakeRuntime. */
export interface FakeRuntimeOptions {
  /** Images present from the start; the project's three images by default. */
  images?: string[];
  /** Images a pull can fetch; any other pull fails with ErrImagePull. */
  pullable?: string[];
  /** First three octets of sandbox IPs. Default 10.88.0. */
  ipPrefix?: string;
  host?: Partial<HostInfo>;
  /** Decides what a container does when started. Default: run until stopped. */
  behavior?: (info: ContainerInfo, spec: ContainerSpec, env: Record<string, string>) => FakeBehavior | undefined;
  /** Answers exec calls. Default: exit code 0, no output. */
  execHandler?: (info: ContainerInfo, command: string[]) => { exitCode: number; output?: string };
  /** Exit code of a container stopped by stopContainer. Default 0 (it handled SIGTERM). */
  stopExitCode?: number;
  /** Images' USER, for runAsNonRoot (unlisted images run as root: ''). */
  imageUsers?: Record<string, string>;
  /** Also log exec calls in `calls` (`exec ns/pod container cmd…`), e.g. to check hook order. */
  recordExec?: boolean;
  /**
   * Keep `calls`, and copies of what containers and sandboxes were made
   * with, for tests to assert (default true). A hollow node runs for hours:
   * it keeps no call log (it would grow for ever) and keeps the configs it
   * is handed instead of copying each.
   */
  record?: boolean;
}

interface FakeContainer {
  info: ContainerInfo;
  spec: ContainerSpec;
  env: Record<string, string>;
  ports: Array<{ hostPort: number; protocol: string }>;
  options?: CreateContainerOptions;
  output: string;
  timer?: NodeJS.Timeout;
  listeners: Set<() => void>;
}

/**
 * A private copy of a container's info, as the engine hands out: every field
 * is a primitive but `labels`. structuredClone of the same was 5 % of a hollow
 * node fleet's CPU (the agent lists a pod's containers several times a sync).
 */
function copyInfo(info: ContainerInfo): ContainerInfo {
  return { ...info, labels: { ...info.labels } };
}

/** The in-memory runtime. Test controls: exit(), kill(), write(), addImage(), calls. */
export class FakeRuntime implements ContainerRuntime {
  /** One line per mutating call (`createContainer ns/pod web 0`), for tests to assert the agent's actions. */
  readonly calls: string[] = [];
  /** calls.push, or nothing when not recording. */
  private readonly log: (line: string) => void;
  /** structuredClone, or the value itself when not recording. */
  private readonly copy: <T>(v: T) => T;
  private readonly containers = new Map<string, FakeContainer>();
  /**
   * The same containers by pod uid, in creation order: a pod's sync lists its own containers several
   * times, and filtering every container of the node each time made a hollow node's cost grow with its pods.
   */
  private readonly byPod = new Map<string, Set<FakeContainer>>();
  private readonly sandboxConfigs = new Map<string, PodSandboxConfig>();
  private readonly images: Set<string>;
  private readonly pullable: Set<string>;
  private readonly history: RuntimeEvent[] = [];
  private readonly subscribers = new Set<(e: RuntimeEvent) => void>();
  private nextId = 1;
  private nextIp = 2;
  private readonly opts: FakeRuntimeOptions;

  constructor(options: FakeRuntimeOptions = {}) {
    this.opts = options;
    const record = options.record !== false;
    this.log = record ? (line) => void this.calls.push(line) : () => undefined;
    this.copy = record ? structuredClone : (v) => v;
    this.images = new Set(options.images ?? ['flotilla/pause:1', 'flotilla/busybox:1', 'flotilla/echo:1']);
    this.pullable = new Set(options.pullable ?? []);
  }

  /** Makes an image present, as if built locally. */
  addImage(image: string): void {
    this.images.add(image);
  }

  /** Ends a running container as its process would: with `exitCode`, optionally as an OOM kill. */
  exit(id: string, exitCode: number, opts: { oomKilled?: boolean } = {}): void {
    const c = this.must(id);
    if (c.info.state !== 'running') return;
    if (opts.oomKilled) {
      c.info.oomKilled = true;
      this.emit(c, 'oom');
    }
    this.finish(c, exitCode);
  }

  /** Like `docker kill`: exit code 137. */
  kill(id: string): void {
    this.exit(id, 137);
  }

  /** Appends to a container's output (what logs() returns). */
  write(id: string, text: string): void {
    const c = this.must(id);
    c.output += text;
    for (const l of c.listeners) l();
  }

  /** The config the newest sandbox of a pod was made with (its DNS settings, ports, …). */
  sandboxConfig(podUid: string): PodSandboxConfig | undefined {
    return this.sandboxConfigs.get(podUid);
  }

  /** The options a container was created with (security, namespaces, mounts…). */
  optionsOf(id: string): CreateContainerOptions | undefined {
    return structuredClone(this.must(id).options);
  }

  /** The environment a container was created with. */
  envOf(id: string): Record<string, string> {
    return { ...this.must(id).env };
  }

  /** A snapshot of every container, including non-running ones. */
  all(): ContainerInfo[] {
    return [...this.containers.values()].map((c) => copyInfo(c.info));
  }

  async ensureSandbox(pod: PodSandboxConfig, _known?: ContainerInfo[], whileStarting?: (sandbox: Sandbox) => Promise<void>): Promise<Sandbox> {
    const existing = [...this.podContainers(pod.uid)].filter((c) => c.info.type === 'sandbox');
    const running = existing.find((c) => c.info.state === 'running');
    if (running) return this.toSandbox(running, false);
    const attempt = existing.length ? Math.max(...existing.map((c) => c.info.attempt)) + 1 : 0;
    for (const old of existing) await this.removeContainer(old.info.id);
    const wanted = (pod.ports ?? []).filter((p) => p.hostPort).map((p) => ({ hostPort: p.hostPort, protocol: p.protocol ?? 'TCP' }));
    for (const w of wanted) {
      const clash = [...this.containers.values()].some((c) => c.info.state === 'running' && c.ports.some((p) => p.hostPort === w.hostPort && p.protocol === w.protocol));
      if (clash) throw new RuntimeError('HostPortConflict', `host port ${w.hostPort}/${w.protocol} of pod ${pod.namespace}/${pod.name} is already in use: port is already allocated`);
    }
    const c = this.add('sandbox', pod.uid, pod.namespace, pod.name, SANDBOX_CONTAINER_NAME, attempt, 'flotilla/pause:1', pod.terminationGracePeriodSeconds, {});
    c.ports = wanted;
    this.sandboxConfigs.set(pod.uid, this.copy(pod));
    c.info.ip = pod.hostNetwork ? (pod.hostIP ?? '127.0.0.1') : `${this.opts.ipPrefix ?? '10.88.0'}.${this.nextIp++}`;
    this.log(`ensureSandbox ${pod.namespace}/${pod.name} ${attempt}`);
    // As the Docker runtime: the caller's work alongside the start sees the sandbox without its IP.
    await whileStarting?.({ ...this.toSandbox(c, true), ip: '' }).catch(() => undefined);
    this.begin(c);
    return this.toSandbox(c, true);
  }

  async createContainer(sandbox: Sandbox, spec: ContainerSpec, options: CreateContainerOptions): Promise<string> {
    if (!spec.image) throw new RuntimeError('InvalidArgument', `container ${spec.name} has no image`);
    if (!this.images.has(spec.image)) throw new RuntimeError('ErrImagePull', `image "${spec.image}" is not present: No such image: ${spec.image}`, 404);
    const clash = [...this.podContainers(sandbox.podUid)].find((c) => c.info.containerName === spec.name && c.info.attempt === options.attempt && c.info.type === 'container');
    if (clash) throw new RuntimeError('AlreadyExists', `container ${spec.name} attempt ${options.attempt} of pod ${sandbox.podNamespace}/${sandbox.podName} already exists`, 409);
    const env = Object.fromEntries((options.env ?? []).map((e) => [e.name, e.value]));
    const c = this.add('container', sandbox.podUid, sandbox.podNamespace, sandbox.podName, spec.name, options.attempt, spec.image, sandbox.terminationGracePeriodSeconds, { ...options.labels, [LABELS.sandboxId]: sandbox.id });
    c.info.sandboxId = sandbox.id;
    c.spec = spec;
    c.env = env;
    c.options = this.copy(options);
    this.log(`createContainer ${sandbox.podNamespace}/${sandbox.podName} ${spec.name} ${options.attempt}`);
    return c.info.id;
  }

  async startContainer(id: string): Promise<void> {
    const c = this.must(id);
    if (c.info.state === 'running') return;
    if (c.info.state === 'exited') throw new RuntimeError('RunContainerError', `container ${id} has exited; create a new one`);
    this.log(`startContainer ${c.info.podNamespace}/${c.info.podName} ${c.info.containerName} ${c.info.attempt}`);
    this.begin(c);
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    const c = this.containers.get(id);
    if (!c || c.info.state !== 'running') return;
    this.log(`stopContainer ${c.info.podNamespace}/${c.info.podName} ${c.info.containerName} ${graceSeconds}`);
    this.finish(c, this.opts.stopExitCode ?? 0);
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    this.log(`removeContainer ${c.info.podNamespace}/${c.info.podName} ${c.info.containerName} ${c.info.attempt}`);
    if (c.info.state === 'running') this.finish(c, 137);
    this.containers.delete(id);
    const mine = this.byPod.get(c.info.podUid);
    mine?.delete(c);
    if (mine?.size === 0) this.byPod.delete(c.info.podUid);
    this.emit(c, 'destroy');
  }

  async removeSandbox(podUid: string): Promise<void> {
    const all = [...this.podContainers(podUid)];
    for (const c of all.filter((x) => x.info.type === 'container')) await this.removeContainer(c.info.id);
    for (const c of all.filter((x) => x.info.type === 'sandbox')) await this.removeContainer(c.info.id);
  }

  async listContainers(filter: ListFilter = {}): Promise<ContainerInfo[]> {
    return [...(filter.podUid ? this.podContainers(filter.podUid) : this.containers.values())].filter((c) => !filter.type || c.info.type === filter.type).map((c) => copyInfo(c.info));
  }

  async inspect(id: string): Promise<ContainerInfo> {
    return copyInfo(this.must(id).info);
  }

  async *events(signal: AbortSignal, since?: Date): AsyncIterable<RuntimeEvent> {
    const queue: RuntimeEvent[] = since ? this.history.filter((e) => e.time >= since.getTime()) : [];
    let wake: (() => void) | undefined;
    const sub = (e: RuntimeEvent) => {
      queue.push(e);
      wake?.();
    };
    this.subscribers.add(sub);
    // Through the shared registry: a process of hollow nodes has a thousand of these streams on one signal.
    const forget = onAbort(signal, () => wake?.());
    try {
      while (!signal.aborted) {
        const e = queue.shift();
        if (e) {
          yield e;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.subscribers.delete(sub);
      forget();
    }
  }

  async logs(id: string, options: LogOptions = {}): Promise<Readable> {
    const c = this.must(id);
    const snapshot = tail(c.output, options.tailLines);
    if (!options.follow || c.info.state !== 'running') return Readable.from([Buffer.from(snapshot)]);
    let sent = c.output.length;
    const out = new Readable({ read() {} });
    out.push(snapshot);
    const listener = () => {
      if (c.output.length > sent) {
        out.push(c.output.slice(sent));
        sent = c.output.length;
      }
      if (c.info.state !== 'running') close();
    };
    const close = () => {
      c.listeners.delete(listener);
      out.push(null);
    };
    c.listeners.add(listener);
    options.signal?.addEventListener('abort', close, { once: true });
    return out;
  }

  async tailOutput(id: string, lines: number): Promise<string> {
    return tail(this.must(id).output, lines);
  }

  async exec(id: string, command: string[], _timeoutMs: number): Promise<ExecResult> {
    const c = this.must(id);
    if (c.info.state !== 'running') throw new RuntimeError('RunContainerError', `container ${id} is not running`, 409);
    if (this.opts.recordExec) this.log(`exec ${c.info.podNamespace}/${c.info.podName} ${c.info.containerName} ${command.join(' ')}`);
    const r = this.opts.execHandler?.(copyInfo(c.info), command) ?? { exitCode: 0 };
    return { exitCode: r.exitCode, output: r.output ?? '', timedOut: false };
  }

  async ensureImage(image: string, pullPolicy: PullPolicy): Promise<void> {
    const present = this.images.has(image);
    if (pullPolicy === 'Never') {
      if (!present) throw new RuntimeError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      return;
    }
    if (pullPolicy === 'IfNotPresent' && present) return;
    this.log(`pull ${image}`);
    if (!this.pullable.has(image)) throw new RuntimeError('ErrImagePull', `Failed to pull image "${image}": repository does not exist or no registry is reachable`);
    this.images.add(image);
  }

  async imageExists(image: string): Promise<boolean> {
    return this.images.has(image);
  }

  async imageUser(image: string): Promise<string | undefined> {
    return this.images.has(image) ? (this.opts.imageUsers?.[image] ?? '') : undefined;
  }

  async hostInfo(): Promise<HostInfo> {
    return { cpus: 4, memoryBytes: 8 * 1024 ** 3, os: 'Fake OS', osType: 'linux', architecture: 'x86_64', kernel: 'fake', dockerVersion: 'fake', ...this.opts.host };
  }

  private add(type: 'sandbox' | 'container', uid: string, ns: string, name: string, container: string, attempt: number, image: string, grace: number | undefined, extra: Record<string, string>): FakeContainer {
    const id = `fake${String(this.nextId++).padStart(12, '0')}`;
    const labels: Record<string, string> = {
      ...extra,
      [LABELS.podUid]: uid,
      [LABELS.podNamespace]: ns,
      [LABELS.podName]: name,
      [LABELS.containerName]: container,
      [LABELS.attempt]: String(attempt),
      [LABELS.type]: type,
    };
    if (grace !== undefined) labels[LABELS.terminationGracePeriodSeconds] = String(grace);
    const info: ContainerInfo = {
      id,
      type,
      podUid: uid,
      podNamespace: ns,
      podName: name,
      containerName: container,
      attempt,
      state: 'created',
      oomKilled: false,
      createdAt: new Date().toISOString(),
      image,
      imageId: `sha256:${Buffer.from(image).toString('hex').padEnd(64, '0').slice(0, 64)}`,
      labels,
    };
    if (grace !== undefined) info.terminationGracePeriodSeconds = grace;
    const c: FakeContainer = { info, spec: { name: container, image }, env: {}, ports: [], output: '', listeners: new Set() };
    this.containers.set(id, c);
    let mine = this.byPod.get(uid);
    if (!mine) this.byPod.set(uid, (mine = new Set()));
    mine.add(c);
    return c;
  }

  private podContainers(podUid: string): Iterable<FakeContainer> {
    return this.byPod.get(podUid) ?? [];
  }

  private begin(c: FakeContainer): void {
    c.info.state = 'running';
    c.info.startedAt = new Date().toISOString();
    this.emit(c, 'start');
    if (c.info.type !== 'container') return;
    const b = this.opts.behavior?.(copyInfo(c.info), c.spec, { ...c.env });
    if (b?.output) this.write(c.info.id, b.output);
    if (b?.exitAfterMs !== undefined) {
      c.timer = setTimeout(() => this.exit(c.info.id, b.exitCode ?? 0, b.oomKilled ? { oomKilled: true } : {}), b.exitAfterMs);
      c.timer.unref?.();
    }
  }

  private finish(c: FakeContainer, exitCode: number): void {
    if (c.timer) clearTimeout(c.timer);
    c.info.state = 'exited';
    c.info.exitCode = exitCode;
    c.info.finishedAt = new Date().toISOString();
    delete c.info.ip;
    this.emit(c, 'die', exitCode);
    for (const l of c.listeners) l();
    // A sandbox's death takes its network namespace, and so its containers, with it.
    if (c.info.type === 'sandbox') {
      for (const other of this.containers.values()) {
        if (other.info.podUid === c.info.podUid && other.info.type === 'container' && other.info.state === 'running') this.finish(other, 137);
      }
    }
  }

  private emit(c: FakeContainer, type: RuntimeEvent['type'], exitCode?: number): void {
    const e: RuntimeEvent = {
      type,
      id: c.info.id,
      podUid: c.info.podUid,
      podNamespace: c.info.podNamespace,
      podName: c.info.podName,
      containerName: c.info.containerName,
      containerType: c.info.type,
      attempt: c.info.attempt,
      time: Date.now(),
    };
    if (exitCode !== undefined) e.exitCode = exitCode;
    this.history.push(e);
    if (this.history.length > 1000) this.history.shift();
    for (const s of this.subscribers) s(e);
  }

  private toSandbox(c: FakeContainer, created: boolean): Sandbox {
    const s: Sandbox = { id: c.info.id, ip: c.info.ip ?? '', podUid: c.info.podUid, podNamespace: c.info.podNamespace, podName: c.info.podName, attempt: c.info.attempt, created };
    if (c.info.terminationGracePeriodSeconds !== undefined) s.terminationGracePeriodSeconds = c.info.terminationGracePeriodSeconds;
    return s;
  }

  private must(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`, 404);
    return c;
  }
}

/** The last `lines` lines of `text` (all of it when unset). */
function tail(text: string, lines: number | undefined): string {
  if (lines === undefined) return text;
  if (lines <= 0) return '';
  const parts = text.split('\n');
  const trailing = parts[parts.length - 1] === '' ? parts.pop() : undefined;
  return parts.slice(-lines).join('\n') + (trailing !== undefined ? '\n' : '');
}
