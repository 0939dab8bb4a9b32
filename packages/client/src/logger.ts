/** The logging surface the client machinery needs; a pino Logger satisfies it. */

/** One log method: pino style, an object of fields first, then the message. */
export type LogFn = (fields: object, msg?: string) => void;

/** A structured logger (pino-compatible subset). */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** A logger that drops everything: the default when none is passed. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
