/**
 * SIGTERM stops every component by itself when its apiserver has stopped
 * answering: connections blackholed (iptables DROP on the apiserver's port,
 * as behind a cut network) or refused (the apiserver SIGKILLed). Before, a
 * leader's Lease request hung for the client's 60 s response timeout (and a
 * renewal stayed "leading" that long), an agent's Lease write for the 30 s
 * connect timeout, and the stop waited on them until SIGKILL.
 *
 * The scheduler and the agent stop gracefully (exit 0) at once. The
 * controller-manager does too, unless one of its controllers has a request
 * in flight to the blackholed apiserver (node-ipam's, seen once in the
 * suite): controllers' requests are not aborted on stop yet, and then the
 * stop timeout (runComponent's STOP_TIMEOUT_MS, 15 s) ends it with exit 1.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/index.js';

/** Stops well before the components' 15 s backstop (runComponent's STOP_TIMEOUT_MS) and the old 30–60 s waits. */
const PROMPT_STOP_MS = 8_000;
/** The stop timeout and a margin for a loaded machine: still far from the old 60 s and SIGKILL. */
const STOP_TIMEOUT_MS = 15_000;

let cluster: TestCluster | undefined;
let unblock: (() => void) | undefined;
afterEach(async ({ task }) => {
  unblock?.();
  unblock = undefined;
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
  await cluster?.stop();
  cluster = undefined;
});

/** SIGTERMs a process; its time to exit and the exit line the harness wrote. */
async function stop(c: TestCluster, name: string): Promise<{ ms: number; exit: string }> {
  const p = c.process(name);
  expect(p.running(), `${name} still running before the stop`).toBe(true);
  const t0 = Date.now();
  const kill = setTimeout(() => void p.kill('SIGKILL'), 60_000);
  await p.kill('SIGTERM');
  clearTimeout(kill);
  const ms = Date.now() - t0;
  return { ms, exit: p.logs().trimEnd().split('\n').at(-1) ?? '' };
}

describe('components stopping with their apiserver unreachable', () => {
  it.each(['blackholed', 'refused'] as const)('the apiserver %s: controller-manager, scheduler and agent stop by themselves, the scheduler and agent gracefully at once', async (how) => {
    cluster = await startCluster({ nodes: ['node-1'], leaderElect: true });
    const c = cluster;
    await expect.poll(() => c.leader('controller-manager'), { timeout: 30_000 }).toBe('controller-manager-1');
    await expect.poll(() => c.leader('scheduler'), { timeout: 30_000 }).toBe('scheduler-1');
    if (how === 'blackholed') {
      // Only this apiserver's port, only on loopback: other tests' traffic is untouched.
      const rule = ['INPUT', '-i', 'lo', '-p', 'tcp', '--dport', String(c.api.port), '-j', 'DROP'];
      execFileSync('iptables', ['-w', '-I', ...rule]);
      unblock = () => execFileSync('iptables', ['-w', '-D', ...rule]);
    } else {
      await c.api.kill('SIGKILL');
    }
    // Long enough for every component to have a request out to it (Lease renewals every 1–2 s).
    await new Promise((r) => setTimeout(r, 3_000));
    const times: Record<string, number> = {};
    for (const name of ['controller-manager-1', 'scheduler-1', 'node-1']) {
      const { ms, exit } = await stop(c, name);
      times[name] = ms;
      if (name === 'controller-manager-1' && how === 'blackholed') {
        // By itself (not SIGKILLed): gracefully, or through the stop timeout (see the top of the file).
        expect(exit, name).toMatch(/exited with code (0|1)$/);
        expect(ms, name).toBeLessThan(STOP_TIMEOUT_MS + 3_000);
        if (exit.endsWith('code 1')) expect(c.process(name).logs(), name).toContain('did not stop within 15 s; exiting');
      } else {
        expect(exit, name).toMatch(/exited with code 0$/);
        expect(ms, name).toBeLessThan(PROMPT_STOP_MS);
      }
    }
    console.log(`control-loops/stop-unreachable timings (ms), apiserver ${how}: ${JSON.stringify(times)}`);
  });
});
