/** The agent benchmark (issue 3): placeholder until written. */

/** Knobs of the agent benchmark. */
export interface AgentBenchOptions {
  pods: number;
  rawRuns: number;
}

/** Full-size defaults. */
export const AGENT_DEFAULTS: AgentBenchOptions = { pods: 20, rawRuns: 10 };
/** Smoke-sized run. */
export const AGENT_QUICK: AgentBenchOptions = { pods: 2, rawRuns: 2 };

/** Runs the agent benchmark. */
export async function runAgentBench(_opts: AgentBenchOptions): Promise<void> {
  throw new Error('agent benchmark not written yet');
}
