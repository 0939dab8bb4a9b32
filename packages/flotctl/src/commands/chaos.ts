/**
 * `flotctl chaos`: breaks the local cluster of `scripts/up.sh` on purpose,
 * the way machines and processes fail, so that its healing can be watched
 * and measured.
 *
 * What it acts on is found where up.sh leaves it: the state directory
 * (`--state-dir`, default $FLOTILLA_STATE or ./.flotilla) holds the PID
 * files of every process (`run/<name>.pid`, `etcd/<port>/etcd.pid`), and
 * `scripts/hosts.sh` (of the checkout holding the state directory) knows the
 * worker hosts by name (`--hosts-name`, default `flot`): their Docker
 * engines, and how to kill one or pull its cable. Targets in the cluster
 * (a pod, its container, its node) come from the API. Everything is a
 * SIGKILL or a cable pulled: nothing is stopped politely.
 */
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { basename, dirname, join, resolve } from 'node:path';
import type { Deployment, Node, Pod } from '@flotilla/api';
import { runCommand } from '@flotilla/network';
import { UsageError, type Ctx } from '../context.js';

/** Where the local cluster's parts are. */
export interface ChaosOptions {
  stateDir?: string;
  /** Where the processes' PID files are (default `<stateDir>/run`, etcd's under `<stateDir>/etcd/`): a cluster laid out otherwise than up.sh's (a test's) keeps them all here, etcd's as `etcd.pid`. */
  runDir?: string;
  hostsName?: string;
  /** Random source (tests pass a seeded one). */
  random?: () => number;
}

/** One worker host of scripts/hosts.sh. */
export interface ChaosHost {
  name: string;
  index: number;
  ip: string;
  dockerHost: string;
}

const COMPONENTS = ['apiserver', 'scheduler', 'controller-manager', 'etcd', 'lb', 'dns', 'ingress', 'host-routes'] as const;
/** What `chaos kill` accepts. */
export type Component = (typeof COMPONENTS)[number];

function stateDirOf(o: ChaosOptions): string {
  return resolve(o.stateDir ?? process.env.FLOTILLA_STATE ?? '.flotilla');
}

/** Runs a script of the checkout (hosts.sh, a restart script) with `env`; never rejects. */
const run = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) => runCommand(file, args, { env });

/** scripts/hosts.sh of the checkout that holds the state directory. */
function hostsScript(o: ChaosOptions): { script: string; env: NodeJS.ProcessEnv; name: string } {
  const state = stateDirOf(o);
  return { script: join(dirname(state), 'scripts', 'hosts.sh'), env: { ...process.env, FLOTILLA_STATE: state }, name: o.hostsName ?? 'flot' };
}

/** The worker hosts, from `scripts/hosts.sh status`. */
export async function listHosts(o: ChaosOptions): Promise<ChaosHost[]> {
  const h = hostsScript(o);
  const r = await run(h.script, ['status', '--name', h.name], h.env);
  if (r.code !== 0) throw new UsageError(`no worker hosts '${h.name}' (${h.script} status: ${r.stderr.trim() || `exit ${r.code}`}); is the cluster of scripts/up.sh running?`);
  return parseHostLines(r.stdout);
}

/** Parses hosts.sh's lines: name, ip, dockerHost, netns, veth, dockerd PID (tab separated). */
export function parseHostLines(text: string): ChaosHost[] {
  return text
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length >= 3 && /^h\d+$/.test(f[0]!))
    .map((f) => ({ name: f[0]!, index: Number(f[0]!.slice(1)), ip: f[1]!, dockerHost: f[2]! }));
}

