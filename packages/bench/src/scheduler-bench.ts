/** The scheduler benchmark (issue 4): placeholder until written. */

/** Knobs of the scheduler benchmark. */
export interface SchedulerBenchOptions {
  nodes: number;
  pods: number;
  cpuProfDir?: string;
}

/** Full-size defaults. */
export const SCHEDULER_DEFAULTS: SchedulerBenchOptions = { nodes: 1000, pods: 10_000 };
/** Smoke-sized run. */
export const SCHEDULER_QUICK: SchedulerBenchOptions = { nodes: 10, pods: 50 };

/** Runs the scheduler benchmark. */
export async function runSchedulerBench(_opts: SchedulerBenchOptions): Promise<void> {
  throw new Error('scheduler benchmark not written yet');
}
