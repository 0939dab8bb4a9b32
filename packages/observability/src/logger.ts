import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options of a component logger. */
export interface LoggerOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
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
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}
