/**
 * Node lifecycle: a node that stopped showing signs of life for its grace
 * period becomes Ready=Unknown and gets the `unreachable` NoSchedule +
 * NoExecute taints; when it is alive again the taints go (the Ready
 * condition is the agent's to write). A node whose agent reports
 * Ready=False gets the `not-ready` taints the same way.
 *
 * Signs of life, any of: an answer of the agent's liveness server to this
 * process's HTTP/2 PINGs (node-prober.ts, every 500 ms by default, no etcd write), a
 * renewal of its Lease in kube-node-lease, a new Ready heartbeat in its
 * status. A node whose liveness server has answered since this process
 * started is judged on the fast grace (`probeGracePeriodMs`, 3 s: six
 * missed PINGs, see below); one
 * without (an agent with no liveness server, or not reachable from here,
 * or not yet probed after a restart) on the Lease: silent for
 * `nodeMonitorGracePeriodMs` and at least the Lease's own
 * leaseDurationSeconds, so a Lease still valid by its own terms is never
 * overruled. The condition message says which: an agent that is down
 * (connection refused: the host answers) or a host that is silent.
 *
 * Zone disruption (disruption.ts): when every node is unready at once (this
 * process or its network is the likelier culprit, e.g. right after the
 * control plane lost its network) nothing is evicted and the NoExecute
 * taints are lifted; when most of a zone is, evictions are slowed or
 * stopped, as in Kubernetes.
 *
 * Pods on a node with NoExecute taints they do not tolerate are deleted
 * (Event TaintManagerEviction) after their toleration time, so their owners
 * replace them elsewhere.
 *
 * Pods already terminating on an unreachable (or vanished) node can never be
 * finalized by its agent. Like Kubernetes' pod GC for pods on lost nodes,
 * this controller force-deletes them (gracePeriodSeconds 0) once their
 * deletion grace period has run out (their `deletionTimestamp`).
 *
 * Heartbeats are judged by when *this process* saw the Lease change (its
 * clock), never by comparing remote timestamps, so clock skew between hosts
 * does not matter.
 */
import {
  deepCopy,
  getCondition,
  isReason,
  nowTimestamp,
  objectKey,
  setCondition,
  type Condition,
  type Lease,
  type Node,
  type Pod,
  type Taint,
} from '@flotilla/api';
import { Controller, realClock, sleep, type Clock, type EventRecorder, type Informer, type Logger } from '@flotilla/client';
import type { Gauge } from '@flotilla/observability';
import { errMessage, type ControllerDeps } from '../context.js';
import { allFullyDisrupted, DISRUPTION_DEFAULTS, evictionRate, zoneCounts, zoneOf, zoneState, type ZoneState } from './disruption.js';
import { NodeProber, type LivenessSource } from './node-prober.js';
import { evictionDelayMs, hasTaint, noExecuteTaints, TAINT_NOT_READY, TAINT_UNREACHABLE, withTaints } from './taints.js';

/** The Node annotation where an agent advertises its liveness server (the agent's LIVENESS_ENDPOINT_ANNOTATION). */
export const LIVENESS_ENDPOINT_ANNOTATION = 'node.flotilla.io/liveness-endpoint';

/** Namespace of the agents' heartbeat Leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/**
 * PING periods in the probe grace when no period is given: a node is Unknown
 * after this many unanswered PINGs (six: 500 ms at the default 3 s grace).
 */
export const PINGS_PER_PROBE_GRACE = 6;

/**
 * The default PING period for a probe grace: the grace over
 * PINGS_PER_PROBE_GRACE, never under 100 ms. The verdict is the silence
 * since the last answer against the grace; the period only says how old
 * a healthy node's last answer may be (a sixth of the grace leaves the rest
 * for a busy node to answer late). Each PING is a write and a wakeup at both
 * ends per node: at 1,000 nodes and a 10 s grace, 500 ms PINGs cost this
 * process 17 ms of CPU a second and the nodes 10 ms more than 1 s PINGs.
 */
