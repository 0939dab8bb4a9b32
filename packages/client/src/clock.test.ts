import { describe, expect, it } from 'vitest';
import { onAbort, realClock, sleep } from './clock.js';

describe('sleep and onAbort', () => {
  it('thousands of sleeps on one signal all end when it aborts; one that ended is not called again', async () => {
    const ac = new AbortController();
    let ended = 0;
    const short = sleep(realClock, 1, ac.signal).then(() => ended++);
    await short;
    const long = Array.from({ length: 5000 }, () => sleep(realClock, 60_000, ac.signal).then(() => ended++));
    ac.abort();
    await Promise.all(long);
    expect(ended).toBe(5001);
  });

  it('onAbort runs each callback once, not one that was forgotten, and nothing for an already aborted signal', () => {
    const ac = new AbortController();
    const calls: string[] = [];
    onAbort(ac.signal, () => calls.push('a'));
    const forget = onAbort(ac.signal, () => calls.push('b'));
    onAbort(ac.signal, () => calls.push('c'));
    forget();
    ac.abort();
    ac.abort();
    onAbort(ac.signal, () => calls.push('late'));
    expect(calls).toEqual(['a', 'c']);
  });

  it('a sleep on an aborted signal resolves at once', async () => {
    const ac = new AbortController();
    ac.abort();
    const t = Date.now();
    await sleep(realClock, 60_000, ac.signal);
    expect(Date.now() - t).toBeLessThan(30_000);
  });
});
