/**
 * Defaulting as the Kubernetes apiserver does it, so an object read back
 * looks like what `kubectl get -o yaml` shows against a real cluster.
 * Every function fills in place and is idempotent.
 */
import type { DeploymentSpec, ReplicaSet, Deployment } from './apps-types.js';
import type { EndpointSlice } from './discovery-types.js';
import type { Container, Endpoints, Namespace, Node, Pod, PodSpec, PodTemplateSpec, Probe, Service } from './core-types.js';
import type { Ingress } from './networking-types.js';
import type { KubeObject } from './meta.js';

/** Volume sources Flotilla understands. */
export const SUPPORTED_VOLUME_SOURCES = ['emptyDir', 'hostPath', 'configMap', 'secret'] as const;

/** The file mode of projected ConfigMap and Secret keys when the volume sets none: 0644. */
export const DEFAULT_PROJECTED_MODE = 0o644;

/** `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (digests count as tags). */
export function defaultPullPolicy(image: string | undefined): 'Always' | 'IfNotPresent' {
  if (!image) return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  if (colon < 0) return 'Always';
  return image.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: Probe | undefined): void {
  if (!p) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (p.httpGet) {
    p.httpGet.path ??= '/';
    p.httpGet.scheme ??= 'HTTP';
  }
}

function defaultContainer(c: Container, hostNetwork: boolean): void {
  if (!c || typeof c !== 'object') return;
  c.imagePullPolicy ??= defaultPullPolicy(c.image);
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (Array.isArray(c.ports)) {
    for (const p of c.ports) {
      if (!p || typeof p !== 'object') continue;
      p.protocol ??= 'TCP';
      // With the host's network the container port *is* the host port.
      if (hostNetwork && p.hostPort === undefined) p.hostPort = p.containerPort;
    }
  }
  // A limit without a request means the request equals the limit.
  const limits = c.resources?.limits;
  if (limits && typeof limits === 'object') {
    c.resources!.requests ??= {};
    for (const [name, q] of Object.entries(limits)) c.resources!.requests[name] ??= q;
  }
  if (Array.isArray(c.env)) {
    for (const e of c.env) if (e?.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion ??= 'v1';
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

/** Defaults of a PodSpec (also used for the templates of controllers). */
export function defaultPodSpec(spec: PodSpec | undefined): void {
  if (!spec || typeof spec !== 'object') return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of Array.isArray(spec.containers) ? spec.containers : []) defaultContainer(c, hostNetwork);
  for (const c of Array.isArray(spec.initContainers) ? spec.initContainers : []) defaultContainer(c, hostNetwork);
  for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
    if (!v || typeof v !== 'object') continue;
    // A volume that names no source at all is an emptyDir, as in Kubernetes.
    if (Object.keys(v).every((k) => k === 'name')) v.emptyDir = {};
    if (v.hostPath && typeof v.hostPath === 'object') v.hostPath.type ??= '';
    for (const src of [v.configMap, v.secret] as Array<{ defaultMode?: number } | undefined>) {
      if (src && typeof src === 'object') src.defaultMode ??= DEFAULT_PROJECTED_MODE;
    }
  }
}

/** Defaults of a pod template. */
export function defaultPodTemplate(t: PodTemplateSpec | undefined): void {
  if (!t || typeof t !== 'object') return;
  defaultPodSpec(t.spec);
}

/** Pod defaults; a new pod's phase is Pending. */
export function defaultPod(obj: KubeObject): void {
  const pod = obj as Pod;
  defaultPodSpec(pod.spec);
  pod.status ??= {};
  pod.status.phase ??= 'Pending';
}

/** ReplicaSet defaults: 1 replica, template defaults. */
export function defaultReplicaSet(obj: KubeObject): void {
  const rs = obj as ReplicaSet;
  if (!rs.spec || typeof rs.spec !== 'object') return;
  rs.spec.replicas ??= 1;
  defaultPodTemplate(rs.spec.template);
}

/** Deployment defaults: 1 replica, RollingUpdate 25%/25%, 10 old ReplicaSets kept, 600 s progress deadline. */
export function defaultDeployment(obj: KubeObject): void {
  const d = obj as Deployment;
  if (!d.spec || typeof d.spec !== 'object') return;
  const spec: DeploymentSpec = d.spec;
  spec.replicas ??= 1;
  spec.strategy ??= {};
  spec.strategy.type ??= 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    spec.strategy.rollingUpdate ??= {};
    spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
    spec.strategy.rollingUpdate.maxSurge ??= '25%';
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultPodTemplate(spec.template);
}

/** Service defaults: ClusterIP, TCP, targetPort = port, no session affinity. */
export function defaultService(obj: KubeObject): void {
  const svc = obj as Service;
  if (!svc.spec || typeof svc.spec !== 'object') return;
  const spec = svc.spec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  if (spec.sessionAffinity === 'ClientIP') {
    spec.sessionAffinityConfig ??= {};
    spec.sessionAffinityConfig.clientIP ??= {};
    spec.sessionAffinityConfig.clientIP.timeoutSeconds ??= 10800;
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (spec.type !== 'ExternalName') spec.internalTrafficPolicy ??= 'Cluster';
  for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!p || typeof p !== 'object') continue;
    p.protocol ??= 'TCP';
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
}

/** Endpoints defaults: TCP ports. */
export function defaultEndpoints(obj: KubeObject): void {
  const ep = obj as Endpoints;
  for (const s of Array.isArray(ep.subsets) ? ep.subsets : []) {
    for (const p of Array.isArray(s?.ports) ? s.ports : []) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  }
}

/** EndpointSlice defaults: TCP ports and, as Kubernetes does, an unset condition read as true. */
export function defaultEndpointSlice(obj: KubeObject): void {
  const slice = obj as EndpointSlice;
  for (const p of Array.isArray(slice.ports) ? slice.ports : []) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  if (!Array.isArray(slice.endpoints)) return;
  for (const ep of slice.endpoints) {
    if (!ep || typeof ep !== 'object') continue;
    ep.conditions ??= {};
  }
}

/**
 * Ingress defaults. networking.k8s.io/v1 has no default pathType (it is
 * required, as in Kubernetes, and validation says so); only the empty
 * load-balancer status is filled in, as the real apiserver returns it.
 */
export function defaultIngress(obj: KubeObject): void {
  const ing = obj as Ingress;
  ing.status ??= {};
  ing.status.loadBalancer ??= {};
}

/** Namespace defaults: phase Active. */
export function defaultNamespace(obj: KubeObject): void {
  const ns = obj as Namespace;
  ns.status ??= {};
  ns.status.phase ??= 'Active';
}

/** Node defaults: allocatable is capacity unless the agent reports otherwise. */
export function defaultNode(obj: KubeObject): void {
  const node = obj as Node;
  if (node.status?.capacity && !node.status.allocatable) node.status.allocatable = { ...node.status.capacity };
}

/** Kinds without defaults. */
export function noDefaults(_obj: KubeObject): void {}