export function defaultProbeIntervalMs(graceMs: number): number {
  return Math.max(100, Math.round(graceMs / PINGS_PER_PROBE_GRACE));
}

/** Options of the node lifecycle controller besides the shared dependencies. */
export interface NodeLifecycleOptions extends ControllerDeps {
  /**
   * A node judged on its Lease (no liveness server answering) is Unknown after
   * this much silence, and never before its Lease's leaseDurationSeconds ran
   * out. Default 8 s (Kubernetes: 40 s).
   */
  nodeMonitorGracePeriodMs?: number;
  /**
   * A node whose liveness server answers PINGs is Unknown after this much
   * silence. Default 3 s, six PING periods: on this 2-core machine at load
   * 25–31 (chaos under load, another cluster's trials beside it), 9 of 3,841
   * answer gaps of healthy nodes were between 2 and 3 s and none longer, so
   * 2 s declared busy nodes lost and 3 s did not.
   */
  probeGracePeriodMs?: number;
  /**
   * PING period per node. Default: the grace over PINGS_PER_PROBE_GRACE
   * (500 ms at the default 3 s), so a longer grace, chosen for busy nodes,
   * does not keep a PING rate it no longer needs.
   */
  probeIntervalMs?: number;
  /** The fast liveness source: the HTTP/2 prober by default; false for Lease only (tests, or no network path to the nodes). */
  liveness?: LivenessSource | false;
  /**
   * How long pods without their own toleration stay on an unreachable node.
   * Default 1 s (Kubernetes: 300 s). Not 0: when this process loses its own
   * network every node falls silent, but their verdicts flip over one PING
   * period plus a monitor pass (750 ms); the second is what lets master
   * disruption be seen before the first node is emptied.
   */
  defaultUnreachableTolerationSeconds?: number;
  /** Zone disruption (Kubernetes' flags of the same names). */
  unhealthyZoneThreshold?: number;
  largeClusterSizeThreshold?: number;
  secondaryNodeEvictionRate?: number;
  /** The same for a node whose agent reports Ready=False. Default: the unreachable value. */
  defaultNotReadyTolerationSeconds?: number;
}

/** Whether a node shows signs of life, how long it has been silent, against which grace, and judged on which signal. */
export interface NodeSilence {
  alive: boolean;
  silentForMs: number;
  graceMs: number;
  cause: 'agent-down' | 'silent' | 'lease';
}

/** The last signs of life seen of a node: its Lease's renewal, its Ready heartbeat, and when either last changed. */
interface Heartbeat {
  lease?: string;
  status?: string;
  at: number;
}

/** The conditions Kubernetes turns Unknown when the agent goes silent. */
const AGENT_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

/**
 * Pods evicted at once from lost nodes, as by Kubernetes' taint eviction
 * controller (8 workers): with 2, at 150,000 pods, a lost node's 30 pods
 * were evicted one API round-trip after another over 4.2 s, of the 6.6 s
 * from its verdict to its pods Running elsewhere.
 */
const EVICTION_WORKERS = 8;

