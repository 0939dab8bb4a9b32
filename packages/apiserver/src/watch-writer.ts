/**
 * The writing side of a watch response. Each socket write to a client costs
 * a TLS record and a syscall (on loopback the syscall also runs the
 * receiver's TCP path), and wakes the client to read it: with one write per
 * event per watcher it was the apiserver's largest single cost. A
 * WatchWriter queues lines and sends what it has as ONE chunk:
 *
 * - a watch that has not written for PACE_MS is flushed at the end of the
 *   turn (a single setImmediate for every watch), after all the etcd
 *   responses read in that turn have been fanned out: an event on a quiet
 *   watch (a node's own pods) leaves at once;
 * - a busy watch (the scheduler's, a controller's: hundreds of events a
 *   second) writes at most once every PACE_MS, its lines gathered by one
 *   shared timer. At 500 pods created a second the apiserver wrote each of
 *   those watches about 700 times a second, two or three events a write;
 *   paced, 200 times at most. The price is at most PACE_MS more on the
 *   delivery of an event to a watch that is busy anyway.
 */
import type { ServerResponse } from 'node:http';

/** The shortest time between two writes of one watch while it is busy, ms. */
export const PACE_MS = 5;

/** Writers with queued lines, flushed together at the end of the turn. */
const dirty: WatchWriter[] = [];
let scheduled = false;
/** Writers that wrote less than PACE_MS ago, flushed together when the pace timer fires. */
const paced: WatchWriter[] = [];
let paceTimer: NodeJS.Timeout | undefined;

function flushDirty(): void {
  scheduled = false;
  // A flush never queues another writer, but take the list first anyway.
  const writers = dirty.splice(0);
  for (const w of writers) w.flush();
}

function flushPaced(): void {
  paceTimer = undefined;
  const writers = paced.splice(0);
  for (const w of writers) w.flush();
}

/** Socket writes and lines of every watch response in this process (tests; the pacing is measured by their ratio). */
export const watchWriteStats = { writes: 0, lines: 0 };

/** Queues whole lines for one watch response and writes them together, in order (see the file's comment for when). */
export class WatchWriter {
  private lines: Buffer[] = [];
  private bytes = 0;
  private waiting: Promise<void> | undefined;
  /** performance.now() of the last write; -Infinity before the first. */
  private wroteAt = -Infinity;

  /** `signal` aborts when the watch ends: a caller waiting for the socket to drain is released. */
  constructor(
    private readonly res: ServerResponse,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Queues one line (with its trailing newline). Returns a promise only when
   * the socket has asked the sender to wait: the caller awaits it before it
   * produces more, so a slow client holds events in its store subscription
   * (whose bound ends the watch with 410), not in this process's buffers.
   */
  write(line: Buffer | string): Promise<void> | undefined {
    if (this.res.destroyed || this.res.writableEnded) return undefined;
    const buf = typeof line === 'string' ? Buffer.from(line) : line;
    this.lines.push(buf);
    this.bytes += buf.length;
    if (this.lines.length === 1) {
      if (performance.now() - this.wroteAt >= PACE_MS) {
        dirty.push(this);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flushDirty);
        }
      } else {
        paced.push(this);
        // One timer for every paced watch: those that join it later wait less than PACE_MS.
        paceTimer ??= setTimeout(flushPaced, PACE_MS);
      }
    }
    return this.waiting;
  }

  /** Number of lines queued and not yet written (tests). */
  get pending(): number {
    return this.lines.length;
  }

  /** Writes what is queued as one chunk now; called by the turn's or the pace timer's flush, and before the response ends. */
  flush(): void {
    if (this.lines.length === 0) return;
    const lines = this.lines;
    const bytes = this.bytes;
    this.lines = [];
    this.bytes = 0;
    // Out of the shared lists when flushed early (before end); their flush then skips it.
    const at = dirty.indexOf(this);
    if (at >= 0) dirty.splice(at, 1);
    const atPaced = paced.indexOf(this);
    if (atPaced >= 0) paced.splice(atPaced, 1);
    if (this.res.destroyed || this.res.writableEnded) return;
    this.wroteAt = performance.now();
    watchWriteStats.writes++;
    watchWriteStats.lines += lines.length;
    const ok = this.res.write(lines.length === 1 ? lines[0]! : Buffer.concat(lines, bytes));
    if (!ok && !this.waiting) this.waiting = this.drained();
  }

  private drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        this.signal.removeEventListener('abort', done);
        this.waiting = undefined;
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}
