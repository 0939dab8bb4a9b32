/**
 * Core group (`v1`) types with Kubernetes field names. Only the subset that
 * Flotilla acts on is typed; every object still extends KubeObject so
 * unknown fields survive a round trip through the store.
 */
import type { ConfigMapVolumeSource, EnvFromSource, KeySelector, SecretVolumeSource } from './config-types.js';
import type { Condition, KubeList, KubeObject, LabelSelector, ObjectMeta } from './meta.js';

/** A number or a string such as `25%` or a port name (intstr.IntOrString). */
export type IntOrString = number | string;

/** A resource quantity as written in manifests: `500m`, `128Mi`, or a bare number. */
export type QuantityValue = string | number;

/** Resource name → quantity (`cpu`, `memory`, `pods`, …). */
export type ResourceList = Record<string, QuantityValue>;

/** A reference to another object (corev1.ObjectReference). */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** A reference to an object in the same namespace by name. */
export interface LocalObjectReference {
  name?: string;
}

// ---------------------------------------------------------------- Namespace

/** Namespace lifecycle phase. */
export type NamespacePhase = 'Active' | 'Terminating';

/** spec of a Namespace. */
export interface NamespaceSpec {
  finalizers?: string[];
}

/** status of a Namespace. */
export interface NamespaceStatus {
  phase?: NamespacePhase;
  conditions?: Condition[];
}

/** A Namespace (cluster-scoped). */
export interface Namespace extends KubeObject {
  metadata: ObjectMeta;
  spec?: NamespaceSpec;
  status?: NamespaceStatus;
}

// --------------------------------------------------------------------- Node

/** A taint keeps pods that do not tolerate it off a node. */
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

/** spec of a Node. */
export interface NodeSpec {
  podCIDR?: string;
  podCIDRs?: string[];
  providerID?: string;
  unschedulable?: boolean;
  taints?: Taint[];
}

/** One address of a node. */
export interface NodeAddress {
  type: 'Hostname' | 'InternalIP' | 'ExternalIP' | 'InternalDNS' | 'ExternalDNS' | string;
  address: string;
}

/** Facts about the node's software (corev1.NodeSystemInfo). */
export interface NodeSystemInfo {
  machineID?: string;
  systemUUID?: string;
  bootID?: string;
  kernelVersion?: string;
  osImage?: string;
  containerRuntimeVersion?: string;
  kubeletVersion?: string;
  kubeProxyVersion?: string;
  operatingSystem?: string;
  architecture?: string;
}

/** The port the node's agent listens on. */
export interface NodeDaemonEndpoints {
  kubeletEndpoint?: { Port: number };
}

/** status of a Node. */
export interface NodeStatus {
  capacity?: ResourceList;
  allocatable?: ResourceList;
  phase?: string;
  conditions?: Condition[];
  addresses?: NodeAddress[];
  daemonEndpoints?: NodeDaemonEndpoints;
  nodeInfo?: NodeSystemInfo;
  images?: Array<{ names?: string[]; sizeBytes?: number }>;
}

/** A worker host (cluster-scoped). */
export interface Node extends KubeObject {
  metadata: ObjectMeta;
  spec?: NodeSpec;
  status?: NodeStatus;
}

// ---------------------------------------------------------------------- Pod

/** Selects a field of the pod for an env var (downward API). */
export interface ObjectFieldSelector {
  apiVersion?: string;
  fieldPath: string;
}

/** Selects a resource value of a container for an env var. */
export interface ResourceFieldSelector {
  containerName?: string;
  resource: string;
  divisor?: QuantityValue;
}

/** Where an env var's value comes from when not given literally. */
export interface EnvVarSource {
  fieldRef?: ObjectFieldSelector;
  resourceFieldRef?: ResourceFieldSelector;
  configMapKeyRef?: KeySelector;
  secretKeyRef?: KeySelector;
}

/** An environment variable of a container. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: EnvVarSource;
}

/** Port protocols Kubernetes accepts. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** A port a container exposes. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: Protocol;
}

/** Requests and limits of a container. */
export interface ResourceRequirements {
  requests?: ResourceList;
  limits?: ResourceList;
}

/** A volume mounted into a container. */
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

/** An HTTP header sent by an HTTP probe. */
export interface HTTPHeader {
  name: string;
  value: string;
}

/** An HTTP GET probe handler. */
export interface HTTPGetAction {
  path?: string;
  port: IntOrString;
  host?: string;
  scheme?: 'HTTP' | 'HTTPS';
  httpHeaders?: HTTPHeader[];
}

/** A TCP connect probe handler. */
export interface TCPSocketAction {
  port: IntOrString;
  host?: string;
}

/** A command run inside the container as a probe handler. */
export interface ExecAction {
  command?: string[];
}

/** A liveness, readiness or startup probe. Exactly one handler is set. */
export interface Probe {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/** A hook handler run at container start or stop. */
export interface LifecycleHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  sleep?: { seconds: number };
}