/** Watches node heartbeats, taints silent nodes and evicts the pods that do not tolerate it. */
export class NodeLifecycleController {
  /** Reconciles nodes (key: node name). */
  readonly nodeController: Controller;
  /** Reconciles pods on tainted nodes (key: namespace/name). */
  readonly podController: Controller;
  private readonly nodes: Informer<Node>;
  private readonly leases: Informer<Lease>;
  private readonly pods: Informer<Pod>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly recorder: EventRecorder;
  private readonly graceMs: number;
  private readonly defaults: Record<string, number>;
  /** Local time at which each node's heartbeat was last seen to change. */
  private readonly heartbeats = new Map<string, Heartbeat>();
  /**
   * What the monitor reads of each node, taken from the informer's events:
   * a pass over 5,000 nodes then touches no Node object (their conditions
   * and labels), several times a second.
   */
  private readonly monitored = new Map<string, { zone: string; readyFalse: boolean }>();
  /** Local time at which each pod was first seen on a node with NoExecute taints. */
  private readonly taintedSince = new Map<string, { node: string; at: number }>();
  private readonly probeGraceMs: number;
  /** The PING period per node in use (given, or derived from the grace). */
  readonly probeIntervalMs: number;
  /** The fast signal (undefined: Lease only). */
  readonly liveness: LivenessSource | undefined;
  /** Each node's last verdict of the monitor (true = alive), to enqueue only on a change. */
  private readonly verdicts = new Map<string, boolean>();
  /** Zone states from the last monitor pass. */
  private zoneStates = new Map<string, ZoneState>();
  private zoneSizes = new Map<string, number>();
  /** True while every zone is fully disrupted: nothing is evicted. */
  private masterDisruption = false;
  /** Grace periods start no earlier than this (set when master disruption ends, as Kubernetes resets its probe timestamps). */
  private graceResetAt = 0;
  /** Per zone in partial disruption: local time the next node may get NoExecute taints. */
  private readonly nextTaintAt = new Map<string, number>();
  /** Local time this process put NoExecute taints on a node: the eviction clock starts then, not when the informer shows them. */
  private readonly taintedAt = new Map<string, number>();
  /** Nodes already re-probed after we marked them Unknown (local time), so the agent re-posts its status. */
  private readonly reprobed = new Map<string, number>();

  constructor(private readonly deps: NodeLifecycleOptions) {
    this.clock = deps.clock ?? realClock;
    this.log = deps.logger;
    this.recorder = deps.recorder;
    this.graceMs = deps.nodeMonitorGracePeriodMs ?? 8_000;
    this.probeGraceMs = deps.probeGracePeriodMs ?? 3_000;
    this.probeIntervalMs = deps.probeIntervalMs ?? defaultProbeIntervalMs(this.probeGraceMs);
    this.liveness = deps.liveness === false ? undefined : (deps.liveness ?? new NodeProber({ intervalMs: this.probeIntervalMs, graceMs: this.probeGraceMs, clock: this.clock, log: deps.logger, ...(deps.metrics ? { metrics: deps.metrics.registry } : {}) }));
    const unreachable = deps.defaultUnreachableTolerationSeconds ?? 1;
    this.defaults = { [TAINT_UNREACHABLE]: unreachable, [TAINT_NOT_READY]: deps.defaultNotReadyTolerationSeconds ?? unreachable };
    this.nodes = deps.informers.informer<Node>('nodes');
    this.leases = deps.informers.informer<Lease>('leases', { namespace: NODE_LEASE_NAMESPACE });
    this.pods = deps.informers.informer<Pod>('pods');
    const informers = [this.nodes, this.leases, this.pods];
    const wrap = (name: string, fn: (key: string) => Promise<{ requeueAfter?: number } | void>) =>
      deps.metrics ? deps.metrics.instrument(name, fn) : fn;
    this.nodeController = new Controller({
      name: 'node-lifecycle',
      reconcile: wrap('node-lifecycle', (key) => this.syncNode(key)),
      informers,
      workers: deps.workers ?? 2,
      logger: deps.logger,
      clock: this.clock,
    });
    this.podController = new Controller({
      name: 'node-lifecycle-eviction',
      reconcile: wrap('node-lifecycle-eviction', (key) => this.syncPod(key)),
      informers,
      workers: deps.workers ?? EVICTION_WORKERS,
      logger: deps.logger,
      clock: this.clock,
    });
    deps.metrics?.watchQueue('node-lifecycle', this.nodeController.queue);
    deps.metrics?.watchQueue('node-lifecycle-eviction', this.podController.queue);

    this.nodes.addEventHandler({
      onAdd: (n) => {
        this.remember(n);
        this.heartbeat(n.metadata.name!, { status: readyHeartbeat(n) });
        this.liveness?.setEndpoint(n.metadata.name!, n.metadata.annotations?.[LIVENESS_ENDPOINT_ANNOTATION]);
        this.nodeController.enqueue(n);
      },
      onUpdate: (old, n) => {
        this.remember(n);
        this.heartbeat(n.metadata.name!, { status: readyHeartbeat(n) });
        this.liveness?.setEndpoint(n.metadata.name!, n.metadata.annotations?.[LIVENESS_ENDPOINT_ANNOTATION]);
        this.nodeController.enqueue(n);
        if (JSON.stringify(old.spec?.taints ?? []) !== JSON.stringify(n.spec?.taints ?? [])) this.enqueuePodsOn(n.metadata.name!);
      },
      onDelete: (n) => {
        this.monitored.delete(n.metadata.name!);
        this.heartbeats.delete(n.metadata.name!);
        this.verdicts.delete(n.metadata.name!);
        this.taintedAt.delete(n.metadata.name!);
        this.reprobed.delete(n.metadata.name!);
        this.liveness?.forget(n.metadata.name!);
        this.enqueuePodsOn(n.metadata.name!);
      },
    });
    this.leases.addEventHandler({
      onAdd: (l) => this.onLease(l),
      onUpdate: (_o, l) => this.onLease(l),
    });
    this.pods.addEventHandler({
      onAdd: (p) => this.onPod(p),
      onUpdate: (_o, p) => this.onPod(p),
      onDelete: (p) => this.taintedSince.delete(objectKey(p)),
    });
  }

