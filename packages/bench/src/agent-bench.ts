/**
 * The agent benchmark (issue 3): the Docker engine's own cost of starting a
 * container (CLI and API), measured in the same run, against Flotilla's pod
 * start (pod written bound to the node → Running seen through a watch) and
 * container restart (`docker kill` → running again), one at a time and all
 * at once, through the real apiserver and the real `flotilla agent` process.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Pod } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import { DockerApi } from './docker-api.js';
import { benchPod } from './fixtures.js';
import { deleteEtcdPrefix, freePort } from '@flotilla/e2e';
import { writeKubeconfig } from './kubeconfig.js';
import { isRunning, PodWatch } from './pod-watch.js';
import { etcdEndpoints, flotillaBin, rssMiB, spawnNode, startApiServer } from './processes.js';
import { print, printJson, progress, section, table, targetTable, type TargetCheck } from './report.js';
import { ratio, summarize, type LatencySummary } from './stats.js';

const run = promisify(execFile);

/** Knobs of the agent benchmark. */
export interface AgentBenchOptions {
  /** Pods started one at a time, then all at once. */
  pods: number;
  /** Raw engine runs per baseline. */
  rawRuns: number;
  image: string;
}

/** Full-size defaults (the 20 pods). */
export const AGENT_DEFAULTS: AgentBenchOptions = { pods: 20, rawRuns: 20, image: 'flotilla/busybox:1' };
/** Smoke-sized run. */
export const AGENT_QUICK: AgentBenchOptions = { pods: 2, rawRuns: 2, image: 'flotilla/busybox:1' };

/** Everything the agent benchmark measured (ms). */
export interface AgentBenchResult {
  raw: {
    cliRun: LatencySummary;
    apiRun: LatencySummary;
    apiRunParallel: LatencySummary;
    apiPod: LatencySummary;
    apiRestart: LatencySummary;
    apiRestartParallel: LatencySummary;
  };
  flotilla: {
    startSequential: LatencySummary;
    startParallel: LatencySummary;
    /** Wall time of the whole parallel batch divided by the pod count. */
    startParallelPerPodMs: number;
    restartSequential: LatencySummary;
    restartParallel: LatencySummary;
  };
  agentRssMiB: number;
  targets: TargetCheck[];
}

const BENCH_LABEL = 'flotilla.bench';
const SLEEP = ['sleep', '3600'];

