/** Options of waitFor. */
export interface WaitForOptions {
  /** Give up after this many milliseconds (default 10 000). */
  timeout?: number;
  /** Pause between attempts in milliseconds (default 100). */
  interval?: number;
  /** What is awaited, for the timeout error: "pod web to be Running". */
  message?: string;
  /**
   * Stops the wait at once when aborted, rejecting with the signal's reason:
   * "until it is up, unless it died" (a process's exit aborts it).
   */
  signal?: AbortSignal;
}

/**
 * Polls `fn` until it returns a truthy value (which is returned) or the
 * deadline passes. A throw counts as "not yet"; the last one is quoted in
 * the timeout error, since it usually says why the condition never held.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 100;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  let lastValue: unknown;
  const { signal } = options;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastValue = value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await pause(Math.min(interval, Math.max(0, deadline - Date.now())), signal);
  }
  const what = options.message ?? 'condition';
  const last = lastError !== undefined ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}` : `; last value: ${JSON.stringify(lastValue)}`;
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last}`);
}

/** Resolves after `ms`, or at once when `signal` aborts (the loop then throws its reason). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