  /** Runs both work queues, the prober and the monitor until `signal` aborts (informers must be started by the caller). */
  async run(signal: AbortSignal): Promise<void> {
    if (this.liveness) this.log.info({ probeIntervalMs: this.probeIntervalMs, probeGraceMs: this.probeGraceMs }, 'node liveness: a PING to every node each interval, Unknown after the grace without an answer');
    await Promise.all([this.nodeController.run(signal), this.podController.run(signal), this.liveness?.run(signal), this.monitor(signal)]);
  }

  /**
   * Every half probe interval: each node's verdict and each zone's state;
   * a node is enqueued only when its verdict or its zone's state changed
   * (level-triggered syncs, but not 5,000 of them a second).
   */
  private async monitor(signal: AbortSignal): Promise<void> {
    const period = Math.max(50, Math.floor(this.probeIntervalMs / 2));
    if (!(await this.nodes.waitForSync(signal))) return;
    while (!signal.aborted) {
      try {
        this.monitorOnce();
      } catch (err) {
        this.log.warn({ err: errMessage(err) }, 'node monitor pass failed');
      }
      await sleep(this.clock, period, signal);
    }
  }

  /** Keeps what monitorOnce reads of a node (on every add and update). */
  private remember(node: Node): void {
    this.monitored.set(node.metadata.name!, { zone: zoneOf(node), readyFalse: getCondition(node.status?.conditions, 'Ready')?.status === 'False' });
  }

  /** One monitor pass (exposed for tests). */
  monitorOnce(): void {
    const now = this.clock.now();
    const entries: Array<{ name: string; zone: string; ready: boolean; alive: boolean }> = [];
    for (const [name, facts] of this.monitored) {
      // Heartbeats are added and removed with `monitored`, by the Node informer's handlers.
      const alive = this.silence(name, this.heartbeats.get(name)!, now).alive;
      const ready = alive && !facts.readyFalse;
      entries.push({ name, zone: facts.zone, ready, alive });
      if (this.verdicts.get(name) !== alive) {
        this.verdicts.set(name, alive);
        this.nodeController.enqueue(name);
      }
    }
    const counts = zoneCounts(entries);
    const states = new Map([...counts].map(([z, c]) => [z, zoneState(c.ready, c.notReady, this.deps.unhealthyZoneThreshold)] as const));
    const changed = new Set([...states].filter(([z, s]) => this.zoneStates.get(z) !== s).map(([z]) => z));
    for (const [z, s] of states) if (changed.has(z)) this.log.info({ zone: z || '(none)', state: s, ...counts.get(z) }, 'zone state changed');
    const master = allFullyDisrupted(states);
    if (master !== this.masterDisruption) {
      this.masterDisruption = master;
      if (master) this.log.warn({ nodes: entries.length }, 'every node is unready: master disruption mode, no evictions');
      else {
        // As Kubernetes: every node gets a fresh grace period once the control plane sees nodes again.
        this.graceResetAt = now;
        this.log.info({ nodes: entries.length }, 'nodes are ready again: leaving master disruption mode');
      }
      for (const e of entries) this.nodeController.enqueue(e.name);
    } else if (changed.size > 0) {
      for (const e of entries) if (changed.has(e.zone)) this.nodeController.enqueue(e.name);
    }
    this.zoneStates = states;
    this.zoneSizes = new Map([...counts].map(([z, c]) => [z, c.ready + c.notReady]));
    this.report(entries.length, entries.filter((e) => !e.alive).length);
  }