/** Runs the agent benchmark; needs DOCKER_HOST and the flotilla/busybox and pause images (scripts/images.sh). */
export async function runAgentBench(opts: AgentBenchOptions): Promise<AgentBenchResult> {
  const docker = new DockerApi();
  section(`agent benchmark (${opts.pods} pods, raw engine baselines over ${opts.rawRuns} runs, image ${opts.image})`);
  let raw: AgentBenchResult['raw'];
  try {
    raw = await measureRawEngine(docker, opts);
  } finally {
    for (const id of await docker.listByLabel(BENCH_LABEL)) await docker.remove(id);
  }

  const node = 'bench-node';
  const ns = 'bench-agent';
  progress('starting flotilla apiserver and agent');
  const server = await startApiServer({ port: await freePort(), nodes: [node] });
  const kubeconfig = join(server.dir, 'agent.kubeconfig');
  await writeKubeconfig(kubeconfig, server.url, server.caPem, server.nodeTokens.get(node)!, `system:node:${node}`);
  const stateDir = join(server.dir, 'agent');
  await mkdir(stateDir, { recursive: true });
  const agent = spawnNode(
    [flotillaBin(), 'agent', '--node-name', node, '--kubeconfig', kubeconfig, '--docker-host', process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', '--pod-network', 'docker-bridge', '--state-dir', stateDir, '--log-port', '0', '--liveness-port', '0', '--node-ip', '127.0.0.1', '--log-bind-address', '127.0.0.1'],
    join(server.dir, 'agent.log'),
  );
  const client = new RestClient({ server: server.url, ca: server.caPem, token: server.adminToken }, { userAgent: 'flotilla-bench' });
  const pods = client.resource<Pod>('pods');
  const watch = new PodWatch(client, ns);
  let agentRss = Number.NaN;
  try {
    await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await waitNodeReady(client, node, 60_000);
    await watch.start();

    const podSpec = (name: string) => {
      const p = benchPod(ns, name, { nodeName: node });
      p.spec!.containers[0]!.image = opts.image;
      p.spec!.terminationGracePeriodSeconds = 0;
      return p;
    };
    const startPod = async (name: string) => {
      const t0 = performance.now();
      const seen = watch.waitFor(`${ns}/${name}`, isRunning);
      await pods.create(podSpec(name));
      return (await seen) - t0;
    };

    progress(`pod start, ${opts.pods} one at a time`);
    const seq: number[] = [];
    for (let i = 0; i < opts.pods; i++) seq.push(await startPod(`seq-${i}`));
    progress(`pod start, ${opts.pods} at once`);
    const tPar = performance.now();
    const par = await Promise.all(Array.from({ length: opts.pods }, (_, i) => startPod(`par-${i}`)));
    const parWall = performance.now() - tPar;
    agentRss = rssMiB(agent.pid);

    const restartOne = async (name: string) => {
      const k = `${ns}/${name}`;
      const before = watch.pods.get(k)!;
      const cs = before.status?.containerStatuses?.[0];
      if (!cs?.containerID) throw new Error(`pod ${k} has no container id in its status`);
      const r0 = cs.restartCount ?? 0;
      const id = cs.containerID.replace(/^docker:\/\//, '');
      const seen = watch.waitFor(k, (p) => {
        const s = p.status?.containerStatuses?.[0];
        return (s?.restartCount ?? 0) > r0 && Boolean(s?.state?.running);
      });
      const t0 = performance.now();
      await docker.kill(id);
      return (await seen) - t0;
    };
    progress(`container restart, ${opts.pods} one at a time`);
    const rseq: number[] = [];
    for (let i = 0; i < opts.pods; i++) rseq.push(await restartOne(`seq-${i}`));
    progress(`container restart, ${opts.pods} at once`);
    const rpar = await Promise.all(Array.from({ length: opts.pods }, (_, i) => restartOne(`par-${i}`)));

    const result: AgentBenchResult = {
      raw,
      flotilla: {
        startSequential: summarize(seq),
        startParallel: summarize(par),
        startParallelPerPodMs: parWall / opts.pods,
        restartSequential: summarize(rseq),
        restartParallel: summarize(rpar),
      },
      agentRssMiB: agentRss,
      targets: [],
    };
    result.targets = agentTargets(result);
    printAgentResult(result, opts);
    return result;
  } finally {
    progress('cleaning up pods and containers');
    const all = await pods.list(ns).catch(() => undefined);
    await Promise.all((all?.items ?? []).map((p) => pods.delete(ns, p.metadata.name!, { gracePeriodSeconds: 0 }).catch(() => undefined)));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await docker.listByLabel(`io.flotilla.pod.namespace=${ns}`)).length > 0) await new Promise((r) => setTimeout(r, 250));
    await watch.stop().catch(() => undefined);
    await agent.stop();
    for (const id of await docker.listByLabel(`io.flotilla.pod.namespace=${ns}`)) await docker.remove(id);
    await client.close().catch(() => undefined);
    await server.stop();
    await deleteEtcdPrefix(etcdEndpoints(), `${server.prefix}/`).catch(() => undefined);
    await docker.close();
  }
}