/** postStart / preStop hooks. */
export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
}

/** POSIX capabilities added to or dropped from a container's default set. */
export interface Capabilities {
  add?: string[];
  drop?: string[];
}

/** A seccomp profile: the engine's default, none, or a file on the node (not supported by Flotilla). */
export interface SeccompProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

/** Security settings of one container; they win over the pod's. */
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: Capabilities;
  procMount?: 'Default' | 'Unmasked';
  seccompProfile?: SeccompProfile;
  seLinuxOptions?: Record<string, unknown>;
  appArmorProfile?: { type: string; localhostProfile?: string };
  windowsOptions?: Record<string, unknown>;
}

/** A namespaced kernel parameter set on the pod's sandbox. */
export interface Sysctl {
  name: string;
  value: string;
}

/** Security settings of a pod, the defaults of its containers. */
export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: 'Merge' | 'Strict';
  fsGroup?: number;
  fsGroupChangePolicy?: 'OnRootMismatch' | 'Always';
  sysctls?: Sysctl[];
  seccompProfile?: SeccompProfile;
  seLinuxOptions?: Record<string, unknown>;
  appArmorProfile?: { type: string; localhostProfile?: string };
  windowsOptions?: Record<string, unknown>;
}

/** Image pull policies. */
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** A container of a pod. */
export interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: PullPolicy;
  command?: string[];
  args?: string[];
  workingDir?: string;
  ports?: ContainerPort[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: ResourceRequirements;
  volumeMounts?: VolumeMount[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: Lifecycle;
  terminationMessagePath?: string;
  terminationMessagePolicy?: 'File' | 'FallbackToLogsOnError';
  stdin?: boolean;
  /** Close stdin after the first attach session ends (kubectl run -i). */
  stdinOnce?: boolean;
  tty?: boolean;
  securityContext?: SecurityContext;
  /** Only on init containers: `Always` makes it a sidecar that keeps running beside the app containers. */
  restartPolicy?: 'Always';
}

/**
 * A container added to a running pod for debugging (`kubectl debug`), only
 * through the `pods/ephemeralcontainers` subresource; never restarted.
 */
export interface EphemeralContainer extends Container {
  /** A container of the pod whose process namespace this one joins. */
  targetContainerName?: string;
}

/** An emptyDir volume source: scratch space that lives as long as the pod. */
export interface EmptyDirVolumeSource {
  medium?: '' | 'Memory';
  sizeLimit?: QuantityValue;
}

/** A hostPath volume source: a directory or file of the host. */
export interface HostPathVolumeSource {
  path: string;
  type?: '' | 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice';
}

/** A volume of a pod. Flotilla supports emptyDir and hostPath. */
export interface Volume {
  name: string;
  emptyDir?: EmptyDirVolumeSource;
  hostPath?: HostPathVolumeSource;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  [source: string]: unknown;
}

/** Operators of node selector requirements. */
export type NodeSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

/** One requirement on a node label or field. */
export interface NodeSelectorRequirement {
  key: string;
  operator: NodeSelectorOperator;
  values?: string[];
}

/** Requirements ANDed together. */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** Terms ORed together. */
export interface NodeSelector {
  nodeSelectorTerms: NodeSelectorTerm[];
}

/** A weighted preference for nodes. */
export interface PreferredSchedulingTerm {
  weight: number;
  preference: NodeSelectorTerm;
}

/** Node affinity of a pod. */
export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector;
  preferredDuringSchedulingIgnoredDuringExecution?: PreferredSchedulingTerm[];
}

/**
 * Spread pods matching `labelSelector` (in the pod's namespace) over the
 * values of the node label `topologyKey`: placing the pod may leave at most
 * `maxSkew` more of them in its domain than in the emptiest one.
 */
export interface TopologySpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  /** DoNotSchedule: a filter (the pod waits); ScheduleAnyway: a preference. */
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: LabelSelector;
}

/** Scheduling constraints of a pod. Only node affinity is acted on. */
export interface Affinity {
  nodeAffinity?: NodeAffinity;
  podAffinity?: Record<string, unknown>;
  podAntiAffinity?: Record<string, unknown>;
}

/** Lets a pod be scheduled onto (or stay on) a node with a matching taint. */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: '' | 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** Restart policies of a pod. */
export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** DNS policies of a pod. */
export type DNSPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

/** A resolver option of a pod's resolv.conf (`ndots:5` is `{ name: 'ndots', value: '5' }`). */
export interface PodDNSConfigOption {
  name?: string;
  value?: string;
}

/** DNS parameters of a pod beyond its dnsPolicy, merged into what the policy gives. */
export interface PodDNSConfig {
  nameservers?: string[];
  searches?: string[];
  options?: PodDNSConfigOption[];
}

/** An /etc/hosts entry of a pod. */
export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

