/** Objects the benchmarks write: a realistic pod (one container, labels, requests), nodes and leases. */
import type { KubeObject, Pod } from '@flotilla/api';

/** The annotation carrying a write's start time (epoch ms, fractional) for delivery-latency measurements. */
export const WRITTEN_AT_ANNOTATION = 'bench.flotilla.io/written-at';

/** A pod like a user's: one busybox container with requests, a few labels. */
export function benchPod(namespace: string, name: string, extra: { annotations?: Record<string, string>; nodeName?: string; labels?: Record<string, string> } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { app: 'bench', tier: 'backend', 'bench.flotilla.io/run': 'yes', ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: {
      ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
      containers: [
        {
          name: 'app',
          image: 'flotilla/busybox:1',
          command: ['sh', '-c', 'sleep 3600'],
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'MODE', value: 'bench' }],
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
        },
      ],
    },
  } as Pod;
}

/** A pod-sized byte string, for the bare-etcd baseline (same size as a stored pod). */
export function podSizedValue(): Buffer {
  return Buffer.from(JSON.stringify({ ...benchPod('bench', 'baseline'), metadata: { ...benchPod('bench', 'baseline').metadata, uid: '00000000-0000-0000-0000-000000000000', creationTimestamp: new Date().toISOString() } }));
}

/** A Ready hollow Node with room for `pods` pods. */
export function hollowNode(name: string, pods = 110): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'bench.flotilla.io/hollow': 'true' } },
    spec: {},
    status: {
      capacity: { cpu: '4', memory: '16Gi', pods: String(pods) },
      allocatable: { cpu: '4', memory: '16Gi', pods: String(pods) },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'hollow node', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }],
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
    },
  };
}

/** The node's heartbeat Lease in kube-node-lease. */
export function nodeLease(name: string): KubeObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') },
  };
}