async function waitNodeReady(client: RestClient, node: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const n = await client.resource('nodes').get(undefined, node);
      const ready = ((n.status as { conditions?: Array<{ type: string; status: string }> })?.conditions ?? []).find((c) => c.type === 'Ready');
      if (ready?.status === 'True') return;
    } catch {
      // not registered yet
    }
    if (Date.now() > deadline) throw new Error(`node ${node} not Ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function measureRawEngine(docker: DockerApi, opts: AgentBenchOptions): Promise<AgentBenchResult['raw']> {
  const labels = { [BENCH_LABEL]: 'raw' };
  const timed = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const runApi = async (name: string) => {
    const id = await docker.create(name, { Image: opts.image, Cmd: SLEEP, Labels: labels, HostConfig: {} });
    await docker.start(id);
    return id;
  };
  // One warm-up run so the first sample does not carry the engine's cold caches.
  await runApi('bench-raw-warmup');

  progress(`raw: docker run -d (CLI) x${opts.rawRuns}`);
  const cli: number[] = [];
  for (let i = 0; i < opts.rawRuns; i++) cli.push(await timed(() => run('docker', ['run', '-d', '--label', `${BENCH_LABEL}=raw`, '--name', `bench-raw-cli-${i}`, opts.image, ...SLEEP], { env: process.env })));

  progress(`raw: create+start via the API x${opts.rawRuns}`);
  const api: number[] = [];
  const apiIds: string[] = [];
  for (let i = 0; i < opts.rawRuns; i++) api.push(await timed(async () => apiIds.push(await runApi(`bench-raw-api-${i}`))));

  progress(`raw: ${opts.pods} create+start at once via the API`);
  const apiPar = await Promise.all(Array.from({ length: opts.pods }, (_, i) => timed(() => runApi(`bench-raw-par-${i}`))));

  progress(`raw: pod-shaped pair (pause + app in its network namespace) x${opts.rawRuns}`);
  const pod: number[] = [];
  for (let i = 0; i < opts.rawRuns; i++) {
    pod.push(
      await timed(async () => {
        const sandbox = await docker.create(`bench-raw-pod-${i}-pause`, { Image: 'flotilla/pause:1', Labels: labels, HostConfig: {} });
        await docker.start(sandbox);
        const app = await docker.create(`bench-raw-pod-${i}-app`, { Image: opts.image, Cmd: SLEEP, Labels: labels, HostConfig: { NetworkMode: `container:${sandbox}` } });
        await docker.start(app);
      }),
    );
  }

  progress(`raw: kill+start via the API x${opts.rawRuns}`);
  const restart: number[] = [];
  for (const id of apiIds) {
    restart.push(
      await timed(async () => {
        await docker.kill(id);
        await docker.start(id);
      }),
    );
  }
  progress(`raw: ${apiIds.length} kill+start at once`);
  const restartPar = await Promise.all(
    apiIds.map((id) =>
      timed(async () => {
        await docker.kill(id);
        await docker.start(id);
      }),
    ),
  );
  return {
    cliRun: summarize(cli),
    apiRun: summarize(api),
    apiRunParallel: summarize(apiPar),
    apiPod: summarize(pod),
    apiRestart: summarize(restart),
    apiRestartParallel: summarize(restartPar),
  };
}

function agentTargets(r: AgentBenchResult): TargetCheck[] {
  const f = r.flotilla;
  const base = r.raw.cliRun.p50;
  return [
    { name: 'pod start p50 (one at a time)', target: `<= 2x raw docker run (${base.toFixed(0)} ms)`, measured: `${f.startSequential.p50.toFixed(0)} ms = ${ratio(f.startSequential.p50, base)}x`, met: f.startSequential.p50 <= 2 * base },
    { name: 'restart p50 (one at a time)', target: `<= 1.5x raw docker run (${base.toFixed(0)} ms)`, measured: `${f.restartSequential.p50.toFixed(0)} ms = ${ratio(f.restartSequential.p50, base)}x`, met: f.restartSequential.p50 <= 1.5 * base },
    {
      name: `${r.flotilla.startParallel.count} at once, per pod`,
      target: `<= one at a time (${f.startSequential.p50.toFixed(0)} ms p50)`,
      measured: `${f.startParallelPerPodMs.toFixed(0)} ms (batch wall time / pods)`,
      met: f.startParallelPerPodMs <= f.startSequential.p50,
    },
  ];
}

function printAgentResult(r: AgentBenchResult, opts: AgentBenchOptions): void {
  const base = r.raw.cliRun.p50;
  const row = (name: string, s: LatencySummary) => [name, s.count, s.p50, s.p99, s.max, `${ratio(s.p50, base)}x`];
  section('raw engine vs Flotilla (ms; ratio = p50 ÷ raw `docker run -d` CLI p50)');
  print(
    table(
      ['measure', 'n', 'p50', 'p99', 'max', 'ratio'],
      [
        row('raw: docker run -d (CLI)', r.raw.cliRun),
        row('raw: create+start (API)', r.raw.apiRun),
        row(`raw: create+start (API), ${opts.pods} at once`, r.raw.apiRunParallel),
        row('raw: pause + app pair (API)', r.raw.apiPod),
        row('raw: kill+start (API)', r.raw.apiRestart),
        row('raw: kill+start (API), all at once', r.raw.apiRestartParallel),
        row('flotilla: pod start, one at a time', r.flotilla.startSequential),
        row(`flotilla: pod start, ${opts.pods} at once`, r.flotilla.startParallel),
        row('flotilla: restart, one at a time', r.flotilla.restartSequential),
        row(`flotilla: restart, ${opts.pods} at once`, r.flotilla.restartParallel),
      ],
    ),
  );
  print(`(${opts.pods} at once: ${r.flotilla.startParallelPerPodMs.toFixed(0)} ms per pod of batch wall time; agent RSS ${r.agentRssMiB.toFixed(0)} MiB with ${2 * opts.pods} pods)`);
  section('targets (issue 3)');
  print(targetTable(r.targets));
  printJson('agent', r);
}
