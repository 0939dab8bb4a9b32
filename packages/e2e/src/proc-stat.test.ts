import { describe, expect, it } from 'vitest';
import { parseProcStat, readProcStat } from './proc-stat.js';

describe('parseProcStat', () => {
  it('counts fields from the last parenthesis, so a command name with spaces and parentheses does not shift them', () => {
    // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime …
    const line = '4242 (node (my) worker) T 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0\n';
    expect(parseProcStat(line)).toEqual({ state: 'T', ppid: 17, cpuTicks: 325 });
  });

  it('reads this process: running or sleeping, its parent, some CPU spent; a gone process reads as undefined', () => {
    const self = readProcStat(`/proc/${process.pid}/stat`)!;
    expect(['R', 'S']).toContain(self.state);
    expect(self.ppid).toBe(process.ppid);
    expect(self.cpuTicks).toBeGreaterThan(0);
    expect(readProcStat('/proc/0/stat')).toBeUndefined();
  });
});
