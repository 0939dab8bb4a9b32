import { gone as goneError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { runListWatch, type ListWatch } from './list-watch.js';
import { FakeClock } from './testing/fake-clock.js';

const gone = () => goneError('too old resource version');

/**
 * A scripted client: each list and watch takes the next step of its script
 * (a number of events, or an error), and every call is written to `calls`.
 */
function scripted(clock: FakeClock, watches: Array<number | Error | { events: number; lastsMs: number }>, lists: Array<Error | undefined> = []) {
  const calls: string[] = [];
  const lw: Required<ListWatch> = {
    list: async () => {
      calls.push(`list@${clock.now()}`);
      const step = lists.shift();
      if (step) throw step;
    },
    watch: async (signal) => {
      calls.push(`watch@${clock.now()}`);
      const step = watches.shift();
      if (step === undefined) {
        // The script is over: the watch stays open until the test stops the loop.
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return 0;
      }
      if (step instanceof Error) throw step;
      if (typeof step === 'number') return step;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, step.lastsMs));
      return step.events;
    },
    onError: (err, relist) => calls.push(`error(${relist ? 'list' : 'watch'}): ${(err as Error).message}`),
    onGone: () => calls.push('gone'),
    onResume: () => calls.push('resume'),
  };
  return { lw, calls };
}

async function run(clock: FakeClock, lw: ListWatch, ms: number, listFirst?: boolean): Promise<void> {
  const stop = new AbortController();
  const done = runListWatch(lw, stop.signal, { clock, ...(listFirst === undefined ? {} : { listFirst }) });
  await clock.tick(ms);
  stop.abort();
  await done;
}

describe('runListWatch', () => {
  it('lists, watches, and resumes a watch that brought events at once, without listing again', async () => {
    const clock = new FakeClock(0);
    const { lw, calls } = scripted(clock, [3, 5]);
    await run(clock, lw, 10);
    expect(calls).toEqual(['list@0', 'watch@0', 'resume', 'watch@0', 'resume', 'watch@0']);
  });

  it('lists again only on 410 Gone; a second 410 in a row waits its back-off first', async () => {
    const clock = new FakeClock(0);
    const { lw, calls } = scripted(clock, [gone(), gone(), 2]);
    await run(clock, lw, 5_000);
    // 800 ms is the first back-off (up to 20 % jitter on top).
    expect(calls.slice(0, 5)).toEqual(['list@0', 'watch@0', 'gone', 'list@0', 'watch@0']);
    expect(calls[5]).toBe('gone');
    expect(calls[6]).toMatch(/^list@(8\d\d|9[0-6]\d)$/);
    expect(calls.slice(7)).toEqual([expect.stringMatching(/^watch@/), 'resume', expect.stringMatching(/^watch@/)]);
  });

  it('backs off after a failed watch or list, doubling, and resumes without a list after a watch failure', async () => {
    const clock = new FakeClock(0);
    const { lw, calls } = scripted(clock, [new Error('reset'), new Error('reset'), 1], [undefined]);
    await run(clock, lw, 10_000);
    const at = (c: string) => Number(c.split('@')[1]);
    expect(calls.filter((c) => c.startsWith('list'))).toEqual(['list@0']);
    const watches = calls.filter((c) => c.startsWith('watch')).map(at);
    expect(watches[1]! - watches[0]!).toBeGreaterThanOrEqual(800);
    expect(watches[2]! - watches[1]!).toBeGreaterThanOrEqual(1_600);
    expect(calls).toContain('error(watch): reset');
  });

  it('retries a failed first list after its back-off, and a watch that closes at once without events is not reopened at once', async () => {
    const clock = new FakeClock(0);
    const { lw, calls } = scripted(clock, [0, { events: 0, lastsMs: 2_000 }], [new Error('refused')]);
    await run(clock, lw, 10_000);
    expect(calls[0]).toBe('list@0');
    expect(calls[1]).toBe('error(list): refused');
    expect(calls[2]).toMatch(/^list@(8\d\d|9[0-6]\d)$/);
    const watches = calls.filter((c) => c.startsWith('watch')).map((c) => Number(c.split('@')[1]));
    // The empty quick close waits; the empty watch that lasted 2 s is reopened at once.
    expect(watches[1]! - watches[0]!).toBeGreaterThanOrEqual(800);
    expect(watches[2]! - watches[1]!).toBe(2_000);
  });

  it('starts with the watch when the client listed already', async () => {
    const clock = new FakeClock(0);
    const { lw, calls } = scripted(clock, [1]);
    await run(clock, lw, 10, false);
    expect(calls).toEqual(['watch@0', 'resume', 'watch@0']);
  });
});
