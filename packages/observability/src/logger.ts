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

/** Keys whose values never reach a log. Not `key`: every line carries the object key (`ns/name`) under that name. */
const SECRET_KEYS = new Set(['token', 'authorization', 'privateKey', 'password']);
const CENSOR = '[redacted]';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `obj` with the values of its secret keys censored (a copy), or `obj` itself when it has none. */
function censorKeys(obj: Record<string, unknown>, deeper?: (k: string, v: Record<string, unknown>) => Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k in obj) {
    const v = obj[k];
    let now = v;
    if (SECRET_KEYS.has(k)) now = CENSOR;
    else if (deeper && isPlainObject(v)) now = deeper(k, v);
    if (now !== v) (out ??= { ...obj })[k] = now;
  }
  return out ?? obj;
}

/**
 * A log line's fields with every secret censored: under a secret key at the
 * top or one level down (`token`, `*.token`, ... `headers.authorization`),
 * and `req.headers.authorization`. Only plain objects are looked into. It
 * replaces pino's `redact` (fast-redact), which cost 17 us of a line's
 * 21 us with these wildcard paths: one log line per pod started was 5 % of
 * the hollow fleet's CPU.
 */
function censorSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  return censorKeys(obj, censorOneDown);
}

/** A field's own object: its secret keys, and a request's headers. */
function censorOneDown(k: string, v: Record<string, unknown>): Record<string, unknown> {
  return censorKeys(v, k === 'req' ? censorHeaders : undefined);
}

function censorHeaders(k: string, v: Record<string, unknown>): Record<string, unknown> {
  return k === 'headers' ? censorKeys(v) : v;
}

/**
 * A pino JSON logger for one component. Bearer tokens, passwords and private
 * keys are censored wherever they appear under these keys (see
 * censorSecrets), in a line's fields and in a child logger's bindings, so
 * secrets never reach a log.
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.FLOTILLA_LOG_LEVEL ?? 'info';
  const opts: pino.LoggerOptions = {
    level,
    base: { component, pid: process.pid },
    formatters: { log: censorSecrets, bindings: censorSecrets },
  };
  const root = pino(opts, (options.destination as pino.DestinationStream | undefined) ?? standardOutput());
  // pino gives a child's bindings no formatter of its own: censor them on the way in. Children (and
  // theirs) are made from their parent's prototype chain, so this one method serves them all.
  const child = root.child as unknown as (this: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions) => Logger;
  root.child = function (this: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions) {
    return child.call(this, censorSecrets(bindings), childOptions);
  } as unknown as typeof root.child;
  return root;
}
