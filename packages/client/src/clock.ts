/** Time as the client machinery sees it; injected so tests can drive it with a FakeClock. */

/** An opaque handle of a scheduled timer. */
export type TimerHandle = unknown;

/** The few time operations the work queue, informers and leader election need. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer made by setTimeout; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The wall clock, backed by Node's timers. Timers are unref'd so they never keep a process alive. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

const abortCallbacks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Runs `fn` once when `signal` aborts (not if it already has); returns a
 * function that forgets it. One listener per signal whatever the number of
 * callers: Node's EventTarget scans its listeners on every add and remove,
 * and with thousands of loops sleeping on one signal (a process of hollow
 * nodes) each sleep cost thousands of steps.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let callbacks = abortCallbacks.get(signal);
  if (!callbacks) {
    const set = new Set<() => void>();
    abortCallbacks.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        abortCallbacks.delete(signal);
        for (const f of set) f();
      },
      { once: true },
    );
    callbacks = set;
  }
  const set = callbacks;
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}

/** Resolves after `ms` on `clock`, or early (without throwing) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const forget = signal
      ? onAbort(signal, () => {
          clock.clearTimeout(handle);
          resolve();
        })
      : undefined;
    const handle = clock.setTimeout(() => {
      forget?.();
      resolve();
    }, ms);
  });
}

/** Exponential back-off with jitter for reconnect loops (client-go's 800 ms → 30 s). */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 800,
    private readonly maxMs = 30_000,
    private readonly jitter = 0.2,
  ) {}

  /** The delay before the next attempt; each call doubles it up to the cap. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(base * (1 + this.jitter * Math.random()));
  }

  /** Starts over after a success. */
  reset(): void {
    this.attempt = 0;
  }
}
