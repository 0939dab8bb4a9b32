import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? `done after ${n}` : undefined), { interval: 1 })).resolves.toBe('done after 3');
  });

  it('treats a throw as "not yet"', async () => {
    let n = 0;
    const value = await waitFor(
      () => {
        if (++n < 3) throw new Error('not ready');
        return n;
      },
      { interval: 1 },
    );
    expect(value).toBe(3);
  });

  it('names the condition and quotes the last error when it times out', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('connection refused');
        },
        { timeout: 30, interval: 5, message: 'the server' },
      ),
    ).rejects.toThrow(/timed out after 30 ms waiting for the server; last error: connection refused/);
  });

  it('stops at once with the reason when its signal aborts, without waiting out the timeout', async () => {
    const died = new AbortController();
    let polls = 0;
    setTimeout(() => died.abort(new Error('etcd exited: address already in use')), 20);
    const started = Date.now();
    await expect(
      waitFor(() => (++polls, false), { timeout: 60_000, interval: 10_000, signal: died.signal }),
    ).rejects.toThrow('etcd exited: address already in use');
    // Aborted during the 10 s pause after the first poll, not at the end of it.
    expect(polls).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('does not poll at all when the signal is already aborted', async () => {
    let polls = 0;
    await expect(waitFor(() => ++polls, { signal: AbortSignal.abort(new Error('gone')) })).rejects.toThrow('gone');
    expect(polls).toBe(0);
  });
});