/** The host a Node runs on: the host of that name (up.sh names nodes after hosts), else the one with the Node's InternalIP. */
async function hostByNode(ctx: Ctx, o: ChaosOptions, node: string): Promise<ChaosHost> {
  const hosts = await listHosts(o);
  let host = hosts.find((h) => h.name === node);
  if (!host) {
    const n = await ctx.client.request<Node>({ method: 'GET', path: `/api/v1/nodes/${encodeURIComponent(node)}` }).catch(() => undefined);
    const ip = n?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    host = hosts.find((h) => h.ip === ip);
  }
  if (!host) throw new UsageError(`node ${node} is not a host of the local cluster (scripts/hosts.sh status --name ${o.hostsName ?? 'flot'})`);
  return host;
}

/** The live PIDs recorded for a process name (`agent-h2`, `apiserver` also matches apiserver-1 and -2, `etcd` every member). */
export async function pidsOf(o: ChaosOptions, name: string): Promise<Array<{ file: string; pid: number }>> {
  const state = stateDirOf(o);
  const files: string[] = [];
  if (name === 'etcd' && !o.runDir) {
    for (const port of await readdir(join(state, 'etcd')).catch(() => [] as string[])) files.push(join(state, 'etcd', port, 'etcd.pid'));
  } else {
    const runDir = o.runDir ? resolve(o.runDir) : join(state, 'run');
    for (const f of await readdir(runDir).catch(() => [] as string[])) {
      if (f === `${name}.pid` || new RegExp(`^${name.replace(/[-]/g, '\\-')}-\\d+\\.pid$`).test(f)) files.push(join(runDir, f));
    }
  }
  const out: Array<{ file: string; pid: number }> = [];
  for (const file of files) {
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 0);
      out.push({ file, pid });
    } catch {
      // Recorded but gone: already dead.
    }
  }
  return out;
}

