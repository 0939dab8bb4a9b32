/**
 * Container lifecycle hooks (`postStart`, `preStop`) as the kubelet runs
 * them: an exec in the container, an HTTP GET to the pod (or a given
 * host), or a sleep. A hook reports success or a message in the kubelet's
 * wording for the FailedPostStartHook / FailedPreStopHook Events.
 */
import type { Container, LifecycleHandler } from '@flotilla/api';
import { httpProbe, resolvePort } from './prober.js';
import type { ContainerRuntime } from './runtime/types.js';

/** Which hook. */
export type HookKind = 'postStart' | 'preStop';

/** The container instance a hook runs for. */
export interface HookTarget {
  containerId: string;
  podIP: string;
  container: Container;
  /** `name_namespace(uid)`, for messages. */
  podDesc: string;
}

/** The outcome of a hook. */
export interface HookResult {
  ok: boolean;
  /** Why it failed, as the Event says it. */
  message: string;
}

/** Runs one hook handler, giving up after `timeoutMs` (a hook that outlives it fails). */
export async function runHook(runtime: ContainerRuntime, kind: HookKind, handler: LifecycleHandler, t: HookTarget, timeoutMs: number): Promise<HookResult> {
  const what = `for Container "${t.container.name}" in Pod "${t.podDesc}"`;
  if (handler.exec) {
    const cmd = handler.exec.command ?? [];
    try {
      const r = await runtime.exec(t.containerId, cmd, timeoutMs);
      if (r.exitCode === 0) return { ok: true, message: '' };
      const why = r.timedOut ? `command '${cmd.join(' ')}' timed out after ${Math.round(timeoutMs / 1000)}s` : `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${r.output.trim().slice(0, 1024)}`;
      return { ok: false, message: `Exec lifecycle hook (${JSON.stringify(cmd)}) ${what} failed - error: ${why}, message: ${JSON.stringify(r.output.trim().slice(0, 1024))}` };
    } catch (err) {
      return { ok: false, message: `Exec lifecycle hook (${JSON.stringify(cmd)}) ${what} failed - error: ${(err as Error).message}, message: ""` };
    }
  }
  if (handler.httpGet) {
    const h = handler.httpGet;
    const path = h.path ?? '/';
    const port = resolvePort(h.port, t.container);
    if (!port) return { ok: false, message: `HTTP lifecycle hook (${path}) ${what} failed - error: unknown port ${h.port}, message: ""` };
    const r = await httpProbe(h.scheme === 'HTTPS' ? 'https' : 'http', h.host || t.podIP, port, path, h.httpHeaders ?? [], timeoutMs);
    return r.ok ? { ok: true, message: '' } : { ok: false, message: `HTTP lifecycle hook (${path}) ${what} failed - error: ${r.message}, message: ""` };
  }
  if (handler.sleep) {
    const ms = Math.min(Math.max(0, handler.sleep.seconds) * 1000, timeoutMs);
    await new Promise((r) => setTimeout(r, ms).unref?.());
    return { ok: true, message: '' };
  }
  return { ok: false, message: `${kind} hook ${what} has no supported handler (exec, httpGet, sleep)` };
}