  /** Gauges: nodes per verdict and probe state, master disruption. */
  private report(nodes: number, silent: number): void {
    const registry = this.deps.metrics?.registry;
    if (!registry) return;
    this.gauges ??= {
      nodes: registry.gauge('node_lifecycle_nodes', 'Nodes by liveness verdict of the node-lifecycle controller.'),
      probes: registry.gauge('node_liveness_probes', 'Nodes by state of their liveness probe (HTTP/2 PING).'),
      master: registry.gauge('node_lifecycle_master_disruption', '1 while every zone is fully disrupted (no evictions).'),
    };
    this.gauges.nodes.set(nodes - silent, { verdict: 'alive' });
    this.gauges.nodes.set(silent, { verdict: 'silent' });
    this.gauges.master.set(this.masterDisruption ? 1 : 0);
    const counts = this.liveness instanceof NodeProber ? this.liveness.counts() : undefined;
    for (const [state, n] of Object.entries(counts ?? {})) this.gauges.probes.set(n, { state });
  }
  private gauges: { nodes: Gauge; probes: Gauge; master: Gauge } | undefined;

  /** Whether this node may get NoExecute taints now (zone disruption rules); consumes the partial-disruption budget. */
  private mayTaintNoExecute(node: Node, alreadyTainted: boolean): boolean {
    if (this.masterDisruption) return false;
    if (alreadyTainted) return true;
    const zone = zoneOf(node);
    const rate = evictionRate(this.zoneStates.get(zone) ?? 'Normal', this.zoneSizes.get(zone) ?? 0, this.deps);
    if (rate === Number.POSITIVE_INFINITY) return true;
    if (rate <= 0) return false;
    const now = this.clock.now();
    if (now < (this.nextTaintAt.get(zone) ?? 0)) return false;
    this.nextTaintAt.set(zone, now + 1000 / rate);
    return true;
  }

  /** Whether the node shows signs of life, judged on the fast signal when it has one. */
  health(node: Node, now = this.clock.now()): NodeSilence {
    const name = node.metadata.name!;
    // First sight (a node not yet seen by the informer's handlers) starts its grace now.
    const hb = this.heartbeats.get(name) ?? this.heartbeat(name, { status: readyHeartbeat(node) });
    return this.silence(name, hb, now);
  }

  /** health() of a node, given its recorded heartbeat. */
  private silence(name: string, hb: Heartbeat, now: number): NodeSilence {
    const probe = this.liveness?.view(name);
    let last = Math.max(hb.at, this.graceResetAt);
    if (probe?.everAnswered) {
      last = Math.max(last, probe.lastAnswer ?? 0);
      const silentForMs = now - last;
      return { alive: silentForMs < this.probeGraceMs, silentForMs, graceMs: this.probeGraceMs, cause: probe.state === 'refused' ? 'agent-down' : 'silent' };
    }
    const leaseMs = (this.leases.store.get(`${NODE_LEASE_NAMESPACE}/${name}`)?.spec?.leaseDurationSeconds ?? 0) * 1000;
    const graceMs = Math.max(this.graceMs, leaseMs);
    const silentForMs = now - last;
    return { alive: silentForMs < graceMs, silentForMs, graceMs, cause: 'lease' };
  }

  /** True while every zone is fully disrupted (no evictions). */
  get inMasterDisruption(): boolean {
    return this.masterDisruption;
  }

