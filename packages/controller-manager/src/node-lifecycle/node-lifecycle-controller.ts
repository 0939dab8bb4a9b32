/**
 * Node lifecycle: a node whose agent stopped renewing its Lease in
 * kube-node-lease for the grace period becomes Ready=Unknown and gets the
 * `unreachable` NoSchedule + NoExecute taints; when it heartbeats again the
 * taints go (the Ready condition is the agent's to write). A node whose agent
 * reports Ready=False gets the `not-ready` taints the same way.
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
import { Controller, realClock, type Clock, type EventRecorder, type Informer, type Logger } from '@flotilla/client';
import { errMessage, type ControllerDeps } from '../context.js';
import { evictionDelayMs, hasTaint, noExecuteTaints, TAINT_NOT_READY, TAINT_UNREACHABLE, withTaints } from './taints.js';

/** Namespace of the agents' heartbeat Leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Options of the node lifecycle controller besides the shared dependencies. */
export interface NodeLifecycleOptions extends ControllerDeps {
  /** A node whose Lease was not renewed for this long is Unknown. Default 8 s (Kubernetes: 40 s). */
  nodeMonitorGracePeriodMs?: number;
  /** How long pods without their own toleration stay on an unreachable node. Default 5 s (Kubernetes: 300 s). */
  defaultUnreachableTolerationSeconds?: number;
  /** The same for a node whose agent reports Ready=False. Default: the unreachable value. */
  defaultNotReadyTolerationSeconds?: number;
}

/** The conditions Kubernetes turns Unknown when the agent goes silent. */
const AGENT_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

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
  private readonly heartbeats = new Map<string, { lease?: string; status?: string; at: number }>();
  /** Local time at which each pod was first seen on a node with NoExecute taints. */
  private readonly taintedSince = new Map<string, { node: string; at: number }>();

  constructor(private readonly deps: NodeLifecycleOptions) {
    this.clock = deps.clock ?? realClock;
    this.log = deps.logger;
    this.recorder = deps.recorder;
    this.graceMs = deps.nodeMonitorGracePeriodMs ?? 8_000;
    const unreachable = deps.defaultUnreachableTolerationSeconds ?? 5;
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
      workers: deps.workers ?? 2,
      logger: deps.logger,
      clock: this.clock,
    });
    deps.metrics?.watchQueue('node-lifecycle', this.nodeController.queue);
    deps.metrics?.watchQueue('node-lifecycle-eviction', this.podController.queue);

    this.nodes.addEventHandler({
      onAdd: (n) => {
        this.heartbeat(n.metadata.name!, { status: readyHeartbeat(n) });
        this.nodeController.enqueue(n);
      },
      onUpdate: (old, n) => {
        this.heartbeat(n.metadata.name!, { status: readyHeartbeat(n) });
        this.nodeController.enqueue(n);
        if (JSON.stringify(old.spec?.taints ?? []) !== JSON.stringify(n.spec?.taints ?? [])) this.enqueuePodsOn(n.metadata.name!);
      },
      onDelete: (n) => {
        this.heartbeats.delete(n.metadata.name!);
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

  /** Runs both work queues until `signal` aborts (informers must be started by the caller). */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.nodeController.run(signal), this.podController.run(signal)]);
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
  private heartbeat(node: string, seen: { lease?: string; status?: string }): void {
    const prev = this.heartbeats.get(node);
    const now = this.clock.now();
    if (!prev) {
      // First sight (also after a restart or a leadership change): the grace period starts now.
      this.heartbeats.set(node, { ...seen, at: now });
      return;
    }
    const changed = (seen.lease !== undefined && seen.lease !== prev.lease) || (seen.status !== undefined && seen.status !== prev.status);
    if (seen.lease !== undefined) prev.lease = seen.lease;
    if (seen.status !== undefined) prev.status = seen.status;
    if (changed) prev.at = now;
  }

  /** One node: Unknown + unreachable taints when silent; taints off when it is back. */
  async syncNode(name: string): Promise<{ requeueAfter?: number } | void> {
    const node = this.nodes.store.get(name);
    if (!node) return;
    let hb = this.heartbeats.get(name);
    if (!hb) {
      this.heartbeat(name, { status: readyHeartbeat(node) });
      hb = this.heartbeats.get(name)!;
    }
    const now = this.clock.now();
    const silentFor = now - hb.at;
    const ready = getCondition(node.status?.conditions, 'Ready');
    if (silentFor >= this.graceMs) {
      let cur = node;
      if (ready?.status !== 'Unknown') cur = await this.markUnknown(node);
      await this.setTaints(cur, [TAINT_NOT_READY], unreachableTaints(now));
      // Heartbeats wake us up through the informer; nothing to poll.
      return;
    }
    if (ready?.status === 'False') await this.setTaints(node, [TAINT_UNREACHABLE], notReadyTaints(now));
    else await this.setTaints(node, [TAINT_UNREACHABLE, TAINT_NOT_READY], []);
    // Look again right when the grace period would run out.
    return { requeueAfter: this.graceMs - silentFor + 1 };
  }

  /** Turns the agent's conditions Unknown, marks its pods not ready, and records NodeNotReady. */
  private async markUnknown(node: Node): Promise<Node> {
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
        message: 'Kubelet stopped posting node status.',
        lastHeartbeatTime: prev?.lastHeartbeatTime,
        lastTransitionTime: stamp,
      };
      if (!cond.lastHeartbeatTime) delete cond.lastHeartbeatTime;
      setCondition(conditions, cond, stamp);
    }
    next.status.conditions = conditions;
    const updated = (await this.deps.client.resource<Node>('nodes').updateStatus(next)) as Node;
    this.log.info({ node: node.metadata.name, graceMs: this.graceMs }, 'node stopped heartbeating; Ready=Unknown');
    this.recorder.event(node, 'Normal', 'NodeNotReady', `Node ${node.metadata.name} status is now: NodeNotReady`);
    await this.markPodsNotReady(node.metadata.name!);
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

  /** Makes the node's taints with keys in `remove` exactly `wanted`; writes only on a change. */
  private async setTaints(node: Node, remove: string[], wanted: Taint[]): Promise<void> {
    const keys = [...new Set([...remove, ...wanted.map((t) => t.key)])];
    const current = node.spec?.taints ?? [];
    const next = withTaints(current, keys, wanted);
    const sig = (ts: readonly Taint[]) => JSON.stringify(ts.map((t) => [t.key, t.value ?? '', t.effect]).sort());
    if (sig(current) === sig(next)) return;
    const obj = deepCopy(node) as Node;
    obj.spec = { ...obj.spec, taints: next };
    if (next.length === 0) delete obj.spec.taints;
    await this.deps.client.resource<Node>('nodes').update(obj);
    this.log.info({ node: node.metadata.name, taints: next.map((t) => `${t.key}:${t.effect}`) }, 'node taints updated');
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
      const lost = !node ? await this.nodeGone(nodeName) : hasTaint(node, TAINT_UNREACHABLE, 'NoExecute');
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
    const delay = evictionDelayMs(pod.spec?.tolerations, taints, this.defaults);
    if (delay === undefined) return;
    let since = this.taintedSince.get(key);
    if (!since || since.node !== nodeName) {
      since = { node: nodeName, at: now };
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
