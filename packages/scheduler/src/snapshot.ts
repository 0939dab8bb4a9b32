/**
 * The scheduler's view of the cluster: every node with the pods assigned to
 * it and what they request. Kept up to date incrementally from informer
 * events (and from the scheduler's own assumptions), so one scheduling
 * decision costs a pass over the nodes, never over the pods.
 */
import { controllerRef, cpuMillis, memoryBytes, objectKey, type Container, type Node, type NodeSelectorTerm, type Pod, type QuantityValue, type Taint, type Toleration } from '@flotilla/api';

/** Kubernetes' DefaultMilliCPURequest: what scoring assumes for a container that requests no CPU. */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
/** Kubernetes' DefaultMemoryRequest (200 MiB): what scoring assumes for a container that requests no memory. */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;
/** Pod capacity of a node that reports no `pods` allocatable (the kubelet's default maxPods). */
export const DEFAULT_MAX_PODS = 110;

/** CPU in millicores and memory in bytes. */
export interface Resources {
  milliCPU: number;
  memory: number;
}

/** One host port a pod claims: the triple that must be unique on a node. */
export interface HostPort {
  hostIP: string;
  protocol: string;
  port: number;
}

/** What the scheduler needs to know about a pod, computed once per pod rather than once per node. */
export interface PodInfo {
  key: string;
  pod: Pod;
  /** Requests as the resource-fit filter counts them (missing requests count as zero). */
  request: Resources;
  /** Requests as scoring counts them (missing requests count as the Kubernetes defaults). */
  nonZeroRequest: Resources;
  hostPorts: HostPort[];
  tolerations: Toleration[];
  /** spec.nodeSelector as pairs (empty when none), so the affinity filter does not rebuild them per node. */
  nodeSelector: ReadonlyArray<readonly [string, string]>;
  /** Required node affinity terms, undefined when the pod has none. */
  requiredNodeTerms: readonly NodeSelectorTerm[] | undefined;
  /** uid of the controller ownerReference, for spreading one owner's pods. */
  ownerUid: string | undefined;
}

/** One node plus the aggregate of the pods on it. */
export interface NodeInfo {
  name: string;
  /** Undefined while pods are known to be bound to a node whose Node object the cache has not seen. */
  node: Node | undefined;
  allocatable: Resources & { pods: number };
  requested: Resources;
  nonZeroRequested: Resources;
  pods: Map<string, PodInfo>;
  /**
   * Facts of the Node object that filters read for every pod, computed once
   * when the node changes rather than once per pod (heartbeats are rare next
   * to decisions).
   */
  static: NodeStaticInfo;
  /** `protocol/port` → host IPs using it, for O(1) clash checks. */
  usedPorts: Map<string, Map<string, number>>;
  /** Controller uid → number of its pods on this node. */
  ownerCounts: Map<string, number>;
}

/** What the per-node filters need from the Node object, precomputed by upsertNode. */
export interface NodeStaticInfo {
  /** status of the Ready condition (`Unknown` when absent). */
  readyStatus: string;
  /** spec.unschedulable. */
  unschedulable: boolean;
  /** The NoSchedule/NoExecute taints, in spec order: the only ones a filter can fail on. */
  blockingTaints: readonly Taint[];
  /** metadata.labels (empty when none). */
  labels: Readonly<Record<string, string>>;
  /** Ready=True, not cordoned and no blocking taint: the node-only filters pass it for every pod (Filter.passesPlainNodes). */
  plain: boolean;
}

/** Precomputes the filter-relevant facts of a Node (or of a node the cache has not seen). */
export function nodeStaticInfo(node: Node | undefined): NodeStaticInfo {
  let readyStatus = 'Unknown';
  for (const c of node?.status?.conditions ?? []) if (c.type === 'Ready') readyStatus = c.status ?? 'Unknown';
  const unschedulable = !!node?.spec?.unschedulable;
  const blockingTaints = (node?.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  return {
    readyStatus,
    unschedulable,
    blockingTaints,
    labels: node?.metadata.labels ?? {},
    plain: readyStatus === 'True' && !unschedulable && blockingTaints.length === 0,
  };
}

function quantity(list: Record<string, QuantityValue> | undefined, name: string, parse: (q: QuantityValue) => number): number | undefined {
  const q = list?.[name];
  if (q === undefined || q === null) return undefined;
  try {
    return parse(q);
  } catch (err) {
    // The apiserver rejects malformed quantities; one that slips through counts as absent rather than crash the scheduler.
    if (err instanceof Error && /quantit/i.test(err.message)) return undefined;
    throw err;
  }
}

function containerRequest(c: Container, nonZero: boolean): Resources {
  const cpu = quantity(c.resources?.requests, 'cpu', cpuMillis);
  const mem = quantity(c.resources?.requests, 'memory', memoryBytes);
  return {
    milliCPU: cpu ?? (nonZero ? DEFAULT_MILLI_CPU_REQUEST : 0),
    memory: mem ?? (nonZero ? DEFAULT_MEMORY_REQUEST : 0),
  };
}

/**
 * A pod's effective request, as Kubernetes computes it: the sum over its
 * containers, or the largest init container if that is more (init
 * containers run one at a time, before the others).
 */
export function podRequest(pod: Pod, nonZero = false): Resources {
  const total: Resources = { milliCPU: 0, memory: 0 };
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequest(c, nonZero);
    total.milliCPU += r.milliCPU;
    total.memory += r.memory;
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequest(c, nonZero);
    total.milliCPU = Math.max(total.milliCPU, r.milliCPU);
    total.memory = Math.max(total.memory, r.memory);
  }
  return total;
}