  private onLease(lease: Lease): void {
    const name = lease.metadata.name!;
    this.heartbeat(name, { lease: lease.spec?.renewTime ?? lease.metadata.resourceVersion });
    if (this.nodes.store.get(name)) this.nodeController.enqueue(name);
  }

  private onPod(pod: Pod): void {
    const node = pod.spec?.nodeName;
    if (!node) return;
    const n = this.nodes.store.get(node);
    // Only pods that can need action: on a NoExecute-tainted node, or terminating, or on a node we do not know.
    if (!n || noExecuteTaints(n).length > 0 || pod.metadata.deletionTimestamp) this.podController.enqueue(pod);
  }

  private enqueuePodsOn(node: string): void {
    for (const p of this.pods.store.byNodeName(node)) this.podController.enqueue(p);
  }

  /** Records a heartbeat when the Lease renewal or the agent's Ready heartbeat changed (or on first sight). */
  private heartbeat(node: string, seen: { lease?: string; status?: string }): Heartbeat {
    const prev = this.heartbeats.get(node);
    const now = this.clock.now();
    if (!prev) {
      // First sight (also after a restart or a leadership change): the grace period starts now.
      const hb = { ...seen, at: now };
      this.heartbeats.set(node, hb);
      return hb;
    }
    const changed = (seen.lease !== undefined && seen.lease !== prev.lease) || (seen.status !== undefined && seen.status !== prev.status);
    if (seen.lease !== undefined) prev.lease = seen.lease;
    if (seen.status !== undefined) prev.status = seen.status;
    if (changed) prev.at = now;
    return prev;
  }

  /** One node: Unknown + unreachable taints when silent; taints off when it is back. */
  async syncNode(name: string): Promise<{ requeueAfter?: number } | void> {
    const node = this.nodes.store.get(name);
    if (!node) return;
    const now = this.clock.now();
    const h = this.health(node, now);
    const ready = getCondition(node.status?.conditions, 'Ready');
    if (!h.alive) {
      const turned = ready?.status !== 'Unknown';
      const evict = this.mayTaintNoExecute(node, hasTaint(node, TAINT_UNREACHABLE, 'NoExecute'));
      const wanted = unreachableTaints(now).filter((t) => evict || t.effect !== 'NoExecute');
      // The taint first: evictions wait for it to reach the informer, and on a loaded apiserver each write here costs up to a second.
      const cur = await this.setTaints(node, [TAINT_NOT_READY, TAINT_UNREACHABLE], wanted, now);
      if (turned) await this.markUnknown(cur, h);
      // After the taint: on a node with many pods these writes would otherwise delay the evictions' clock.
      if (turned) await this.markPodsNotReady(name);
      // In partial disruption the budget refills: look again then. Otherwise the monitor wakes us.
      return evict ? undefined : { requeueAfter: Math.max(this.probeIntervalMs, 1000) };
    }
    if (ready?.status === 'Unknown' && this.liveness?.view(name)?.everAnswered) {
      // Alive again after we marked it Unknown: a fresh probe session makes the agent re-post its status.
      const last = this.reprobed.get(name) ?? 0;
      if (now - last >= this.probeGraceMs) {
        this.reprobed.set(name, now);
        this.liveness.reconnect(name);
      }
    }
    if (ready?.status === 'False') {
      const evict = this.mayTaintNoExecute(node, hasTaint(node, TAINT_NOT_READY, 'NoExecute'));
      await this.setTaints(node, [TAINT_UNREACHABLE, TAINT_NOT_READY], notReadyTaints(now).filter((t) => evict || t.effect !== 'NoExecute'));
    } else await this.setTaints(node, [TAINT_UNREACHABLE, TAINT_NOT_READY], []);
    // Lease-only nodes: look again right when the grace period would run out (the monitor would too, a little later).
    return this.liveness?.view(name)?.everAnswered ? undefined : { requeueAfter: h.graceMs - h.silentForMs + 1 };
  }

