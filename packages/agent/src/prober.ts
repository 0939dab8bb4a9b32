/**
 * Liveness, readiness and startup probes: one timer-driven worker per
 * running container instance and probe kind. A worker turns probe outcomes
 * into a result with Kubernetes' thresholds and tells the agent when the
 * result changes, so the pod is re-synced (liveness failure → restart,
 * readiness → Ready). Liveness and readiness wait for the startup probe.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Container, Probe } from '@flotilla/api';
import { grpcProbe } from './grpc-probe.js';
import type { ContainerRuntime } from './runtime/types.js';

/** The three probe kinds. */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';

/** What a probe currently says. */
export type ProbeResultValue = 'success' | 'failure';

/** One probe outcome. */
export interface ProbeOutcome {
  ok: boolean;
  /** Why it failed, as the Unhealthy event says it. */
  message: string;
}

/** A running container instance the manager probes. */
export interface ProbeTarget {
  podKey: string;
  podIP: string;
  containerId: string;
  container: Container;
  /** When the instance started (ms since the epoch). */
  startedAt: number;
}

/** Runs one probe once; replaceable (hollow nodes answer without a network). */
export type ProbeRunner = (kind: ProbeKind, probe: Probe, target: ProbeTarget) => Promise<ProbeOutcome>;

/** The kubelet's probe defaults. */
export function probeDefaults(p: Probe): Required<Pick<Probe, 'initialDelaySeconds' | 'periodSeconds' | 'timeoutSeconds' | 'successThreshold' | 'failureThreshold'>> {
  return {
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: Math.max(1, p.periodSeconds ?? 10),
    timeoutSeconds: Math.max(1, p.timeoutSeconds ?? 1),
    successThreshold: Math.max(1, p.successThreshold ?? 1),
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
  };
}

/**
 * The result state machine of one probe: consecutive successes or failures
 * must reach the thresholds before the result flips. Liveness starts as
 * success, readiness and startup as failure, as in Kubernetes.
 */
export class ProbeState {
  result: ProbeResultValue;
  private successes = 0;
  private failures = 0;

  constructor(
    readonly kind: ProbeKind,
    private readonly successThreshold: number,
    private readonly failureThreshold: number,
  ) {
    this.result = kind === 'liveness' ? 'success' : 'failure';
  }

  /** Records an outcome; true when the result changed. */
  record(ok: boolean): boolean {
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (this.result !== 'success' && this.successes >= this.successThreshold) {
        this.result = 'success';
        return true;
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.result !== 'failure' && this.failures >= this.failureThreshold) {
        this.result = 'failure';
        // Counting starts over so a still-failing container is reported once per threshold.
        this.failures = 0;
        return true;
      }
      if (this.result === 'failure' && this.kind !== 'readiness' && this.failures >= this.failureThreshold) {
        this.failures = 0;
        return true;
      }
    }
    return false;
  }
}

/** Options of a ProbeManager. */
export interface ProbeManagerOptions {
  runtime: ContainerRuntime;
  /** A result changed: re-sync the pod. */
  onChange: (podKey: string, kind: ProbeKind, containerId: string) => void;
  /** A probe attempt failed (for the Unhealthy event). */
  onFailure?: (target: ProbeTarget, kind: ProbeKind, message: string) => void;
  runner?: ProbeRunner;
}

interface Worker {
  state: ProbeState;
  probe: Probe;
  target: ProbeTarget;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

const KINDS: ProbeKind[] = ['startup', 'liveness', 'readiness'];

/** Keeps one worker per (container instance, probe kind). */
export class ProbeManager {
  private readonly workers = new Map<string, Worker>();
  private readonly byPod = new Map<string, Set<string>>();
  private readonly runner: ProbeRunner;

  constructor(private readonly opts: ProbeManagerOptions) {
    this.runner = opts.runner ?? defaultRunner(opts.runtime);
  }

  /** Makes the workers of a pod match its running containers: new instances get workers, gone ones lose them. */
  sync(podKey: string, targets: ProbeTarget[]): void {
    const want = new Set<string>();
    for (const t of targets) {
      for (const kind of KINDS) {
        const probe = probeOf(t.container, kind);
        if (!probe) continue;
        const key = `${t.containerId}/${kind}`;
        want.add(key);
        if (!this.workers.has(key)) this.start(key, kind, probe, t);
      }
    }
    const have = this.byPod.get(podKey) ?? new Set<string>();
    for (const key of have) if (!want.has(key)) this.stopWorker(key);
    if (want.size) this.byPod.set(podKey, want);
    else this.byPod.delete(podKey);
  }

  /** Stops every worker of a pod. */
  remove(podKey: string): void {
    this.sync(podKey, []);
  }

  /**
   * The current result of a container instance's probe; undefined when the
   * container has no such probe (callers apply Kubernetes' meaning of "none").
   */
  result(containerId: string, kind: ProbeKind): ProbeResultValue | undefined {
    return this.workers.get(`${containerId}/${kind}`)?.state.result;
  }

  /** True when the instance has started as far as probes are concerned (no startup probe, or it succeeded). */
  started(containerId: string): boolean {
    const s = this.result(containerId, 'startup');
    return s === undefined || s === 'success';
  }

