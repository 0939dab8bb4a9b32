import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options of a component logger. */
export interface LoggerOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
}

/**
 * Standard output, one for every logger of the process, written
 * synchronously. pino's default is a destination of its own per logger,
 * written asynchronously: lines of two loggers (a component's and its
 * store's) could leave out of order, and the lines of all but one were lost
 * at process.exit. Worse, when nobody reads standard output any more (the
 * parent is gone, the pipe closed), pino's flush at exit retries the failed
 * write forever (sonic-boom's flushSync sleeps and retries on any error, not
 * only EAGAIN): an agent outlived its test run that way, deaf to SIGTERM.
 * Synchronous writes cost a write(2) per line (about three per pod created
 * in the apiserver's request log) and have none of these problems: a write
 * to a closed pipe fails once and logging stops.
 */
let stdout: pino.DestinationStream | undefined;
function standardOutput(): pino.DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: true });
  return stdout;
}

/**
 * A pino JSON logger for one component. Bearer tokens and private keys are
 * redacted wherever they appear under these keys, so secrets never reach a log.
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.FLOTILLA_LOG_LEVEL ?? 'info';
  const opts = {
    level,
    base: { component, pid: process.pid },
    redact: {
      // Not `key`: every line carries the object key (`ns/name`) under that name.
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'privateKey', '*.privateKey', 'password', '*.password'],
      censor: '[redacted]',
    },
  };
  return pino(opts, (options.destination as pino.DestinationStream | undefined) ?? standardOutput());
}
