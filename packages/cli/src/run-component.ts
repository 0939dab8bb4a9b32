import type { Logger } from '@flotilla/observability';

/** A component's entry point: runs until `signal` aborts, then cleans up and resolves. */
export type ComponentRun<C> = (config: C, signal: AbortSignal) => Promise<void>;

/**
 * Runs a server component with one AbortController for the whole process:
 * SIGTERM/SIGINT abort it, and the run's own cleanup (listener, watches,
 * etcd client) decides when the process is done. Exit code 0 after a
 * graceful stop, 1 on failure; a second signal forces exit 1.
 */
export async function runComponent<C>(name: string, run: ComponentRun<C>, config: C, log: Logger): Promise<never> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal: sig }, 'second signal, exiting now');
      process.exit(1);
    }
    log.info({ signal: sig }, `${name} shutting down`);
    controller.abort(new Error(`received ${sig}`));
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
  // pino writes to stdout asynchronously; let the last lines out before exiting.
  await new Promise((r) => setImmediate(r));
  process.exit(code);
}