/** spec of a Pod. */
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: EphemeralContainer[];
  volumes?: Volume[];
  restartPolicy?: RestartPolicy;
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  dnsPolicy?: DNSPolicy;
  dnsConfig?: PodDNSConfig;
  nodeSelector?: Record<string, string>;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  nodeName?: string;
  hostNetwork?: boolean;
  hostname?: string;
  subdomain?: string;
  affinity?: Affinity;
  schedulerName?: string;
  tolerations?: Toleration[];
  priority?: number;
  priorityClassName?: string;
  /** How matching pods are spread over the domains of node labels (the scheduler's PodTopologySpread). */
  topologySpreadConstraints?: TopologySpreadConstraint[];
  securityContext?: PodSecurityContext;
  enableServiceLinks?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  shareProcessNamespace?: boolean;
  setHostnameAsFQDN?: boolean;
  /** Extra /etc/hosts entries of the pod. */
  hostAliases?: HostAlias[];
  /** Conditions that must be True, besides the containers being ready, for the pod to be Ready. */
  readinessGates?: Array<{ conditionType: string }>;
}

/** The template of the pods a controller makes. */
export interface PodTemplateSpec {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

/** Pod lifecycle phase. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** A container that has not started yet (or is backing off). */
export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}

/** A running container. */
export interface ContainerStateRunning {
  startedAt?: string;
}

/** A container that exited. */
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}

/** Exactly one of the members is set. */
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

/** Observed state of one container. */
export interface ContainerStatus {
  name: string;
  state?: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
}

/** An IP address of a pod. */
export interface PodIP {
  ip: string;
}

/** status of a Pod. */
export interface PodStatus {
  phase?: PodPhase;
  conditions?: Condition[];
  message?: string;
  reason?: string;
  hostIP?: string;
  hostIPs?: PodIP[];
  podIP?: string;
  podIPs?: PodIP[];
  startTime?: string;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  ephemeralContainerStatuses?: ContainerStatus[];
  qosClass?: 'Guaranteed' | 'Burstable' | 'BestEffort';
  nominatedNodeName?: string;
}

/** A Pod. */
export interface Pod extends KubeObject {
  metadata: ObjectMeta;
  spec?: PodSpec;
  status?: PodStatus;
}

/** Binds a pod to a node (the `pods/binding` subresource). */
export interface Binding extends KubeObject {
  metadata: ObjectMeta;
  target: ObjectReference;
}

// ------------------------------------------------------------------ Service

/** Service types Flotilla serves. */
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

/** A port of a service. */
export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  appProtocol?: string;
  port: number;
  /** A number, or the name of a container port. */
  targetPort?: IntOrString;
  nodePort?: number;
}

/** spec of a Service. */
export interface ServiceSpec {
  type?: ServiceType;
  ports?: ServicePort[];
  selector?: Record<string, string>;
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  externalName?: string;
  externalIPs?: string[];
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  publishNotReadyAddresses?: boolean;
  /** The implementation of a LoadBalancer Service; unset: Flotilla's own (node addresses, see the service-lb controller). */
  loadBalancerClass?: string;
  /** Whether a LoadBalancer Service gets NodePorts. Default true. */
  allocateLoadBalancerNodePorts?: boolean;
}

/** status of a Service. */
export interface ServiceStatus {
  loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> };
  conditions?: Condition[];
}

/** A Service: a stable address in front of the pods its selector matches. */
export interface Service extends KubeObject {
  metadata: ObjectMeta;
  spec?: ServiceSpec;
  status?: ServiceStatus;
}

// ---------------------------------------------------------------- Endpoints

/** One backend address of a service. */
export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}

/** A port of the backends of a service. */
export interface EndpointPort {
  name?: string;
  port: number;
  protocol?: Protocol;
  appProtocol?: string;
}

/** A set of addresses that share the same ports. */
export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

/** The backends of a service, kept by the endpoints controller. */
export interface Endpoints extends KubeObject {
  metadata: ObjectMeta;
  subsets?: EndpointSubset[];
}

// -------------------------------------------------------------------- Event

/** Who reported an event. */
export interface EventSource {
  component?: string;
  host?: string;
}

/** A core/v1 Event. */
export interface Event extends KubeObject {
  metadata: ObjectMeta;
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  source?: EventSource;
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
  type?: 'Normal' | 'Warning' | string;
  eventTime?: string | null;
  action?: string;
  related?: ObjectReference;
  reportingComponent?: string;
  reportingInstance?: string;
  series?: { count?: number; lastObservedTime?: string };
}

// -------------------------------------------------------------------- Lists

/** A list of namespaces. */
export type NamespaceList = KubeList<Namespace>;
/** A list of nodes. */
export type NodeList = KubeList<Node>;
/** A list of pods. */
export type PodList = KubeList<Pod>;
/** A list of services. */
export type ServiceList = KubeList<Service>;
/** A list of endpoints. */
export type EndpointsList = KubeList<Endpoints>;
/** A list of events. */
export type EventList = KubeList<Event>;
