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
});
