/**
 * The access log: one JSON line per request on stdout, in the component
 * log's shape (`level`, `time`, `component`, `pid`, then the fields,
 * `msg: "access"`), built by hand and written in batches.
 *
 * Why not pino: with its object serialisation and sonic-boom's buffer
 * (which measures its whole pending string on every line) the access log
 * was the largest piece of JS time per proxied request. Here a line is one
 * template string, and lines are written in batches that end on a line
 * boundary:
 * - to a pipe, socket or terminal, asynchronously (libuv's thread pool), at
 *   most PIPE_BUF (4096 bytes) per write(2), so the lines of several worker
 *   processes sharing one stdout pipe never interleave mid-line;
 * - to a regular file, with a synchronous write(2) per 64 KiB, as nginx
 *   writes its access log: a thread-pool round trip per 4 KiB (a futex
 *   wake, the write, an eventfd wake-up of the loop) cost more than the
 *   write itself. A write(2) to a regular file is not interleaved with
 *   another process's (Linux holds the file position lock), so batches stay whole.
 * Lines reach stdout within a second at the latest (a periodic flush) and
 * on close(). No redaction: the fields are the proxy's own (no headers, no
 * bodies).
 */
import { fstatSync, write, writeSync } from 'node:fs';

/** What one access-log line says about a request. */
export interface AccessEntry {
  requestId: string;
  remote: string | undefined;
  proto: string;
  method: string | undefined;
  host: string;
  uri: string;
  status: number;
  bytes: number;
  durationMs: number;
  ingress: string | undefined;
  service: string | undefined;
  upstream: string | undefined;
  upstreamError: string | undefined;
}

/** An access log and how to flush it. */
export interface AccessLog {
  /** Appends one line. */
  write(entry: AccessEntry): void;
  /** Writes what is buffered, after the batch already being written (call on shutdown); resolves once it is all out. */
  close(): Promise<void>;
}

/** Bytes per write(2) to a pipe: PIPE_BUF, so a batch is atomic on a pipe shared by several processes. */
const PIPE_BATCH = 4096;
/** Bytes per write(2) to a regular file. */
const FILE_BATCH = 64 * 1024;
/** Characters JSON.stringify would escape (quote, backslash, controls, lone surrogates). */
const NEEDS_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/;
/** A JSON string literal: JSON.stringify only when something needs escaping (the regexp test is a few times cheaper, and nearly nothing does). */
const q = (v: string) => (NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`);
const str = (v: string | undefined) => (v === undefined ? '' : q(v));

/** One JSON line, the same shape `logger.info(entry, 'access')` would print. */
export function accessLine(component: string, pid: number, e: AccessEntry, now = Date.now()): string {
  let s = `{"level":30,"time":${now},"component":"${component}","pid":${pid},"requestId":${q(e.requestId)}`;
  if (e.remote !== undefined) s += `,"remote":${str(e.remote)}`;
  s += `,"proto":"${e.proto}","method":${str(e.method)},"host":${q(e.host)},"uri":${q(e.uri)},"status":${e.status},"bytes":${e.bytes},"durationMs":${e.durationMs}`;
  if (e.ingress !== undefined) s += `,"ingress":${str(e.ingress)}`;
  if (e.service !== undefined) s += `,"service":${str(e.service)}`;
  if (e.upstream !== undefined) s += `,"upstream":${str(e.upstream)}`;
  if (e.upstreamError !== undefined) s += `,"upstreamError":${str(e.upstreamError)}`;
  return `${s},"msg":"access"}\n`;
}

/** Creates the buffered access log of `component` on `fd` (stdout by default). */
export function createAccessLog(component: string, fd = 1): AccessLog {
  const pid = process.pid;
  let toFile = false;
  try {
    toFile = fstatSync(fd).isFile();
  } catch {
    // not open: the writes fail and are dropped
  }
  const batch = toFile ? FILE_BATCH : PIPE_BATCH;
  let pending = '';
  /** Batches cut but not yet written (a write is in flight). */
  const queue: string[] = [];
  let writing = false;
  let closed = false;
  /** Told when the write in flight has ended (close waits for it, so lines stay in order and none is lost). */
  let idle: (() => void) | undefined;
  const pump = () => {
    // Once closed, what is queued is close()'s to write.
    const next = closed ? undefined : queue.shift();
    if (next === undefined) {
      writing = false;
      idle?.();
      return;
    }
    writing = true;
    write(fd, next, null, 'utf8', (err) => {
      // stdout gone (EPIPE) or closed: drop the log rather than the proxy.
      if (err) queue.length = 0;
      pump();
    });
  };
  const cut = () => {
    if (!pending) return;
    if (toFile) {
      const text = pending;
      pending = '';
      try {
        writeSync(fd, text);
      } catch {
        // the file is gone or the disk full: drop the log rather than the proxy
      }
      return;
    }
    queue.push(pending);
    pending = '';
    if (!writing) pump();
  };
  const timer = setInterval(cut, 1000);
  timer.unref();
  return {
    write(entry) {
      if (closed) return;
      const line = accessLine(component, pid, entry);
      // Cut before the batch would pass its size (counted in UTF-16 units; lines are nearly all ASCII).
      if (pending.length + line.length > batch) cut();
      pending += line;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      if (writing) await new Promise<void>((resolve) => (idle = resolve));
      const rest = queue.join('') + pending;
      queue.length = 0;
      pending = '';
      try {
        if (rest) writeSync(fd, rest);
      } catch {
        // stdout already closed
      }
    },
  };
}
