import { writeSync, openSync, closeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ioSyscalls, SyscallMeter } from './processes.js';

describe('syscall counts', () => {
  it("counts this process's write syscalls, and sums a list of processes", () => {
    const meter = new SyscallMeter({ self: process.pid, twice: [process.pid, process.pid] });
    const fd = openSync('/dev/null', 'w');
    try {
      for (let i = 0; i < 100; i++) writeSync(fd, 'x');
    } finally {
      closeSync(fd);
    }
    const got = meter.read();
    expect(got.self!.writes).toBeGreaterThanOrEqual(100);
    expect(got.bench!.writes).toBeGreaterThanOrEqual(100);
    expect(got.twice!.writes).toBeGreaterThanOrEqual(200);
  });

  it('is undefined for a process that does not exist', () => {
    expect(ioSyscalls(2 ** 22 + 1)).toBeUndefined();
    expect(ioSyscalls(undefined)).toBeUndefined();
  });
});
