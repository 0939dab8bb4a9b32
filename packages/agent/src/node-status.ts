/**
 * Registers the agent's Node and keeps its status fresh: capacity and
 * allocatable from the host (or flags), labels, addresses, nodeInfo, the
 * log server's port and the Ready condition with a heartbeat. The Node is
 * written on start, then every interval (the Lease is the fast heartbeat).
 */
import { formatMemory, isReason, nowTimestamp, setCondition, type Condition, type Node, type NodeStatus } from '@flotilla/api';
import type { ApiClient, ResourceClient } from '@flotilla/client';
import type { Logger } from '@flotilla/observability';
import type { HostInfo } from './runtime/types.js';

/** What the Node object is built from. */
export interface NodeFacts {
  nodeName: string;
  nodeIP: string;
  podCIDR?: string;
  cpus?: number;
  memoryBytes?: number;
  maxPods: number;
  /** Port of the log server (daemonEndpoints.kubeletEndpoint.Port); 0 when none runs. */
  logPort: number;
  /** Annotations the agent owns on its Node: a value sets it, undefined removes it (e.g. the liveness endpoint). */
  annotations?: Record<string, string | undefined>;
  host: HostInfo;
}

/** The agent's version, reported as kubeletVersion. */
export const AGENT_VERSION = 'v1.32.0-flotilla';

/** The labels, spec and status the agent owns on its Node. */
export function desiredNode(f: NodeFacts, previous?: Node, now: string = nowTimestamp()): Node {
  const cpus = f.cpus ?? f.host.cpus;
  const memory = f.memoryBytes ?? f.host.memoryBytes;
  const capacity = { cpu: String(cpus), memory: formatMemory(memory), pods: String(f.maxPods) };
  const conditions: Condition[] = (previous?.status?.conditions ?? []).map((c) => ({ ...c }));
  setCondition(conditions, { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'agent is posting ready status', lastHeartbeatTime: now }, now);
  for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) {
    setCondition(conditions, { type, status: 'False', reason: `KubeletHasNo${type}`, message: `agent has no ${type.replace('Pressure', '').toLowerCase()} pressure`, lastHeartbeatTime: now }, now);
  }
  const status: NodeStatus = {
    ...(previous?.status ?? {}),
    capacity,
    allocatable: { ...capacity },
    conditions,
    addresses: [
      { type: 'InternalIP', address: f.nodeIP },
      { type: 'Hostname', address: f.nodeName },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: f.logPort } },
    nodeInfo: {
      kernelVersion: f.host.kernel,
      osImage: f.host.os,
      containerRuntimeVersion: `docker://${f.host.dockerVersion}`,
      kubeletVersion: AGENT_VERSION,
      kubeProxyVersion: AGENT_VERSION,
      operatingSystem: 'linux',
      architecture: f.host.architecture === 'x86_64' ? 'amd64' : f.host.architecture === 'aarch64' ? 'arm64' : f.host.architecture,
    },
  };
  const labels = {
    ...(previous?.metadata.labels ?? {}),
    'kubernetes.io/hostname': f.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': status.nodeInfo!.architecture!,
    'beta.kubernetes.io/os': 'linux',
  };
  const annotations: Record<string, string> = { ...(previous?.metadata.annotations ?? {}) };
  for (const [k, v] of Object.entries(f.annotations ?? {})) {
    if (v === undefined) delete annotations[k];
    else annotations[k] = v;
  }
  const spec = { ...(previous?.spec ?? {}) };
  if (f.podCIDR && !spec.podCIDR) {
    spec.podCIDR = f.podCIDR;
    spec.podCIDRs = [f.podCIDR];
  }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: withAnnotations({ ...(previous?.metadata ?? {}), name: f.nodeName, labels }, annotations),
    spec,
    status,
  };
}

/** `metadata` with exactly these annotations (none: no annotations field). */
function withAnnotations(metadata: Node['metadata'], annotations: Record<string, string>): Node['metadata'] {
  const out = { ...metadata };
  if (Object.keys(annotations).length) out.annotations = annotations;
  else delete out.annotations;
  return out;
}

/** The status without its heartbeat times: what "changed" means for a status write. */
function statusSignature(status: NodeStatus | undefined): string {
  const conditions = (status?.conditions ?? []).map(({ lastHeartbeatTime: _h, lastTransitionTime: _t, ...c }) => c).sort((a, b) => a.type.localeCompare(b.type));
  return JSON.stringify({ ...status, conditions });
}