/** The host ports a pod claims, with Kubernetes' defaults (TCP, 0.0.0.0) filled in. */
export function podHostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({ hostIP: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
    }
  }
  return out;
}

/** Precomputes the scheduling facts of a pod. */
export function podInfo(pod: Pod): PodInfo {
  return {
    key: objectKey(pod),
    pod,
    request: podRequest(pod),
    nonZeroRequest: podRequest(pod, true),
    hostPorts: podHostPorts(pod),
    tolerations: pod.spec?.tolerations ?? [],
    nodeSelector: Object.entries(pod.spec?.nodeSelector ?? {}),
    requiredNodeTerms: pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    ownerUid: controllerRef(pod)?.uid,
  };
}

/** Accepts either a pod or its precomputed info, so hot loops can compute the info once. */
export function toPodInfo(p: Pod | PodInfo): PodInfo {
  // A Pod always has metadata; a PodInfo never does.
  return 'metadata' in p && p.metadata ? podInfo(p as Pod) : (p as PodInfo);
}

/** The allocatable resources of a node (status.allocatable, falling back to capacity). */
export function nodeAllocatable(node: Node | undefined): Resources & { pods: number } {
  const list = node?.status?.allocatable ?? node?.status?.capacity;
  return {
    milliCPU: quantity(list, 'cpu', cpuMillis) ?? 0,
    memory: quantity(list, 'memory', memoryBytes) ?? 0,
    pods: quantity(list, 'pods', memoryBytes) ?? DEFAULT_MAX_PODS,
  };
}

function emptyNodeInfo(name: string): NodeInfo {
  return {
    name,
    node: undefined,
    allocatable: nodeAllocatable(undefined),
    requested: { milliCPU: 0, memory: 0 },
    nonZeroRequested: { milliCPU: 0, memory: 0 },
    pods: new Map(),
    static: nodeStaticInfo(undefined),
    usedPorts: new Map(),
    ownerCounts: new Map(),
  };
}

/** The `protocol/port` key of the usedPorts index. */
export function portKey(p: Pick<HostPort, 'protocol' | 'port'>): string {
  return `${p.protocol}/${p.port}`;
}

function addToNode(ni: NodeInfo, pi: PodInfo, sign: 1 | -1): void {
  ni.requested.milliCPU += sign * pi.request.milliCPU;
  ni.requested.memory += sign * pi.request.memory;
  ni.nonZeroRequested.milliCPU += sign * pi.nonZeroRequest.milliCPU;
  ni.nonZeroRequested.memory += sign * pi.nonZeroRequest.memory;
  for (const hp of pi.hostPorts) {
    const k = portKey(hp);
    let ips = ni.usedPorts.get(k);
    if (!ips) ni.usedPorts.set(k, (ips = new Map()));
    const n = (ips.get(hp.hostIP) ?? 0) + sign;
    if (n > 0) ips.set(hp.hostIP, n);
    else ips.delete(hp.hostIP);
    if (ips.size === 0) ni.usedPorts.delete(k);
  }
  if (pi.ownerUid) {
    const n = (ni.ownerCounts.get(pi.ownerUid) ?? 0) + sign;
    if (n > 0) ni.ownerCounts.set(pi.ownerUid, n);
    else ni.ownerCounts.delete(pi.ownerUid);
  }
}

