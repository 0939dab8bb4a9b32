import { setMaxListeners } from 'node:events';
import type { Logger } from '@flotilla/observability';

/** A component's entry point: runs until `signal` aborts, then cleans up and resolves. */
export type ComponentRun<C> = (config: C, signal: AbortSignal) => Promise<void>;

/**
 * How long a stop may take. A graceful one takes well under a second (the
 * apiserver gives open watches 5 s); one still running after this waits on
 * something that does not answer, and the process exits as if it had
 * crashed, which every component survives: systemd's or a test's stop must
 * not have to escalate to SIGKILL.
 */
export const STOP_TIMEOUT_MS = 15_000;

/**
 * Runs a server component with one AbortController for the whole process:
 * SIGTERM/SIGINT abort it, and the run's own cleanup (listener, watches,
 * etcd client) decides when the process is done. Exit code 0 after a
 * graceful stop, 1 on failure, or when the stop took longer than
 * `stopTimeoutMs`; a second signal forces exit 1.
 */
export async function runComponent<C>(name: string, run: ComponentRun<C>, config: C, log: Logger, stopTimeoutMs = STOP_TIMEOUT_MS): Promise<never> {
  const controller = new AbortController();
  // Every informer, controller, sleep and server of the component listens for the stop: dozens of
  // listeners on this one signal are the design, not a leak (Node warned past 10, in every log).
  setMaxListeners(0, controller.signal);
  let stopTimer: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal: sig }, 'second signal, exiting now');
      process.exit(1);
    }
    log.info({ signal: sig }, `${name} shutting down`);
    controller.abort(new Error(`received ${sig}`));
    stopTimer = setTimeout(() => {
      log.error({ signal: sig, stopTimeoutMs }, `${name} did not stop within ${stopTimeoutMs / 1000} s; exiting`);
      process.exit(1);
    }, stopTimeoutMs).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let code = 0;
  try {
    await run(config, controller.signal);
    log.info(`${name} stopped`);
  } catch (err) {
    code = 1;
    log.fatal({ err }, `${name} failed`);
  }
  clearTimeout(stopTimer);
  // Log lines are written synchronously (createLogger): every one is out by now.
  process.exit(code);
}
