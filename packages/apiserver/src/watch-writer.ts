/**
 * The writing side of a watch response. Each socket write to a client costs
 * a TLS record and a syscall (on loopback the syscall also runs the
 * receiver's TCP path): with one write per event per watcher it was the
 * apiserver's largest single cost. A WatchWriter queues the lines of one
 * turn of the event loop and sends them as ONE chunk, flushed for every
 * watch at once from a single setImmediate, i.e. after all the etcd
 * responses read in that turn have been fanned out.
 */
import type { ServerResponse } from 'node:http';

/** Writers with queued lines, flushed together once per turn. */
const dirty: WatchWriter[] = [];
let scheduled = false;

/**
 * Socket writes and lines of every watch response in this process
 * (flotilla_apiserver_watch_writes_total and _lines_total). At 500 pods
 * created a second the turns of the event loop are long enough that a
 * write carries ~20 lines (the scheduler benchmark prints the ratio).
 */
export const watchWriteStats = { writes: 0, lines: 0 };

function flushDirty(): void {
  scheduled = false;
  // A flush never queues another writer, but take the list first anyway.
  const writers = dirty.splice(0);
  for (const w of writers) w.flush();
}

/** Queues whole lines for one watch response and writes them once per event-loop turn, in order. */
export class WatchWriter {
  private lines: Buffer[] = [];
  private bytes = 0;
  private waiting: Promise<void> | undefined;

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
      dirty.push(this);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushDirty);
      }
    }
    return this.waiting;
  }

  /** Number of lines queued and not yet written (tests). */
  get pending(): number {
    return this.lines.length;
  }

  /** Writes what is queued as one chunk now; called once per turn, and before the response ends. */
  flush(): void {
    if (this.lines.length === 0) return;
    const lines = this.lines;
    const bytes = this.bytes;
    this.lines = [];
    this.bytes = 0;
    // Out of the shared list when flushed early (before end); the turn's flush then skips it.
    const at = dirty.indexOf(this);
    if (at >= 0) dirty.splice(at, 1);
    if (this.res.destroyed || this.res.writableEnded) return;
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