/** A POST to a Docker engine's API over its unix socket. */
function dockerPost(dockerHost: string, path: string): Promise<number> {
  const socketPath = dockerHost.replace(/^unix:\/\//, '');
  return new Promise((res, rej) => {
    const req = request({ socketPath, path, method: 'POST' }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('error', rej);
    req.end();
  });
}

function pick<T>(items: T[], random: () => number): T | undefined {
  return items.length ? items[Math.floor(random() * items.length)] : undefined;
}

/** What one chaos action did, for the report. */
export interface ChaosEvent {
  action: string;
  target: string;
  at: Date;
}

/** SIGKILLs the app container of a random running pod (matching the selector), through its host's engine. */
export async function killContainer(ctx: Ctx, o: ChaosOptions & { selector?: string; pod?: string }): Promise<ChaosEvent> {
  const random = o.random ?? Math.random;
  const q = new URLSearchParams({ fieldSelector: 'status.phase=Running', ...(o.selector ? { labelSelector: o.selector } : {}) });
  const list = await ctx.client.request<{ items: Pod[] }>({ method: 'GET', path: `/api/v1/namespaces/${ctx.namespace}/pods?${q}` });
  const candidates = list.items.filter((p) => (!o.pod || p.metadata.name === o.pod) && p.spec?.nodeName && (p.status?.containerStatuses ?? []).some((c) => c.containerID && c.state?.running));
  const pod = pick(candidates, random);
  if (!pod) throw new UsageError(`no running pod${o.pod ? ` ${o.pod}` : ''}${o.selector ? ` matching ${o.selector}` : ''} in namespace ${ctx.namespace}`);
  const container = pick((pod.status?.containerStatuses ?? []).filter((c) => c.containerID && c.state?.running), random)!;
  const host = await hostByNode(ctx, o, pod.spec!.nodeName!);
  const id = container.containerID!.replace(/^[a-z]+:\/\//, '');
  const status = await dockerPost(host.dockerHost, `/containers/${id}/kill?signal=KILL`);
  if (status !== 204) throw new Error(`the engine of ${host.name} answered ${status} to killing container ${id.slice(0, 12)}`);
  return { action: 'kill-container', target: `${ctx.namespace}/${pod.metadata.name}/${container.name} on ${host.name}`, at: new Date() };
}

/** SIGKILLs a node's agent (its containers keep running). */
export async function killAgent(o: ChaosOptions, node: string): Promise<ChaosEvent> {
  const pids = await pidsOf(o, `agent-${node}`);
  if (!pids.length) throw new UsageError(`no running agent for ${node} (no live ${o.runDir ? resolve(o.runDir) : join(stateDirOf(o), 'run')}/agent-${node}.pid)`);
  for (const p of pids) process.kill(p.pid, 'SIGKILL');
  return { action: 'kill-agent', target: node, at: new Date() };
}

/** A power cut: the host's engine, containers and agent all SIGKILLed (scripts/hosts.sh kill). */
export async function killHost(ctx: Ctx, o: ChaosOptions, node: string): Promise<ChaosEvent> {
  const host = await hostByNode(ctx, o, node);
  const h = hostsScript(o);
  const r = await run(h.script, ['kill', String(host.index), '--name', h.name], h.env);
  if (r.code !== 0) throw new Error(`hosts.sh kill ${host.index}: ${r.stderr.trim()}`);
  return { action: 'kill-host', target: node, at: new Date() };
}

/** Pulls (or plugs back) a host's network cable; its processes keep running. */
export async function partitionHost(ctx: Ctx, o: ChaosOptions, node: string, heal = false): Promise<ChaosEvent> {
  const host = await hostByNode(ctx, o, node);
  const h = hostsScript(o);
  const r = await run(h.script, [heal ? 'connect' : 'disconnect', String(host.index), '--name', h.name], h.env);
  if (r.code !== 0) throw new Error(`hosts.sh ${heal ? 'connect' : 'disconnect'} ${host.index}: ${r.stderr.trim()}`);
  return { action: heal ? 'heal-host' : 'partition-host', target: node, at: new Date() };
}

/** SIGKILLs one control-plane process (a random one when several run, e.g. apiserver-1/-2 or an etcd member). */
export async function killComponent(o: ChaosOptions, component: string): Promise<ChaosEvent> {
  if (!(COMPONENTS as readonly string[]).includes(component)) throw new UsageError(`cannot kill "${component}": one of ${COMPONENTS.join(', ')}`);
  const victim = pick(await pidsOf(o, component), o.random ?? Math.random);
  if (!victim) throw new UsageError(`no running ${component} recorded under ${stateDirOf(o)}`);
  process.kill(victim.pid, 'SIGKILL');
  return { action: `kill ${component}`, target: `PID ${victim.pid} (${basename(dirname(victim.file))}/${basename(victim.file)})`, at: new Date() };
}

/** Whether every Deployment has all its replicas updated and available, and every Node is Ready. */
export async function converged(ctx: Ctx): Promise<boolean> {
  try {
    const deps = await ctx.client.request<{ items: Deployment[] }>({ method: 'GET', path: '/apis/apps/v1/deployments' });
    const nodes = await ctx.client.request<{ items: Node[] }>({ method: 'GET', path: '/api/v1/nodes' });
    const depsOk = deps.items.every((d) => {
      const want = d.spec?.replicas ?? 1;
      return (d.status?.availableReplicas ?? 0) >= want && (d.status?.updatedReplicas ?? 0) >= want && (d.status?.replicas ?? 0) === want;
    });
    const nodesOk = nodes.items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return depsOk && nodesOk;
  } catch {
    return false;
  }
}

/** Waits (polling every 250 ms) until converged(); the milliseconds it took, or undefined at the deadline. */
export async function waitConverged(ctx: Ctx, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs && !signal?.aborted) {
    if (await converged(ctx)) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

/** Options of `chaos run`. */
export interface RunOptions extends ChaosOptions {
  durationMs: number;
  /** Pause between the end of one healing and the next action. */
  intervalMs: number;
  /** How long an action may take to heal before it is reported as not healed. */
  healTimeoutMs: number;
  /** Which actions to draw from. */
  actions: string[];
  /** Run after a process or host was killed, to bring it back (as a supervisor would): scripts/up.sh of the checkout. */
  restartCommand?: string;
  signal?: AbortSignal;
}

/** The actions `chaos run` draws from by default: what heals without a human. */
export const DEFAULT_RUN_ACTIONS = ['kill-container', 'kill-agent', 'partition-host', 'kill-scheduler', 'kill-controller-manager', 'kill-apiserver'];

/**
 * A random schedule of the actions for `durationMs`: after each, the time
 * until the cluster converges again (every Deployment fully available,
 * every Node Ready) is measured; killed processes and hosts are brought back
 * by `restartCommand` (up.sh is idempotent), a partitioned host is plugged
 * back after 15 s. Prints one line per action and a summary; exit 1 when an
 * action did not heal.
 */
export async function chaosRun(ctx: Ctx, o: RunOptions): Promise<number> {
  const random = o.random ?? Math.random;
  const restart = o.restartCommand ?? join(dirname(stateDirOf(o)), 'scripts', 'up.sh');
  const end = Date.now() + o.durationMs;
  const results: Array<{ event: ChaosEvent; healedMs?: number; error?: string }> = [];
  const before = await waitConverged(ctx, o.healTimeoutMs, o.signal);
  if (before === undefined) {
    ctx.err('error: the cluster is not converged to begin with (a Deployment not fully available, or a Node not Ready)');
    return 1;
  }
  while (Date.now() < end && !o.signal?.aborted) {
    const action = pick(o.actions, random)!;
    const nodes = (await listHosts(o)).map((h) => h.name);
    let event: ChaosEvent;
    try {
      if (action === 'kill-container') event = await killContainer(ctx, { ...o, random });
      else if (action === 'kill-agent') event = await killAgent(o, pick(nodes, random)!);
      else if (action === 'kill-host') event = await killHost(ctx, o, pick(nodes, random)!);
      else if (action === 'partition-host') event = await partitionHost(ctx, o, pick(nodes, random)!);
      else if (action.startsWith('kill-')) event = await killComponent(o, action.slice('kill-'.length));
      else throw new UsageError(`unknown chaos action "${action}"`);
    } catch (err) {
      if (err instanceof UsageError && /unknown chaos action/.test(err.message)) throw err;
      results.push({ event: { action, target: '-', at: new Date() }, error: (err as Error).message });
      ctx.out(`${new Date().toISOString()}  ${action.padEnd(24)} could not act: ${(err as Error).message}`);
      continue;
    }
    const started = event.at.getTime();
    if (event.action === 'partition-host') {
      await new Promise((r) => setTimeout(r, 15_000));
      await partitionHost(ctx, o, event.target, true);
    } else if (event.action !== 'kill-container') {
      await run(restart, [], { ...process.env, FLOTILLA_STATE: stateDirOf(o) });
    }
    const waited = await waitConverged(ctx, o.healTimeoutMs, o.signal);
    const healedMs = waited === undefined ? undefined : Date.now() - started;
    results.push({ event, ...(healedMs !== undefined ? { healedMs } : {}) });
    ctx.out(`${event.at.toISOString()}  ${event.action.padEnd(24)} ${event.target.padEnd(48)} ${healedMs !== undefined ? `healed in ${(healedMs / 1000).toFixed(1)} s` : 'NOT HEALED'}`);
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
  const acted = results.filter((r) => !r.error);
  const healed = acted.filter((r) => r.healedMs !== undefined);
  const times = healed.map((r) => r.healedMs!).sort((a, b) => a - b);
  const p = (q: number) => (times.length ? (times[Math.min(times.length - 1, Math.floor(q * times.length))]! / 1000).toFixed(1) : '-');
  ctx.out(`${acted.length} actions, ${healed.length} healed (median ${p(0.5)} s, worst ${p(1)} s), ${acted.length - healed.length} not healed, ${results.length - acted.length} could not act`);
  return healed.length === acted.length ? 0 : 1;
}
