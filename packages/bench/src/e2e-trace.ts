/**
 * Where the time of "apply → all Ready" goes (issue 12): one Deployment
 * applied on the e2e benchmark's Flotilla cluster, every stage of every pod
 * stamped from the outside — watches on the Deployment, its ReplicaSets and
 * pods (arrival time at this process), and each engine's own event log
 * (`docker events --since/--until`, nanosecond engine times) for the
 * sandbox and app containers — then printed as a per-stage table of the
 * time since the apply (first, median, last pod) and of each stage's own
 * duration (median over pods).
 */
import type { Deployment, KubeObject, Pod, ReplicaSet } from '@flotilla/api';
import type { ApiClient } from '@flotilla/client';
import type { Host } from '@flotilla/e2e';
import { print, section, table } from './report.js';
import { percentile } from './stats.js';

/** Per pod: wall-clock times (ms since the epoch) at which each stage was first seen. */
interface PodTrace {
  created?: number;
  bound?: number;
  sandboxCreate?: number;
  sandboxStart?: number;
  appCreate?: number;
  appStart?: number;
  running?: number;
  ready?: number;
}

const STAGES: Array<[keyof PodTrace, string]> = [
  ['created', 'pod created (watch)'],
  ['bound', 'pod bound (watch)'],
  ['sandboxCreate', 'sandbox create (engine)'],
  ['sandboxStart', 'sandbox start (engine)'],
  ['appCreate', 'app container create (engine)'],
  ['appStart', 'app container start (engine)'],
  ['running', 'status Running (watch)'],
  ['ready', 'status Ready (watch)'],
];

/** Watches one kind in a namespace, calling `on` with each event and its arrival time, until `signal` aborts. */
function follow<T extends KubeObject>(client: ApiClient, resource: string, ns: string, signal: AbortSignal, on: (type: string, o: T, at: number) => void): Promise<void> {
  const r = client.resource<T>(resource);
  return (async () => {
    const list = await r.list(ns);
    for (;;) {
      try {
        for await (const ev of r.watch(ns, { resourceVersion: list.metadata?.resourceVersion, signal })) {
          if (ev.type !== 'BOOKMARK') on(ev.type, ev.object, Date.now());
        }
        return;
      } catch {
        if (signal.aborted) return;
      }
    }
  })();
}

/** A traced apply: what the stages of each pod and of the Deployment took. */
export interface ApplyTrace {
  replicas: number;
  /** ms from the create call to the Deployment reporting every replica ready. */
  totalMs: number;
  /** ms since the apply, per stage: first, median and last pod. */
  stages: Array<{ stage: string; first: number; median: number; last: number; pods: number }>;
  /** Each stage's own duration (from the stage before it), median and slowest pod. */
  steps: Array<{ step: string; median: number; max: number }>;
  /** The Deployment's and ReplicaSet's milestones, ms since the apply. */
  milestones: Record<string, number>;
}

/**
 * Applies `dep` and follows it to all Ready, stamping every stage; `ready`
 * is the benchmark's own condition (polled), so `totalMs` is what the
 * benchmark measures, the stages are what it is made of.
 */
