/**
 * SIGTERM stops every component gracefully and at once when its apiserver
 * has stopped answering: connections blackholed (iptables DROP on the
 * apiserver's port, as behind a cut network) or refused (the apiserver
 * SIGKILLed). Before, a leader's Lease request hung for the client's 60 s
 * response timeout (and a renewal stayed "leading" that long), an agent's
 * Lease write for the 30 s connect timeout, a controller's request in
 * flight for 60 s, and the stop waited on them until SIGKILL.
 *
 * They are stopped together, within seconds of the cut: a leader that
 * cannot renew its Lease for the renew deadline (10 s) steps down and exits
 * by itself, which is right, but not what this test is about.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { flotillaBin, freePort, startCluster, statusPortReady, superviseProcess, type Incarnation, type SupervisedProcess, type TestCluster } from '../../src/index.js';

/** Stops well before the components' 15 s backstop (runComponent's STOP_TIMEOUT_MS) and the old 30–60 s waits. */
const PROMPT_STOP_MS = 8_000;

let cluster: TestCluster | undefined;
let unblock: (() => void) | undefined;
const servers: SupervisedProcess[] = [];
afterEach(async ({ task }) => {
  unblock?.();
  unblock = undefined;
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}\n${servers.map((s) => s.logs().slice(-4000)).join('\n')}`);
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  await cluster?.stop();
  cluster = undefined;
});

/** What stop() needs of a process: the cluster's own or a supervised one. */
interface Stoppable {
  running(): boolean;
  kill(signal: NodeJS.Signals): Promise<void>;
  logs(): string;
}

/** `flotilla dns` and `flotilla ingress` on loopback, beside the cluster, each with its writes to the apiserver (kube-dns endpoints, Ingress status). */
async function startServers(c: TestCluster): Promise<Record<string, Stoppable>> {
  const kubeconfig = c.api.kubeconfigPath;
  const server = (name: string, args: string[], ready: Incarnation['ready']) =>
    superviseProcess({
      name,
      readyMessage: `flotilla ${name} to serve`,
      readyTimeout: 30_000,
      stopGraceMs: 5_000,
      incarnation: async () => ({ args: [flotillaBin(), name, '--kubeconfig', kubeconfig, '--bind-address', '127.0.0.1', ...args], command: `flotilla ${name}`, ready }),
    });
  const dns = server('dns', ['--port', String(await freePort()), '--no-forward', '--metrics-port', '0'], statusPortReady);
  const ingress = server('ingress', ['--http-port', String(await freePort()), '--https-port', '-1', '--publish-address', '10.250.0.1', '--metrics-bind-address', '127.0.0.1:-1'], async (_, output) => output().includes('"msg":"serving HTTP"'));
  servers.push(dns, ingress);
  await Promise.all([dns.launch(), ingress.launch()]);
  const stoppable = (p: SupervisedProcess): Stoppable => ({ running: p.alive, kill: (signal) => p.kill(signal), logs: p.logs });
  return { dns: stoppable(dns), ingress: stoppable(ingress) };
}

/** SIGTERMs a process; its time to exit and the exit line the harness wrote. */
async function stop(name: string, p: Stoppable): Promise<{ ms: number; exit: string }> {
  expect(p.running(), `${name} still running before the stop`).toBe(true);
  const t0 = Date.now();
  const kill = setTimeout(() => void p.kill('SIGKILL'), 60_000);
  await p.kill('SIGTERM');
  clearTimeout(kill);
  const ms = Date.now() - t0;
  return { ms, exit: p.logs().trimEnd().split('\n').at(-1) ?? '' };
}

describe('components stopping with their apiserver unreachable', () => {
  it.each(['blackholed', 'refused'] as const)('the apiserver %s: controller-manager, scheduler, agent, DNS and ingress servers stop gracefully at once', async (how) => {
    cluster = await startCluster({ nodes: ['node-1'], leaderElect: true });
    const c = cluster;
    const others = await startServers(c);
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
    // A period, not a condition (nothing outside the processes shows a request in flight): long enough for the
    // Lease renewals (every 1–2 s) to have one out. The DNS server's round (every 5 s) may or may not be;
    // its unit test (kube-dns-service.test.ts) stops it with one in flight.
    await new Promise((r) => setTimeout(r, 3_000));
    const all: Record<string, Stoppable> = { ...Object.fromEntries(['controller-manager-1', 'scheduler-1', 'node-1'].map((n) => [n, c.process(n)])), ...others };
    const names = Object.keys(all);
    const stopped = await Promise.all(names.map((name) => stop(name, all[name]!)));
    const times: Record<string, number> = {};
    names.forEach((name, i) => {
      const { ms, exit } = stopped[i]!;
      times[name] = ms;
      expect(exit, name).toMatch(/exited with code 0$/);
      expect(ms, name).toBeLessThan(PROMPT_STOP_MS);
    });
    console.log(`control-loops/stop-unreachable timings (ms), apiserver ${how}: ${JSON.stringify(times)}`);
  });
});