  /** Stops everything. */
  stop(): void {
    for (const key of [...this.workers.keys()]) this.stopWorker(key);
    this.byPod.clear();
  }

  /** Number of live workers (metrics, tests). */
  size(): number {
    return this.workers.size;
  }

  private start(key: string, kind: ProbeKind, probe: Probe, target: ProbeTarget): void {
    const d = probeDefaults(probe);
    const w: Worker = { state: new ProbeState(kind, kind === 'readiness' ? d.successThreshold : 1, d.failureThreshold), probe, target, stopped: false };
    this.workers.set(key, w);
    const firstAt = target.startedAt + d.initialDelaySeconds * 1000;
    this.schedule(w, Math.max(0, firstAt - Date.now()));
  }

  private schedule(w: Worker, ms: number): void {
    if (w.stopped) return;
    w.timer = setTimeout(() => void this.tick(w), ms);
    w.timer.unref?.();
  }

  private async tick(w: Worker): Promise<void> {
    if (w.stopped) return;
    const d = probeDefaults(w.probe);
    const kind = w.state.kind;
    // Liveness and readiness only begin once the startup probe has succeeded.
    if (kind !== 'startup' && !this.started(w.target.containerId)) return this.schedule(w, d.periodSeconds * 1000);
    // A startup probe that succeeded is done.
    if (kind === 'startup' && w.state.result === 'success') return;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.runner(kind, w.probe, w.target);
    } catch (err) {
      outcome = { ok: false, message: (err as Error)?.message ?? String(err) };
    }
    if (w.stopped) return;
    if (!outcome.ok) this.opts.onFailure?.(w.target, kind, outcome.message);
    if (w.state.record(outcome.ok)) this.opts.onChange(w.target.podKey, kind, w.target.containerId);
    this.schedule(w, d.periodSeconds * 1000);
  }

  private stopWorker(key: string): void {
    const w = this.workers.get(key);
    if (!w) return;
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    this.workers.delete(key);
  }
}

/** The probe of a kind on a container. */
export function probeOf(c: Container, kind: ProbeKind): Probe | undefined {
  return kind === 'liveness' ? c.livenessProbe : kind === 'readiness' ? c.readinessProbe : c.startupProbe;
}

/** Resolves a probe port: a number, or the name of one of the container's ports. */
export function resolvePort(port: number | string, c: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** Runs probes for real: HTTP GET to the pod IP, a TCP connect, or exec in the container. */
export function defaultRunner(runtime: ContainerRuntime): ProbeRunner {
  return async (kind, probe, target) => {
    const timeoutMs = probeDefaults(probe).timeoutSeconds * 1000;
    if (probe.exec) {
      const cmd = probe.exec.command ?? [];
      const r = await runtime.exec(target.containerId, cmd, timeoutMs);
      if (r.timedOut) return { ok: false, message: `command ${JSON.stringify(cmd.join(' '))} timed out` };
      if (r.exitCode === 0) return { ok: true, message: '' };
      return { ok: false, message: `command ${JSON.stringify(cmd.join(' '))} exited with ${r.exitCode}: ${r.output.trim().slice(0, 1024)}` };
    }
    if (probe.httpGet) {
      const port = resolvePort(probe.httpGet.port, target.container);
      if (!port) return { ok: false, message: `unknown port ${probe.httpGet.port}` };
      return httpProbe(probe.httpGet.scheme === 'HTTPS' ? 'https' : 'http', probe.httpGet.host || target.podIP, port, probe.httpGet.path ?? '/', probe.httpGet.httpHeaders ?? [], timeoutMs);
    }
    if (probe.tcpSocket) {
      const port = resolvePort(probe.tcpSocket.port, target.container);
      if (!port) return { ok: false, message: `unknown port ${probe.tcpSocket.port}` };
      return tcpProbe(probe.tcpSocket.host || target.podIP, port, timeoutMs);
    }
    if (probe.grpc) return grpcProbe(target.podIP, probe.grpc.port, probe.grpc.service ?? '', timeoutMs);
    return { ok: false, message: `${kind} probe has no supported handler (exec, httpGet, tcpSocket, grpc)` };
  };
}

/** One HTTP GET as a probe (or lifecycle hook) makes it: 2xx and 3xx are success. */
export function httpProbe(scheme: 'http' | 'https', host: string, port: number, path: string, headers: Array<{ name: string; value: string }>, timeoutMs: number): Promise<ProbeOutcome> {
  const url = `${scheme}://${host}:${port}${path.startsWith('/') ? path : `/${path}`}`;
  return new Promise((resolve) => {
    const h: Record<string, string> = { 'user-agent': 'kube-probe/1.32', accept: '*/*' };
    for (const x of headers) h[x.name.toLowerCase()] = x.value;
    const req = (scheme === 'https' ? httpsRequest : httpRequest)(url, { method: 'GET', headers: h, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      if (code >= 200 && code < 400) resolve({ ok: true, message: '' });
      else resolve({ ok: false, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
    req.on('error', (err) => resolve({ ok: false, message: err.message.startsWith('Get "') ? err.message : `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: ProbeOutcome) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    sock.once('connect', () => done({ ok: true, message: '' }));
    sock.once('error', (err) => done({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}