export async function traceApply(client: ApiClient, hosts: Host[], ns: string, dep: Deployment, ready: () => Promise<boolean>): Promise<ApplyTrace> {
  const replicas = dep.spec?.replicas ?? 1;
  const abort = new AbortController();
  const pods = new Map<string, PodTrace>();
  const milestones: Record<string, number> = {};
  const first = (k: string, at: number) => (milestones[k] ??= at);
  const podOf = (uid: string) => pods.get(uid) ?? (pods.set(uid, {}), pods.get(uid)!);
  const watches = [
    follow<Pod>(client, 'pods', ns, abort.signal, (type, p, at) => {
      if (type === 'DELETED') return;
      const t = podOf(p.metadata.uid ?? '');
      t.created ??= at;
      if (p.spec?.nodeName) t.bound ??= at;
      if (p.status?.containerStatuses?.length && p.status.containerStatuses.every((c) => c.state?.running)) t.running ??= at;
      if (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) t.ready ??= at;
    }),
    follow<ReplicaSet>(client, 'replicasets', ns, abort.signal, (type, rs, at) => {
      if (type === 'ADDED') first('replicaset created', at);
      if ((rs.status?.replicas ?? 0) >= replicas) first(`replicaset status.replicas=${replicas}`, at);
      if ((rs.status?.readyReplicas ?? 0) >= replicas) first(`replicaset status.readyReplicas=${replicas}`, at);
    }),
    follow<Deployment>(client, 'deployments', ns, abort.signal, (_type, d, at) => {
      if ((d.status?.readyReplicas ?? 0) >= replicas) first(`deployment status.readyReplicas=${replicas}`, at);
    }),
  ];
  // Let the watches open before the clock starts.
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await client.resource<Deployment>('deployments').create(dep);
  first('deployment created (response)', Date.now());
  for (;;) {
    if (await ready().catch(() => false)) break;
    if (Date.now() - t0 > 300_000) throw new Error('traced apply: not ready within 300 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const totalMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 200));
  abort.abort();
  await Promise.allSettled(watches);

  // The engines' own record of the containers: create and start, by pod uid.
  const since = (t0 / 1000 - 1).toFixed(3);
  const until = (Date.now() / 1000 + 1).toFixed(3);
  for (const h of hosts) {
    const out = await h.docker(['events', '--since', since, '--until', until, '--filter', 'type=container', '--filter', 'event=create', '--filter', 'event=start', '--format', '{{json .}}']).catch(() => '');
    for (const line of out.split('\n').filter(Boolean)) {
      const ev = JSON.parse(line) as { Action?: string; timeNano?: number; Actor?: { Attributes?: Record<string, string> } };
      const a = ev.Actor?.Attributes ?? {};
      const uid = a['io.flotilla.pod.uid'];
      if (!uid || !pods.has(uid) || !ev.timeNano) continue;
      const t = pods.get(uid)!;
      const at = ev.timeNano / 1e6;
      const sandbox = a['io.flotilla.type'] === 'sandbox';
      if (ev.Action === 'create') sandbox ? (t.sandboxCreate ??= at) : (t.appCreate ??= at);
      if (ev.Action === 'start') sandbox ? (t.sandboxStart ??= at) : (t.appStart ??= at);
    }
  }
  const all = [...pods.values()];
  const stages = STAGES.map(([k, stage]) => {
    const xs = all.map((t) => t[k]).filter((v): v is number => v !== undefined).map((v) => v - t0).sort((a, b) => a - b);
    return { stage, first: xs[0] ?? NaN, median: xs.length ? percentile(xs, 50) : NaN, last: xs[xs.length - 1] ?? NaN, pods: xs.length };
  });
  const steps: ApplyTrace['steps'] = [];
  for (let i = 1; i < STAGES.length; i++) {
    const [a] = STAGES[i - 1]!;
    const [b, name] = STAGES[i]!;
    const xs = all.filter((t) => t[a] !== undefined && t[b] !== undefined).map((t) => t[b]! - t[a]!).sort((x, y) => x - y);
    if (xs.length) steps.push({ step: `→ ${name}`, median: percentile(xs, 50), max: xs[xs.length - 1]! });
  }
  const rel = Object.fromEntries(Object.entries(milestones).map(([k, v]) => [k, v - t0]));
  return { replicas, totalMs, stages, steps, milestones: rel };
}

/** Prints a trace as three tables. */
export function printTrace(title: string, t: ApplyTrace): void {
  section(`${title}: ${t.replicas} replicas all Ready in ${(t.totalMs / 1000).toFixed(2)} s (ms since the apply)`);
  print(table(['stage', 'first pod', 'median pod', 'last pod', 'pods'], t.stages.map((s) => [s.stage, Math.round(s.first), Math.round(s.median), Math.round(s.last), s.pods])));
  // Negative: the stage came before the one listed above it (app containers are created while the sandbox starts).
  print(table(['step (per pod)', 'median ms', 'max ms'], t.steps.map((s) => [s.step, Math.round(s.median), Math.round(s.max)])));
  print(table(['milestone', 'ms'], Object.entries(t.milestones).sort((a, b) => a[1] - b[1]).map(([k, v]) => [k, Math.round(v)])));
}