  /** Turns the agent's conditions Unknown, marks its pods not ready, and records NodeNotReady. */
  private async markUnknown(node: Node, h: { silentForMs: number; cause: 'agent-down' | 'silent' | 'lease' }): Promise<Node> {
    const next = deepCopy(node) as Node;
    const stamp = nowTimestamp(new Date(this.clock.now()));
    next.status ??= {};
    const conditions = next.status.conditions ?? [];
    const types = new Set([...conditions.map((c) => c.type).filter((t) => AGENT_CONDITIONS.includes(t)), 'Ready']);
    for (const type of types) {
      const prev = getCondition(conditions, type);
      const cond: Condition = {
        type,
        status: 'Unknown',
        reason: 'NodeStatusUnknown',
        message: unknownMessage(h.cause),
        lastHeartbeatTime: prev?.lastHeartbeatTime,
        lastTransitionTime: stamp,
      };
      if (!cond.lastHeartbeatTime) delete cond.lastHeartbeatTime;
      setCondition(conditions, cond, stamp);
    }
    next.status.conditions = conditions;
    const updated = (await this.deps.client.resource<Node>('nodes').updateStatus(next)) as Node;
    this.log.info({ node: node.metadata.name, cause: h.cause, silentForMs: h.silentForMs }, 'node stopped heartbeating; Ready=Unknown');
    this.recorder.event(node, 'Normal', 'NodeNotReady', `Node ${node.metadata.name} status is now: NodeNotReady`);
    return updated;
  }

