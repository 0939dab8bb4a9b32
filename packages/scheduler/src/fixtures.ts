/**
 * Builders of nodes and pods for the scheduler's tests and micro-benchmarks:
 * only the fields scheduling reads, with Kubernetes field names.
 */
import type { Container, ContainerPort, Node, NodeAffinity, Pod, Taint, Toleration } from '@flotilla/api';

/** Options of makeNode. */
export interface NodeFixture {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  ready?: 'True' | 'False' | 'Unknown' | null;
  unschedulable?: boolean;
}

/** A Ready node with the given allocatable (default 4 CPU, 8Gi, 110 pods). */
export function makeNode(name: string, o: NodeFixture = {}): Node {
  const allocatable = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-node-${name}`, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { ...(o.taints ? { taints: o.taints } : {}), ...(o.unschedulable ? { unschedulable: true } : {}) },
    status: {
      capacity: allocatable,
      allocatable,
      conditions: o.ready === null ? [] : [{ type: 'Ready', status: o.ready ?? 'True', reason: 'KubeletReady' }],
    },
  };
}

/** Options of makePod. */
export interface PodFixture {
  namespace?: string;
  cpu?: string;
  memory?: string;
  nodeName?: string;
  hostPorts?: ContainerPort[];
  tolerations?: Toleration[];
  ownerUid?: string;
  nodeSelector?: Record<string, string>;
  nodeAffinity?: NodeAffinity;
  schedulerName?: string;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  initContainers?: Container[];
}

/** A one-container pod requesting the given resources. */
export function makePod(name: string, o: PodFixture = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'default',
      uid: `uid-pod-${name}`,
      ...(o.ownerUid ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `rs-${o.ownerUid}`, uid: o.ownerUid, controller: true }] } : {}),
    },
    spec: {
      containers: [{ name: 'c', image: 'flotilla/pause:latest', resources: { requests }, ...(o.hostPorts ? { ports: o.hostPorts } : {}) }],
      ...(o.initContainers ? { initContainers: o.initContainers } : {}),
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.nodeAffinity ? { affinity: { nodeAffinity: o.nodeAffinity } } : {}),
      schedulerName: o.schedulerName ?? 'default-scheduler',
    },
    status: { phase: o.phase ?? 'Pending' },
  };
}