/** True when a pod has finished and no longer holds resources on its node. */
function isTerminal(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/**
 * The cluster as the scheduler sees it. Mutated in place by the informer
 * handlers and by assume/forget; schedule() reads it synchronously, so on
 * Node's single thread no decision ever sees a half-applied change.
 */
export class Snapshot {
  private readonly infos = new Map<string, NodeInfo>();
  /** Pod key → node it is counted on. */
  private readonly podNode = new Map<string, string>();
  /** Keys of pods counted because the scheduler assumed them, not because the informer showed them bound. */
  private readonly assumed = new Set<string>();
  private nodeListCache: NodeInfo[] | undefined;

  /** Builds a snapshot from lists, as tests and a fresh cache sync do. */
  static from(nodes: Node[], pods: Pod[] = []): Snapshot {
    const s = new Snapshot();
    for (const n of nodes) s.upsertNode(n);
    for (const p of pods) s.upsertPod(p);
    return s;
  }

  /** Adds or replaces a node; the pods already counted on it stay. */
  upsertNode(node: Node): void {
    const name = node.metadata.name ?? '';
    let ni = this.infos.get(name);
    if (!ni) {
      ni = emptyNodeInfo(name);
      this.infos.set(name, ni);
    }
    if (!ni.node) this.nodeListCache = undefined;
    ni.node = node;
    ni.allocatable = nodeAllocatable(node);
    ni.static = nodeStaticInfo(node);
  }

  /** Removes a node. Pods still bound to it stay counted until they go, so a node that comes back is not overbooked. */
  removeNode(name: string): void {
    const ni = this.infos.get(name);
    if (!ni) return;
    this.nodeListCache = undefined;
    if (ni.pods.size === 0) this.infos.delete(name);
    else {
      ni.node = undefined;
      ni.static = nodeStaticInfo(undefined);
    }
  }

  /**
   * Applies a pod as the informer shows it: counted on spec.nodeName while
   * bound and not terminal, otherwise not counted. A confirmed binding
   * replaces the scheduler's assumption for the same key.
   */
  upsertPod(pod: Pod): void {
    const key = objectKey(pod);
    const nodeName = pod.spec?.nodeName;
    if (!nodeName || isTerminal(pod)) {
      // An unbound pod may still be assumed (binding in flight): keep that assumption.
      if (!nodeName && this.assumed.has(key)) return;
      this.removePod(key);
      return;
    }
    this.assumed.delete(key);
    // Status updates of a running pod are most of the pod events; its spec (requests, ports) is immutable, so the counted info stays
    // unless the pod was replaced or its controller changed (adoption, orphaning).
    const counted = this.podNode.get(key) === nodeName ? this.infos.get(nodeName)?.pods.get(key) : undefined;
    if (counted && counted.pod.metadata.uid === pod.metadata.uid && counted.ownerUid === controllerRef(pod)?.uid) {
      counted.pod = pod;
      return;
    }
    this.place(podInfo(pod), nodeName);
  }

  /** Stops counting a pod (deleted, or finished). */
  removePod(key: string): void {
    const nodeName = this.podNode.get(key);
    this.assumed.delete(key);
    if (nodeName === undefined) return;
    const ni = this.infos.get(nodeName);
    this.podNode.delete(key);
    if (!ni) return;
    const old = ni.pods.get(key);
    if (old) {
      addToNode(ni, old, -1);
      ni.pods.delete(key);
    }
    if (!ni.node && ni.pods.size === 0) this.infos.delete(nodeName);
  }

  /** Counts a pod on a node before its binding is confirmed, so concurrent decisions do not double-book. */
  assume(pod: Pod | PodInfo, nodeName: string): void {
    const pi = toPodInfo(pod);
    this.place(pi, nodeName);
    this.assumed.add(pi.key);
  }

  /** Drops an assumption (the binding failed); a pod the informer already showed bound is left alone. */
  forget(key: string): void {
    if (this.assumed.has(key)) this.removePod(key);
  }

  /** True while the pod is counted only because the scheduler assumed it. */
  isAssumed(key: string): boolean {
    return this.assumed.has(key);
  }

  /** The node a pod is counted on, if any. */
  nodeOf(key: string): string | undefined {
    return this.podNode.get(key);
  }

  /** The info of one node (including ghost entries for unknown nodes with pods). */
  get(name: string): NodeInfo | undefined {
    return this.infos.get(name);
  }

  /** The nodes with a Node object, sorted by name so decisions are deterministic. Cached between node changes. */
  nodes(): readonly NodeInfo[] {
    if (!this.nodeListCache) {
      this.nodeListCache = [...this.infos.values()].filter((ni) => ni.node).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    return this.nodeListCache;
  }

  private place(pi: PodInfo, nodeName: string): void {
    this.removePod(pi.key);
    let ni = this.infos.get(nodeName);
    if (!ni) {
      ni = emptyNodeInfo(nodeName);
      this.infos.set(nodeName, ni);
    }
    ni.pods.set(pi.key, pi);
    addToNode(ni, pi, 1);
    this.podNode.set(pi.key, nodeName);
  }
}
