/**
 * Reading a process's line in /proc/<pid>/stat (proc(5)). The command name,
 * field 2, is in parentheses and may itself hold spaces and parentheses, so
 * the fields are counted from the last `)`.
 */
import { readFileSync } from 'node:fs';

/** What the harness and the benchmarks read from a stat line. */
export interface ProcStat {
  /** Field 3: R running, S sleeping, T stopped, Z zombie, … */
  state: string;
  /** Field 4: the parent's PID. */
  ppid: number;
  /** Fields 14 + 15: user + system CPU time, in clock ticks (USER_HZ, 100 on Linux). */
  cpuTicks: number;
}

/** Parses one stat line (of a process or of a thread, /proc/<pid>/task/<tid>/stat). */
export function parseProcStat(line: string): ProcStat {
  const f = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) };
}

/** Reads and parses a stat file; undefined when the process (or thread) is gone. */
export function readProcStat(path: string): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}
