/**
 * Reading a Kubernetes watch stream: newline-delimited JSON `{type, object}`
 * events that may be split anywhere across chunks (even inside a UTF-8
 * character). ERROR events become thrown ApiErrors (410 Gone means "relist");
 * a dropped connection simply ends the stream so the reflector resumes.
 */
import { ApiError, isStatus, STATUS_REASONS, type KubeObject, type Status, type StatusReason, type WatchEvent } from '@flotilla/api';

/** Splits a byte stream into complete lines, keeping a partial line across chunks. */
export class LineDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';

  /** The complete lines in this chunk (plus what was pending), without their newline. */
  push(chunk: Uint8Array | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    return lines;
  }

  /** What is left when the stream ends (a last line without newline), or undefined. */
  end(): string | undefined {
    const rest = this.buffer + this.decoder.decode();
    this.buffer = '';
    return rest.trim() ? rest : undefined;
  }
}

/** The catalog reason for an HTTP status code, for Status bodies that carry an unknown reason. */
export function reasonForCode(code: number): StatusReason {
  for (const [reason, c] of Object.entries(STATUS_REASONS)) if (c === code) return reason as StatusReason;
  return code >= 500 ? 'InternalError' : 'BadRequest';
}

/** Rebuilds an ApiError from a Status received from the server, keeping its code and reason. */
export function apiErrorFromStatus(status: Partial<Status>, fallbackCode = 500): ApiError {
  const code = typeof status.code === 'number' && status.code > 0 ? status.code : fallbackCode;
  const reason = status.reason && status.reason in STATUS_REASONS ? status.reason : reasonForCode(code);
  const err = new ApiError(reason, status.message ?? `the server responded with status ${code}`, status.details);
  // Keep the server's exact code (e.g. a reason-less 429 or 504) rather than the catalog's.
  (err.status as { code: number }).code = code;
  return err;
}

/** Parses one watch line; ERROR events throw the ApiError their Status describes. */
export function parseWatchLine<T = KubeObject>(line: string): WatchEvent<T> | undefined {
  if (!line.trim()) return undefined;
  let event: WatchEvent<T>;
  try {
    event = JSON.parse(line) as WatchEvent<T>;
  } catch {
    throw new ApiError('InternalError', `malformed watch event: ${line.slice(0, 200)}`);
  }
  if (event.type === 'ERROR') {
    const obj = event.object as unknown;
    throw isStatus(obj) ? apiErrorFromStatus(obj) : new ApiError('InternalError', `watch error: ${line.slice(0, 200)}`);
  }
  return event;
}

const RV_KEY = '"resourceVersion":"';

/**
 * The first `"resourceVersion":"…"` of a watch line without parsing it: the
 * object's own (the apiserver writes apiVersion, kind and metadata first, and
 * resourceVersion first in metadata); undefined when there is none.
 */
export function resourceVersionOfLine(line: string): string | undefined {
  const i = line.indexOf(RV_KEY);
  if (i < 0) return undefined;
  const start = i + RV_KEY.length;
  const end = line.indexOf('"', start);
  return end > start ? line.slice(start, end) : undefined;
}

// What stands in for a line the caller's prefilter skipped: its resourceVersion only. A line
// without one (an ERROR event's Status) is parsed as usual, so errors are never skipped.
function skipped<T>(line: string): WatchEvent<T> | undefined {
  const rv = resourceVersionOfLine(line);
  if (!rv || line.includes('"type":"ERROR"')) return parseWatchLine<T>(line);
  return { type: 'BOOKMARK', object: { metadata: { resourceVersion: rv } } } as unknown as WatchEvent<T>;
}

/**
 * Turns a stream of byte chunks into watch events. The stream ending or
 * failing (timeout, connection drop, abort) ends the iteration quietly;
 * only ERROR events and malformed lines throw. Lines `skipLine` returns true
 * for are not parsed: a BOOKMARK with their resourceVersion is yielded instead.
 */
export async function* decodeWatchStream<T = KubeObject>(chunks: AsyncIterable<Uint8Array | string>, skipLine?: (line: string) => boolean): AsyncGenerator<WatchEvent<T>> {
  const lines = new LineDecoder();
  const iterator = chunks[Symbol.asyncIterator]();
  while (true) {
    let next: IteratorResult<Uint8Array | string>;
    try {
      next = await iterator.next();
    } catch {
      return; // connection dropped or aborted: the caller resumes from its last resourceVersion
    }
    if (next.done) break;
    for (const line of lines.push(next.value)) {
      const event = skipLine?.(line) ? skipped<T>(line) : parseWatchLine<T>(line);
      if (event) yield event;
    }
  }
  const rest = lines.end();
  if (rest !== undefined) {
    const event = skipLine?.(rest) ? skipped<T>(rest) : parseWatchLine<T>(rest);
    if (event) yield event;
  }
}
