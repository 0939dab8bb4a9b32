/**
 * The reflector's loop, shared by every list-then-watch client (the
 * Informer, the benchmarks' PodWatch): list, then watch from the list's
 * resourceVersion; a watch that ends or fails is resumed from the last
 * resourceVersion seen, after a back-off unless it brought events; only
 * 410 Gone (that version compacted, or the watcher fell behind the
 * apiserver's buffer) costs a list again. The caller keeps the state and
 * the resourceVersion; this keeps the order and the waits.
 */
import { isReason } from '@flotilla/api';
import { Backoff, realClock, sleep, type Clock } from './clock.js';

/** What one list-then-watch client does at each step. */
export interface ListWatch {
  /** Lists and replaces the client's state (it keeps the list's resourceVersion for the next watch). */
  list(signal: AbortSignal): Promise<void>;
  /** Consumes one watch from the last resourceVersion seen until it ends; returns how many events it brought. */
  watch(signal: AbortSignal): Promise<number>;
  /** A list or watch failed with something other than 410 Gone; the loop waits its back-off and tries again. */
  onError?(err: unknown, relist: boolean): void;
  /** The version was gone (410): the next step is a list. */
  onGone?(): void;
  /** A watch ended or failed without a 410: the next one resumes from the last resourceVersion seen. */
  onResume?(): void;
}

/** Options of runListWatch. */
export interface ListWatchOptions {
  /** Whether the loop starts with a list (default) or the client listed already. */
  listFirst?: boolean;
  clock?: Clock;
}

/** A watch that closes sooner than this without an event is retried after a back-off, not at once. */
const QUICK_CLOSE_MS = 1000;

/** Runs `lw` until `signal` aborts (see the file's comment). */
export async function runListWatch(lw: ListWatch, signal: AbortSignal, options: ListWatchOptions = {}): Promise<void> {
  const clock = options.clock ?? realClock;
  const backoff = new Backoff();
  let needList = options.listFirst ?? true;
  let gonesInARow = 0;
  while (!signal.aborted) {
    try {
      if (needList) {
        await lw.list(signal);
        needList = false;
      }
      const started = clock.now();
      const events = await lw.watch(signal);
      gonesInARow = 0;
      if (events > 0) backoff.reset();
      // A watch that closes at once without a single event: don't spin against the server.
      else if (clock.now() - started < QUICK_CLOSE_MS && !signal.aborted) await sleep(clock, backoff.next(), signal);
    } catch (err) {
      if (signal.aborted) break;
      if (isReason(err, 'Gone')) {
        // Only a fresh list can bring the client back in step; a second 410 in a row waits first.
        lw.onGone?.();
        needList = true;
        if (++gonesInARow > 1) await sleep(clock, backoff.next(), signal);
        continue;
      }
      lw.onError?.(err, needList);
      await sleep(clock, backoff.next(), signal);
    }
    if (!needList && !signal.aborted) lw.onResume?.();
  }
}
