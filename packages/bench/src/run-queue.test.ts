import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseSchedstat, processSchedTimes, RunQueueMeter } from './processes.js';

const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('run-queue wait (schedstat)', () => {
  it('reads the run and wait times of a schedstat line', () => {
    expect(parseSchedstat('1234567 89012 34\n')).toEqual({ runNs: 1234567, waitNs: 89012 });
    expect(parseSchedstat('')).toBeUndefined();
    expect(parseSchedstat('x y z')).toBeUndefined();
  });

  it("measures this process's main thread running, and waiting while more threads want the cores than there are", async () => {
    // Busy children, one more than the cores, started before the meter: each wants a core all the time.
    const children = Array.from({ length: availableParallelism() + 1 }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
    try {
      // Until every child spins (has run 20 ms), with a deadline.
      const deadline = Date.now() + 10_000;
      while (!children.every((c) => (processSchedTimes(c.pid!)?.main.runNs ?? 0) > 20e6)) {
        if (Date.now() > deadline) throw new Error('the busy children did not start within 10 s');
        await new Promise((r) => setImmediate(r));
      }
      const meter = new RunQueueMeter({ self: process.pid, several: [process.pid, process.pid] });
      spin(500);
      const got = meter.read();
      // The main thread ran for a share of the half second, and waited for a core the rest.
      expect(got.self!.mainRunMsPerSec).toBeGreaterThan(50);
      expect(got.self!.mainWaitMsPerSec).toBeGreaterThan(50);
      expect(got.self!.allWaitMsPerSec).toBeGreaterThanOrEqual(got.self!.mainWaitMsPerSec);
      expect(got.bench).toBeDefined();
      expect(got.several).toBeUndefined();
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  });

  it('is undefined for a process that does not exist', () => {
    expect(processSchedTimes(2 ** 22 + 1)).toBeUndefined();
  });
});
