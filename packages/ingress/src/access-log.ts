/**
 * The access log: one JSON line per request on stdout, like the component
 * log (same `component`/`pid` base) but written through a buffered
 * asynchronous destination, so a busy proxy pays one write(2) per ~8 KiB of
 * lines instead of one per request. Lines reach stdout within a second at
 * the latest (a periodic flush) and on shutdown. No redaction: the fields
 * are the proxy's own (no headers, no bodies).
 */
import { pino, type Logger } from 'pino';

/** An access logger and how to flush it. */
export interface AccessLog {
  logger: Logger;
  /** Writes what is buffered (call on shutdown). */
  close(): void;
}

/** Creates the buffered access logger for `component`. */
export function createAccessLog(component: string, fd = 1): AccessLog {
  const dest = pino.destination({ dest: fd, minLength: 8 * 1024, sync: false });
  const logger = pino({ level: 'info', base: { component, pid: process.pid } }, dest);
  const timer = setInterval(() => dest.flush(), 1000);
  timer.unref();
  return {
    logger,
    close() {
      clearInterval(timer);
      try {
        dest.flushSync();
      } catch {
        // nothing buffered, or stdout already closed
      }
    },
  };
}