/**
 * How much earlier than `reportIntervalMs` an unchanged status may be
 * written, at random per write: nodes registered together (a fleet started
 * at once) would otherwise all report in the same minute every interval;
 * 5,000 of them did, 100 reads and writes a second on top of the pods'.
 * The first report after registering comes anywhere in the interval: with
 * this jitter alone, 5,000 nodes registered in 20 s still reported in waves
 * 3–4 minutes wide every 8–9 minutes of a 40-minute run.
 */
export const REPORT_JITTER = 0.25;

/**
 * Creates or updates the Node, then keeps its status true. As the kubelet
 * does with its Lease on, an unchanged status is written only every
 * `reportIntervalMs` (nodeStatusReportFrequency), less up to REPORT_JITTER of
 * it at random (the first time after registering: at a random point of the
 * interval, so nodes started together spread out); `update({ check: true })`
 * reads the Node first and rewrites it if someone else changed it (the
 * node-lifecycle controller's Ready=Unknown), which the agent is told of
 * when a liveness prober reconnects.
 */
export class NodeStatusReporter {
  private readonly nodes: ResourceClient<Node>;
  /** Local time of the last status write, and when an unchanged status is next written. */
  private lastWrite: { at: number; due: number } | undefined;

  constructor(
    client: ApiClient,
    private readonly facts: NodeFacts,
    private readonly log: Logger,
    private readonly reportIntervalMs = 0,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.nodes = client.resource<Node>({ apiVersion: 'v1', kind: 'Node' });
  }

  /** Registers the node (create, or update labels/spec of an existing one) and writes its status. `signal` gives it up. */
  async register(signal?: AbortSignal): Promise<Node> {
    for (let attempt = 0; ; attempt++) {
      let current: Node | undefined;
      try {
        current = await this.nodes.get(undefined, this.facts.nodeName, { signal });
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
      }
      try {
        if (!current) {
          const created = await this.nodes.create(desiredNode(this.facts), { signal });
          this.log.info({ node: this.facts.nodeName }, 'node registered');
          return this.written(created);
        }
        const want = desiredNode(this.facts, current);
        const updated = await this.nodes.update({ ...want, status: current.status ?? {} }, { signal });
        return this.written(await this.nodes.updateStatus({ ...updated, status: desiredNode(this.facts, updated).status }, { signal }));
      } catch (err) {
        if ((isReason(err, 'Conflict') || isReason(err, 'AlreadyExists')) && attempt < 5) continue;
        throw err;
      }
    }
  }

  private written(node: Node): Node {
    const at = this.now();
    const spread = this.lastWrite ? REPORT_JITTER : 1;
    this.lastWrite = { at, due: at + this.reportIntervalMs * (1 - spread * this.random()) };
    return node;
  }

  /**
   * Refreshes the status (Ready heartbeat, capacity) when it is due: what the
   * agent would write differs from its last write, or the report interval
   * ran out. With `check`, reads the Node and writes when the stored status
   * differs (someone else wrote it) even inside the interval. `signal` gives it up.
   */
  async update(options: { check?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    const due = !this.lastWrite || this.now() >= this.lastWrite.due;
    // The facts are fixed for the reporter's life: inside the interval only someone else's write can make a change.
    if (!due && !options.check) return;
    for (let attempt = 0; ; attempt++) {
      try {
        // First from the apiserver's cache, as the kubelet does: a consistent read waits for etcd to apply
        // everything before it (GET nodes p99 10 s at 150,000 pods on a starved etcd); a stale copy only
        // makes the write conflict, and the retry reads the current Node.
        const current = await this.nodes.get(undefined, this.facts.nodeName, attempt === 0 ? { resourceVersion: '0', signal } : { signal });
        const next = desiredNode(this.facts, current).status;
        if (!due && statusSignature(current.status) === statusSignature(next)) return;
        this.written(await this.nodes.updateStatus({ ...current, status: next }, { signal }));
        return;
      } catch (err) {
        if (isReason(err, 'NotFound')) {
          // Someone deleted our Node: register again, as the kubelet does.
          await this.register(signal);
          return;
        }
        if (isReason(err, 'Conflict') && attempt < 5) continue;
        throw err;
      }
    }
  }
}