  /** Sets Ready=False on the node's pods so Services stop sending them traffic before they are evicted. */
  private async markPodsNotReady(node: string): Promise<void> {
    const pods = this.deps.client.resource<Pod>('pods');
    for (const pod of this.pods.store.byNodeName(node)) {
      if (getCondition(pod.status?.conditions, 'Ready')?.status !== 'True') continue;
      const next = deepCopy(pod) as Pod;
      next.status ??= {};
      next.status.conditions = setCondition(next.status.conditions, { type: 'Ready', status: 'False', reason: 'NodeNotReady' } as Condition, nowTimestamp(new Date(this.clock.now())));
      try {
        await pods.updateStatus(next);
      } catch (err) {
        // Best effort: eviction follows anyway.
        if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) this.log.warn({ pod: objectKey(pod), err: errMessage(err) }, 'could not mark pod not ready');
      }
    }
  }

  /** Makes the node's taints with keys in `remove` exactly `wanted` (added at local time `addedAt`); writes only on a change. Returns the node as stored. */
  private async setTaints(node: Node, remove: string[], wanted: Taint[], addedAt = this.clock.now()): Promise<Node> {
    const keys = [...new Set([...remove, ...wanted.map((t) => t.key)])];
    const current = node.spec?.taints ?? [];
    const next = withTaints(current, keys, wanted);
    const sig = (ts: readonly Taint[]) => JSON.stringify(ts.map((t) => [t.key, t.value ?? '', t.effect]).sort());
    if (sig(current) === sig(next)) return node;
    const obj = deepCopy(node) as Node;
    obj.spec = { ...obj.spec, taints: next };
    if (next.length === 0) delete obj.spec.taints;
    const updated = (await this.deps.client.resource<Node>('nodes').update(obj)) as Node;
    const name = node.metadata.name!;
    if (next.some((t) => t.effect === 'NoExecute')) {
      // The eviction clock starts at the taint's timeAdded (the verdict), as Kubernetes' taint manager counts, not when the write returned.
      if (!current.some((t) => t.effect === 'NoExecute')) this.taintedAt.set(name, Math.min(this.clock.now(), addedAt));
    } else this.taintedAt.delete(name);
    this.log.info({ node: node.metadata.name, taints: next.map((t) => `${t.key}:${t.effect}`) }, 'node taints updated');
    return updated;
  }

  /** One pod: evict it when its toleration of the node's NoExecute taints ran out; force-delete it when stuck on a lost node. */
  async syncPod(key: string): Promise<{ requeueAfter?: number } | void> {
    const pod = this.pods.store.get(key);
    const nodeName = pod?.spec?.nodeName;
    if (!pod || !nodeName) {
      this.taintedSince.delete(key);
      return;
    }
    const node = this.nodes.store.get(nodeName);
    const now = this.clock.now();
    if (pod.metadata.deletionTimestamp) {
      this.taintedSince.delete(key);
      const lost = !node ? await this.nodeGone(nodeName) : hasTaint(node, TAINT_UNREACHABLE, 'NoExecute') && !this.masterDisruption;
      if (!lost) return;
      const due = Date.parse(pod.metadata.deletionTimestamp);
      if (Number.isFinite(due) && now < due) return { requeueAfter: due - now };
      await this.deletePod(pod, { gracePeriodSeconds: 0 });
      this.log.info({ pod: key, node: nodeName }, 'force-deleted pod stuck terminating on a lost node');
      return;
    }
    const taints = noExecuteTaints(node);
    if (taints.length === 0) {
      this.taintedSince.delete(key);
      return;
    }
    // Every node unready at once: our view is suspect, evict nothing (the taints are being lifted).
    if (this.masterDisruption) {
      this.taintedSince.delete(key);
      return { requeueAfter: Math.max(this.probeIntervalMs, 1000) };
    }
    const delay = evictionDelayMs(pod.spec?.tolerations, taints, this.defaults);
    if (delay === undefined) return;
    let since = this.taintedSince.get(key);
    if (!since || since.node !== nodeName) {
      since = { node: nodeName, at: Math.min(now, this.taintedAt.get(nodeName) ?? now) };
      this.taintedSince.set(key, since);
    }
    const due = since.at + delay;
    if (now < due) return { requeueAfter: due - now };
    this.recorder.event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`);
    await this.deletePod(pod, {});
    this.taintedSince.delete(key);
    this.log.info({ pod: key, node: nodeName, taints: taints.map((t) => t.key) }, 'evicted pod from tainted node');
  }

  /** True when the node no longer exists (checked live, the cache may lag). */
  private async nodeGone(name: string): Promise<boolean> {
    try {
      await this.deps.client.resource<Node>('nodes').get(undefined, name);
      return false;
    } catch (err) {
      if (isReason(err, 'NotFound')) return true;
      throw err;
    }
  }

  private async deletePod(pod: Pod, options: { gracePeriodSeconds?: number }): Promise<void> {
    try {
      await this.deps.client.resource<Pod>('pods').delete(pod.metadata.namespace, pod.metadata.name!, { ...options, preconditions: { uid: pod.metadata.uid } });
    } catch (err) {
      // Already gone, or a namesake with another uid: nothing of ours left to delete.
      if (isReason(err, 'NotFound') || (isReason(err, 'Conflict') && /UID/i.test(errMessage(err)))) return;
      throw err;
    }
  }
}

/** The Ready=Unknown message: Kubernetes' words, plus what the fast signal saw. */
function unknownMessage(cause: 'agent-down' | 'silent' | 'lease'): string {
  if (cause === 'agent-down') return 'Kubelet stopped posting node status. The node agent is not running (its liveness port refuses connections; the host answers).';
  if (cause === 'silent') return 'Kubelet stopped posting node status. The node does not answer (host down or network cut).';
  return 'Kubelet stopped posting node status.';
}

/** The agent's own heartbeat in the node status, used as well as the Lease (either proves liveness). */
function readyHeartbeat(node: Node): string | undefined {
  const ready = getCondition(node.status?.conditions, 'Ready');
  // Our own Unknown write keeps lastHeartbeatTime, so it never counts as a heartbeat.
  return ready?.status === 'Unknown' ? undefined : ready?.lastHeartbeatTime;
}

function unreachableTaints(now: number): Taint[] {
  const timeAdded = nowTimestamp(new Date(now));
  return [
    { key: TAINT_UNREACHABLE, effect: 'NoSchedule', timeAdded },
    { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded },
  ];
}

function notReadyTaints(now: number): Taint[] {
  const timeAdded = nowTimestamp(new Date(now));
  return [
    { key: TAINT_NOT_READY, effect: 'NoSchedule', timeAdded },
    { key: TAINT_NOT_READY, effect: 'NoExecute', timeAdded },
  ];
}
