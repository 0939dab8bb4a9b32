import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options of a component logger. */
export interface LoggerOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
}

/**
 * Standard output, written asynchronously: lines logged while a write is
 * under way go out together in the next one. Synchronous writes (pino's
 * default) cost a write(2) per line on the event loop: the apiserver logs
 * every mutating request, three to four lines per pod created, and those
 * writes were 1.5 % of its CPU at 500 pods/s. Nothing is lost when the
 * process exits (process.exit, an uncaught exception, a signal handled by
 * the component): pino flushes what is left synchronously on 'exit'. A
 * SIGKILL loses at most the lines of one write in flight; the kubelet's and
 * kube-apiserver's klog buffers up to 5 s.
 */
let stdout: pino.DestinationStream | undefined;
function standardOutput(): pino.DestinationStream {
  // One for every logger of the process: their lines stay in the order they were logged.
  stdout ??= pino.destination({ dest: 1, sync: false });
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
