/**
 * The fields each kind knows. One table serves three readers:
 * `fieldValidation=Strict|Warn` (kubectl sends Strict since 1.27, so a
 * `replicaz:` typo is refused instead of silently dropped), the OpenAPI
 * documents (`kubectl explain`, kubectl's patch computation) and server-side
 * apply's field sets (list-map keys, atomic maps and lists). Checked to the
 * depth the table describes; a `true` leaf, a typed leaf or an `open` object
 * is known and not looked into. Kinds without an entry are not checked.
 * Field names are Kubernetes' (k8s.io/api, v1.32); descriptions are our own.
 */
import type { KubeObject } from './meta.js';
import type { ResourceInfo } from './resource.js';

/** The key of a schema node's metadata: a symbol, so it is never a field name and Object.entries skips it. */
export const FIELD_META: unique symbol = Symbol('flotilla.field-meta');

/** What a leaf holds. Maps and lists of scalars are leaves too (their entries are not described one by one). */
export type LeafType =
  | 'string' | 'integer' | 'boolean' | 'number' | 'quantity' | 'int-or-string' | 'time' | 'bytes'
  | 'object' | 'string-map' | 'quantity-map' | 'string-list' | 'object-list';

/** What the table says about one node besides its fields. */
export interface FieldMeta {
  /** Set on leaves only: what the value is. */
  type?: LeafType;
  /** One or two sentences for `kubectl explain`. */
  description?: string;
  /** A named structure (`io.k8s.api.core.v1.Container`): one OpenAPI component shared wherever it appears. */
  name?: string;
  /** A list: items told apart by `listMapKeys` (map), by value (set), or the list replaced whole (atomic, the default). */
  listType?: 'atomic' | 'map' | 'set';
  listMapKeys?: string[];
  /** Values a missing list-map key stands for (a port's protocol is TCP). */
  keyDefaults?: Record<string, string | number>;
  /** Strategic merge patch's merge key and strategy, which kubectl's client-side apply reads. */
  patchMergeKey?: string;
  patchStrategy?: string;
  /** A structure or map that apply owns and replaces whole (`x-kubernetes-map-type: atomic`). */
  atomic?: boolean;
  /** Fields not listed are accepted: an object described only in part. */
  open?: boolean;
}

/** Known fields of one object level (`'[]'` is a list's item), and what the table says about the level itself. */
export interface FieldSchema {
  [field: string]: FieldSchema | true;
  [FIELD_META]?: FieldMeta;
}

// ------------------------------------------------------------ builders

const typed = (type: LeafType, description?: string, extra: FieldMeta = {}): FieldSchema => ({ [FIELD_META]: { type, ...(description ? { description } : {}), ...extra } });
const str = (d?: string) => typed('string', d);
const int = (d?: string) => typed('integer', d);
const bool = (d?: string) => typed('boolean', d);
const time = (d?: string) => typed('time', d);
const intOrString = (d?: string) => typed('int-or-string', d);
const strMap = (d?: string, atomic = false) => typed('string-map', d, atomic ? { atomic } : {});
const qtyMap = (d?: string) => typed('quantity-map', d);
const strList = (d?: string) => typed('string-list', d);
const anyObject = (d?: string) => typed('object', d);
const objectList = (d?: string) => typed('object-list', d);

/** A named or anonymous structure with its fields. */
function struct(name: string | undefined, description: string, fields: FieldSchema, extra: FieldMeta = {}): FieldSchema {
  return { ...fields, [FIELD_META]: { ...(name ? { name } : {}), description, ...extra } };
}

/** A list keyed by `keys` (a list-map), merged item by item by apply and by strategic merge patch. */
function mapList(keys: string[], item: FieldSchema, description: string, extra: FieldMeta = {}): FieldSchema {
  return { '[]': item, [FIELD_META]: { listType: 'map', listMapKeys: keys, patchMergeKey: keys[0], patchStrategy: 'merge', description, ...extra } };
}

/** A list of unique strings merged by value (`finalizers`). */
function setList(description: string): FieldSchema {
  return { '[]': str(), [FIELD_META]: { listType: 'set', patchStrategy: 'merge', description } };
}

/** The schema of a leaf field by its name, where the name alone says it; `true` (untyped) otherwise. */
const COMMON: Record<string, FieldSchema> = {
  replicas: int('Desired number of pods.'),
  minReadySeconds: int('Seconds a new pod must be ready, without any container crashing, to count as available.'),
  revisionHistoryLimit: int('How many old revisions to keep for rollback.'),
  paused: bool('While true, changes to the template do not start a rollout.'),
  progressDeadlineSeconds: int('Seconds a rollout may go without progress before it is reported as failed.'),
  updateStrategy: anyObject('How existing pods are replaced when the template changes.'),
  completions: int('How many pods must finish successfully.'),
  parallelism: int('How many pods may run at once.'),
  backoffLimit: int('Retries before the job is marked failed.'),
  backoffLimitPerIndex: int('Retries per index of an indexed job.'),
  maxFailedIndexes: int('Failed indexes after which an indexed job fails.'),
  activeDeadlineSeconds: int('Seconds the object may be active before the system stops it.'),
  ttlSecondsAfterFinished: int('Seconds after finishing before the object is deleted.'),
  completionMode: str('NonIndexed, or Indexed to give each pod a completion index.'),
  suspend: bool('While true, no new pods (or jobs) are started.'),
  manualSelector: bool('Lets the user pick the selector instead of the generated one.'),
  podFailurePolicy: anyObject('Rules deciding what a failed pod means for the job.'),
  successPolicy: anyObject('Rules deciding when an indexed job has succeeded early.'),
  podReplacementPolicy: str('When a replacement pod is created: TerminatingOrFailed or Failed.'),
  managedBy: str('The controller that reconciles this object.'),
  schedule: str('Cron schedule: five fields, or a macro such as @hourly.'),
  timeZone: str('IANA time zone the schedule is read in.'),
  concurrencyPolicy: str('Allow, Forbid or Replace: what to do when a run is due while one is still active.'),
  startingDeadlineSeconds: int('Seconds after the scheduled time a missed run may still start.'),
  successfulJobsHistoryLimit: int('Finished successful jobs kept.'),
  failedJobsHistoryLimit: int('Finished failed jobs kept.'),
  jobTemplate: anyObject('The job created on each run.'),
  immutable: bool('When true the data can no longer be changed, only the object deleted.'),
  data: strMap('The data, by key.'),
  status: anyObject('The state the system observed most recently; written by controllers, read-only to users.'),
};

/** The schema a `true` leaf of this name stands for (`replicas` is an integer); undefined when the name does not say. */
export function leafSchema(name: string): FieldSchema | undefined {
  return COMMON[name];
}

/** Known leaves by name, typed where the name says what they hold. */
const leaf = (...names: string[]): FieldSchema => Object.fromEntries(names.map((n) => [n, COMMON[n] ?? true]));

// ---------------------------------------------------- shared structures

const MANAGED_FIELDS_ENTRY = struct('io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry', 'The fields one manager owns, written by the server on each change.', {
  manager: str('Who made the change: the fieldManager, or the client program name.'),
  operation: str('Apply (server-side apply) or Update (any other write).'),
  apiVersion: str('Version of the object the field set is written in.'),
  time: time('When the manager last changed a field it owns.'),
  fieldsType: str('Format of fieldsV1: always FieldsV1.'),
  fieldsV1: anyObject('The owned fields as a tree of f:<field>, k:<list-map key>, v:<value> and . (the node itself) entries.'),
  subresource: str('The subresource the change was made through, if any.'),
});

const OWNER_REFERENCE = struct('io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference', 'An object this one depends on; deleting the owner deletes this one.', {
  apiVersion: str('API version of the owner.'),
  kind: str('Kind of the owner.'),
  name: str('Name of the owner.'),
  uid: str('UID of the owner.'),
  controller: bool('Marks the managing controller; at most one owner has it.'),
  blockOwnerDeletion: bool('With foreground deletion, the owner waits for this object to go first.'),
});

const OBJECT_META = struct('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', 'Standard metadata every persisted object has.', {
  name: str('Name of the object, unique among its kind in its namespace (or cluster-wide for cluster-scoped kinds).'),
  generateName: str('Prefix the server completes with a random suffix when no name is given.'),
  namespace: str('Namespace the object lives in; empty for cluster-scoped kinds.'),
  selfLink: str('Deprecated; not set.'),
  uid: str('Identity the server assigns at creation; never reused.'),
  resourceVersion: str('Opaque version of the object in the store; sent back on update as a precondition.'),
  generation: int('Counter the server increments on each change of the desired state.'),
  creationTimestamp: time('When the object was created (server time).'),
  deletionTimestamp: time('When deletion was requested; the object goes once its finalizers are gone.'),
  deletionGracePeriodSeconds: int('Seconds the object has to shut down once deletion is requested.'),
  labels: strMap('Key/value pairs selectors match on.'),
  annotations: strMap('Key/value pairs for tools and people; never used for selection.'),
  ownerReferences: mapList(['uid'], OWNER_REFERENCE, 'Objects this one depends on, for garbage collection.'),
  finalizers: setList('Names of the steps that must finish before the object is deleted.'),
  managedFields: { '[]': MANAGED_FIELDS_ENTRY, [FIELD_META]: { listType: 'atomic', description: 'Which manager owns which fields (server-side apply); maintained by the server.' } },
});

const LABEL_SELECTOR = struct('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector', 'A label query: every term must match; an empty selector matches everything.', {
  matchLabels: strMap('Labels that must be present with exactly these values.'),
  matchExpressions: { '[]': struct('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement', 'One requirement on one label key.', {
    key: str('The label key.'),
    operator: str('In, NotIn, Exists or DoesNotExist.'),
    values: strList('Values for In and NotIn; empty for Exists and DoesNotExist.'),
  }), [FIELD_META]: { listType: 'atomic', description: 'Requirements on labels, all of which must hold.' } },
}, { atomic: true });
COMMON.selector = LABEL_SELECTOR;

const RESOURCE_REQUIREMENTS = struct('io.k8s.api.core.v1.ResourceRequirements', 'Compute resources a container asks for and may not exceed.', {
  limits: qtyMap('Most of each resource the container may use (cpu, memory).'),
  requests: qtyMap('Resources the scheduler reserves for the container.'),
  claims: objectList('Dynamic resource claims the container uses.'),
});

const PROBE = struct('io.k8s.api.core.v1.Probe', 'A periodic check of a container: a command, an HTTP GET, a TCP connect or a gRPC health call.', {
  exec: anyObject('Run a command in the container; exit 0 is success.'),
  httpGet: anyObject('GET a path on the container; 200-399 is success.'),
  tcpSocket: anyObject('Open a TCP connection to a port.'),
  grpc: anyObject('Call the gRPC health service.'),
  initialDelaySeconds: int('Seconds after the container starts before the first check.'),
  timeoutSeconds: int('Seconds a check may take.'),
  periodSeconds: int('Seconds between checks.'),
  successThreshold: int('Consecutive successes after a failure to count as passing.'),
  failureThreshold: int('Consecutive failures to count as failing.'),
  terminationGracePeriodSeconds: int('Grace period when a failing probe kills the container.'),
});

const CONTAINER_PORT = struct('io.k8s.api.core.v1.ContainerPort', 'A port the container listens on.', {
  name: str('Name services can refer to the port by.'),
  hostPort: int('Port on the host to expose the container port on.'),
  containerPort: int('Port number inside the pod.'),
  protocol: str('TCP (default), UDP or SCTP.'),
  hostIP: str('Host address to bind a hostPort to.'),
});

const ENV_VAR = struct('io.k8s.api.core.v1.EnvVar', 'One environment variable.', {
  name: str('Variable name.'),
  value: str('Literal value; $(VAR) references are expanded.'),
  valueFrom: anyObject('Take the value from a ConfigMap, Secret, field or resource instead.'),
});

const VOLUME_MOUNT = struct('io.k8s.api.core.v1.VolumeMount', 'Where a pod volume appears in the container.', {
  name: str('Name of the pod volume.'),
  readOnly: bool('Mount read-only.'),
  recursiveReadOnly: str('Whether submounts are read-only too.'),
  mountPath: str('Path inside the container.'),
  subPath: str('Mount only this path of the volume.'),
  mountPropagation: str('How mounts propagate between host and container.'),
  subPathExpr: str('Like subPath, with $(VAR) expansion.'),
});

const CONTAINER = struct('io.k8s.api.core.v1.Container', 'One container of a pod.', {
  name: str('Name of the container, unique in the pod.'),
  image: str('Image to run.'),
  command: strList('Entrypoint; the image\'s ENTRYPOINT when empty.'),
  args: strList('Arguments to the entrypoint; the image\'s CMD when empty.'),
  workingDir: str('Working directory; the image\'s when empty.'),
  ports: mapList(['containerPort', 'protocol'], CONTAINER_PORT, 'Ports the container exposes (informational; any listening port is reachable).', { keyDefaults: { protocol: 'TCP' } }),
  envFrom: objectList('Whole ConfigMaps or Secrets imported as environment variables.'),
  env: mapList(['name'], ENV_VAR, 'Environment variables.'),
  resources: RESOURCE_REQUIREMENTS,
  resizePolicy: objectList('How each resource may be resized in place.'),
  restartPolicy: str('For init containers only: Always makes it a sidecar.'),
  volumeMounts: mapList(['mountPath'], VOLUME_MOUNT, 'Pod volumes mounted into the container.'),
  volumeDevices: mapList(['devicePath'], struct(undefined, 'A block device.', { name: str('Volume name.'), devicePath: str('Path in the container.') }), 'Block devices of the pod the container uses.'),
  livenessProbe: PROBE,
  readinessProbe: PROBE,
  startupProbe: PROBE,
  lifecycle: anyObject('Actions run after the container starts and before it stops.'),
  terminationMessagePath: str('File whose content becomes the termination message.'),
  terminationMessagePolicy: str('File, or FallbackToLogsOnError to use the log tail when the file is empty.'),
  imagePullPolicy: str('Always, Never or IfNotPresent.'),
  securityContext: anyObject('Security options of the container (user, capabilities, read-only root…).'),
  stdin: bool('Keep a stdin open for attach.'),
  stdinOnce: bool('Close stdin after the first attach ends.'),
  tty: bool('Allocate a terminal.'),
});

const named = (description: string): FieldSchema => struct(undefined, description, { name: str('Name.') }, { open: true });

const POD_SPEC = struct('io.k8s.api.core.v1.PodSpec', 'What a pod runs and how.', {
  volumes: mapList(['name'], named('A volume the pod\'s containers may mount.'), 'Volumes of the pod.', { patchStrategy: 'merge,retainKeys' }),
  initContainers: mapList(['name'], CONTAINER, 'Containers run one after the other, each to completion, before the app containers start.'),
  containers: mapList(['name'], CONTAINER, 'The app containers; at least one.'),
  ephemeralContainers: mapList(['name'], named('A debugging container added to a running pod.'), 'Debugging containers added through the ephemeralcontainers subresource.'),
  restartPolicy: str('Always, OnFailure or Never.'),
  terminationGracePeriodSeconds: int('Seconds between SIGTERM and SIGKILL when the pod stops.'),
  activeDeadlineSeconds: int('Seconds the pod may be active before it is failed with DeadlineExceeded.'),
  dnsPolicy: str('ClusterFirst, ClusterFirstWithHostNet, Default or None.'),
  nodeSelector: strMap('Labels a node must have for the pod to go there.', true),
  serviceAccountName: str('Service account the pod runs as.'),
  serviceAccount: str('Deprecated alias of serviceAccountName.'),
  automountServiceAccountToken: bool('Mount the service account token into the containers.'),
  nodeName: str('The node the pod is bound to; set by the scheduler.'),
  hostNetwork: bool('Use the host\'s network namespace.'),
  hostPID: bool('Use the host\'s process namespace.'),
  hostIPC: bool('Use the host\'s IPC namespace.'),
  shareProcessNamespace: bool('One process namespace for all containers of the pod.'),
  securityContext: anyObject('Security options of the whole pod (fsGroup, runAsUser…).'),
  imagePullSecrets: mapList(['name'], named('A Secret of registry credentials.'), 'Registry credentials for pulling images.'),
  hostname: str('Host name of the pod; the pod name when empty.'),
  subdomain: str('Subdomain, for a fully qualified pod host name.'),
  affinity: anyObject('Node and pod affinity and anti-affinity rules.'),
  schedulerName: str('Scheduler that places the pod.'),
  tolerations: objectList('Taints the pod tolerates.'),
  hostAliases: mapList(['ip'], struct(undefined, 'Extra /etc/hosts lines for one address.', { ip: str('The address.'), hostnames: strList('Names for it.') }), 'Entries added to the pod\'s /etc/hosts.'),
  priorityClassName: str('Priority class of the pod.'),
  priority: int('Priority value, resolved from the priority class.'),
  dnsConfig: anyObject('Extra DNS settings (nameservers, searches, options).'),
  readinessGates: objectList('Extra conditions that must hold for the pod to be ready.'),
  runtimeClassName: str('Runtime class to run the pod with.'),
  enableServiceLinks: bool('Inject environment variables for the services of the namespace.'),
  preemptionPolicy: str('PreemptLowerPriority or Never.'),
  overhead: qtyMap('Resources the pod sandbox itself uses.'),
  topologySpreadConstraints: mapList(['topologyKey', 'whenUnsatisfiable'], struct(undefined, 'How to spread matching pods over a topology.', { topologyKey: str('Node label that defines the domains.'), whenUnsatisfiable: str('DoNotSchedule or ScheduleAnyway.') }, { open: true }), 'How pods are spread over failure domains.'),
  setHostnameAsFQDN: bool('Set the host name to the fully qualified name.'),
  os: anyObject('Operating system of the containers.'),
  hostUsers: bool('Use the host\'s user namespace.'),
  schedulingGates: mapList(['name'], struct(undefined, 'One gate.', { name: str('Name of the gate.') }), 'Gates that keep the pod from being scheduled until removed.'),
  resourceClaims: mapList(['name'], named('A dynamic resource claim.'), 'Dynamic resources the pod uses.', { patchStrategy: 'merge,retainKeys' }),
  resources: RESOURCE_REQUIREMENTS,
});

const POD_TEMPLATE = struct('io.k8s.api.core.v1.PodTemplateSpec', 'The pods this object creates: their metadata and spec.', { metadata: OBJECT_META, spec: POD_SPEC });

/** A top-level object: type fields, metadata and the kind's own fields. */
const object = (fields: FieldSchema, description?: string): FieldSchema => ({
  apiVersion: str('Versioned schema of this representation of the object, e.g. apps/v1.'),
  kind: str('Kind of the object, in CamelCase.'),
  metadata: OBJECT_META,
  ...fields,
  ...(description ? { [FIELD_META]: { description } } : {}),
});

const DEPLOYMENT_STRATEGY = struct('io.k8s.api.apps.v1.DeploymentStrategy', 'How old pods are replaced by new ones.', {
  type: str('RollingUpdate (default) or Recreate.'),
  rollingUpdate: struct('io.k8s.api.apps.v1.RollingUpdateDeployment', 'Limits of a rolling update.', {
    maxUnavailable: intOrString('Pods that may be unavailable during the update: a count or a percentage.'),
    maxSurge: intOrString('Pods that may exist above the desired count: a count or a percentage.'),
  }),
});

const SERVICE_PORT = struct('io.k8s.api.core.v1.ServicePort', 'A port of the service.', {
  name: str('Name of the port; required when there are several.'),
  protocol: str('TCP (default), UDP or SCTP.'),
  appProtocol: str('Application protocol, a hint for proxies.'),
  port: int('Port the service listens on.'),
  targetPort: intOrString('Port number or name on the pods; the same as port when empty.'),
  nodePort: int('Port on every node, for NodePort and LoadBalancer services.'),
});

/** A Job's spec: also the spec of a CronJob's jobTemplate. */
const JOB_SPEC: FieldSchema = struct('io.k8s.api.batch.v1.JobSpec', 'How many pods must finish, how many may run at once, and how failures are retried.', {
  ...leaf(
    'parallelism', 'completions', 'activeDeadlineSeconds', 'podFailurePolicy', 'successPolicy', 'backoffLimit', 'backoffLimitPerIndex',
    'maxFailedIndexes', 'selector', 'manualSelector', 'ttlSecondsAfterFinished', 'completionMode', 'suspend', 'podReplacementPolicy', 'managedBy',
  ),
  template: POD_TEMPLATE,
});

/** Schemas by `group/plural`. */
const SCHEMAS: Record<string, FieldSchema> = {
  '/pods': object({ spec: POD_SPEC, status: true }, 'A group of containers that run together on one node.'),
  '/configmaps': object({ ...leaf('data', 'immutable'), binaryData: strMap('Binary data, by key, base64 encoded.') }, 'Configuration data, by key, for pods to read.'),
  '/secrets': object({
    data: strMap('Secret data, by key, base64 encoded.'),
    stringData: strMap('Secret data in plain text, folded into data on write.'),
    type: str('What the secret holds (Opaque, kubernetes.io/tls, …); decides which keys it needs.'),
    ...leaf('immutable'),
  }, 'Confidential data, by key; encrypted at rest.'),
  '/namespaces': object({ spec: struct(undefined, 'What the namespace needs.', { finalizers: strList('Steps that must finish before the namespace is deleted.') }), status: true }, 'A scope for names, and a unit of access and deletion.'),
  '/nodes': object({
    spec: struct(undefined, 'How the node is configured.', {
      podCIDR: str('Pod address range of the node.'),
      podCIDRs: strList('Pod address ranges of the node, one per family.'),
      providerID: str('Identity of the node at its provider.'),
      unschedulable: bool('No new pods are placed on the node (cordoned).'),
      taints: objectList('Taints that repel pods without a matching toleration.'),
      configSource: anyObject('Deprecated.'),
      externalID: str('Deprecated.'),
    }),
    status: true,
  }, 'A worker machine that runs pods.'),
  '/services': object({
    spec: struct('io.k8s.api.core.v1.ServiceSpec', 'How the service is reached and which pods answer.', {
      ports: mapList(['port', 'protocol'], SERVICE_PORT, 'Ports the service exposes.', { keyDefaults: { protocol: 'TCP' } }),
      selector: strMap('Pods with these labels are the endpoints.', true),
      clusterIP: str('The virtual address of the service; allocated when empty, None for a headless service.'),
      clusterIPs: strList('The virtual addresses, one per family.'),
      type: str('ClusterIP (default), NodePort, LoadBalancer or ExternalName.'),
      externalIPs: strList('Extra addresses the service accepts traffic on.'),
      sessionAffinity: str('None or ClientIP.'),
      loadBalancerIP: str('Deprecated.'),
      loadBalancerSourceRanges: strList('Client ranges the load balancer admits.'),
      externalName: str('DNS name an ExternalName service aliases.'),
      externalTrafficPolicy: str('Cluster or Local: whether external traffic may leave the node it arrived on.'),
      healthCheckNodePort: int('Node port of the health check for Local traffic policy.'),
      publishNotReadyAddresses: bool('Publish endpoints of pods that are not ready.'),
      sessionAffinityConfig: anyObject('Settings of ClientIP affinity.'),
      ipFamilies: strList('IPv4 and/or IPv6.'),
      ipFamilyPolicy: str('SingleStack, PreferDualStack or RequireDualStack.'),
      allocateLoadBalancerNodePorts: bool('Allocate node ports for a LoadBalancer service.'),
      loadBalancerClass: str('Load balancer implementation.'),
      internalTrafficPolicy: str('Cluster or Local, for traffic from inside the cluster.'),
      trafficDistribution: str('Preference for how traffic is spread over endpoints.'),
    }),
    status: true,
  }, 'A stable address and name for a set of pods.'),
  '/endpoints': object({ subsets: objectList('Addresses and ports of the service\'s endpoints.') }, 'The ready and not-ready addresses of a service.'),
  '/events': object({
    involvedObject: anyObject('The object the event is about.'),
    reason: str('Short, machine-readable cause.'),
    message: str('Human-readable description.'),
    source: anyObject('The component that reported the event.'),
    firstTimestamp: time('First time the event was seen.'),
    lastTimestamp: time('Last time the event was seen.'),
    count: int('How many times it was seen.'),
    type: str('Normal or Warning.'),
    eventTime: time('When the event first happened, in microseconds.'),
    series: anyObject('Data of a repeating event.'),
    action: str('What was done, or failed.'),
    related: anyObject('A second object involved.'),
    reportingComponent: str('Controller that emitted the event.'),
    reportingInstance: str('Instance of that controller.'),
  }, 'A report of something that happened to an object.'),
  'apps/replicasets': object({
    spec: struct('io.k8s.api.apps.v1.ReplicaSetSpec', 'How many pods and which.', { ...leaf('replicas', 'minReadySeconds', 'selector'), template: POD_TEMPLATE }),
    status: true,
  }, 'Keeps a number of identical pods running.'),
  'apps/deployments': object({
    spec: struct('io.k8s.api.apps.v1.DeploymentSpec', 'The pods wanted and how to roll out changes to them.', {
      ...leaf('replicas', 'selector', 'minReadySeconds', 'revisionHistoryLimit', 'paused', 'progressDeadlineSeconds'),
      strategy: DEPLOYMENT_STRATEGY,
      template: POD_TEMPLATE,
    }),
    status: true,
  }, 'Declarative updates of pods through ReplicaSets: rollouts and rollbacks.'),
  'discovery.k8s.io/endpointslices': object({
    addressType: str('IPv4, IPv6 or FQDN.'),
    endpoints: objectList('The endpoints of the slice.'),
    ports: objectList('The ports every endpoint serves.'),
  }, 'A part of the endpoints of a service.'),
  'networking.k8s.io/ingresses': object({
    spec: struct('io.k8s.api.networking.v1.IngressSpec', 'Routing rules from host and path to services.', {
      ingressClassName: str('The IngressClass that implements this ingress.'),
      defaultBackend: anyObject('Where requests no rule matches go.'),
      tls: objectList('TLS settings per set of hosts.'),
      rules: objectList('Host and path rules.'),
    }),
    status: true,
  }, 'HTTP routing from outside the cluster to services.'),
  'networking.k8s.io/ingressclasses': object({
    spec: struct(undefined, 'Which controller implements the class.', { controller: str('Name of the controller.'), parameters: anyObject('Controller-specific configuration.') }),
  }, 'A kind of ingress and the controller that implements it.'),
  'policy/poddisruptionbudgets': object({
    spec: struct(undefined, 'How many of the selected pods must stay up.', {
      minAvailable: intOrString('Pods that must remain available: a count or a percentage.'),
      maxUnavailable: intOrString('Pods that may be unavailable: a count or a percentage.'),
      ...leaf('selector'),
      unhealthyPodEvictionPolicy: str('IfHealthyBudget or AlwaysAllow.'),
    }),
    status: true,
  }, 'Limits voluntary disruptions (evictions) of a set of pods.'),
  'scheduling.k8s.io/priorityclasses': object({
    value: int('The priority of pods naming this class; higher is scheduled first.'),
    globalDefault: bool('Pods naming no class get this one.'),
    description: str('When to use this class.'),
    preemptionPolicy: str('PreemptLowerPriority or Never.'),
  }, 'A named pod priority.'),
  'coordination.k8s.io/leases': object({
    spec: struct(undefined, 'Who holds the lease and for how long.', {
      holderIdentity: str('Current holder.'),
      leaseDurationSeconds: int('Seconds the holder keeps the lease without renewing it.'),
      acquireTime: time('When the lease was acquired.'),
      renewTime: time('When the holder last renewed it.'),
      leaseTransitions: int('How often the lease changed holders.'),
      strategy: str('Leader election strategy.'),
      preferredHolder: str('Holder the lease should move to.'),
    }),
  }, 'A lease: leader election and node heartbeats.'),
  'apps/daemonsets': object({
    spec: struct('io.k8s.api.apps.v1.DaemonSetSpec', 'One pod per eligible node, and how they are replaced.', {
      ...leaf('selector', 'updateStrategy', 'minReadySeconds', 'revisionHistoryLimit'),
      template: POD_TEMPLATE,
    }),
    status: true,
  }, 'Runs one copy of a pod on every eligible node.'),
  'apps/controllerrevisions': object({
    data: anyObject('The snapshot: a patch holding the template.'),
    revision: int('Revision number of this snapshot; higher is newer.'),
  }, 'An immutable snapshot of a workload template, for rollback.'),
  'batch/jobs': object({ spec: JOB_SPEC, status: true }, 'Pods that run to completion, retried on failure.'),
  'batch/cronjobs': object({
    spec: struct('io.k8s.api.batch.v1.CronJobSpec', 'When to create jobs and how runs may overlap.', {
      ...leaf('schedule', 'timeZone', 'startingDeadlineSeconds', 'concurrencyPolicy', 'suspend', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'),
      jobTemplate: struct('io.k8s.api.batch.v1.JobTemplateSpec', 'The job created on each run.', { metadata: OBJECT_META, spec: JOB_SPEC }),
    }),
    status: true,
  }, 'Jobs created on a cron schedule.'),
};

/** The field schema of a resource, by group and plural; undefined for kinds without one. */
export function fieldSchemaFor(info: Pick<ResourceInfo, 'group' | 'plural'>): FieldSchema | undefined {
  return SCHEMAS[`${info.group}/${info.plural}`];
}

/**
 * The schema documents show for a kind without a table of its own: type
 * fields and standard metadata, spec and status as free objects. Not used
 * for strict validation (such kinds are not checked).
 */
export const GENERIC_OBJECT_SCHEMA: FieldSchema = object({ spec: anyObject('The desired state of the object.'), status: COMMON.status! });

/** What the table says about a node; `{}` for `true` leaves and plain levels. */
export function fieldMeta(node: FieldSchema | true | undefined): FieldMeta {
  return node === true || node === undefined ? {} : (node[FIELD_META] ?? {});
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function walk(value: unknown, schema: FieldSchema, path: string, out: string[]): void {
  const meta = schema[FIELD_META];
  if (meta?.type || meta?.open) return;
  const items = schema['[]'];
  if (items !== undefined) {
    if (Array.isArray(value) && items !== true) value.forEach((v, i) => walk(v, items, `${path}[${i}]`, out));
    return;
  }
  if (!isObj(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    const sub = schema[k];
    if (sub === undefined) out.push(p);
    else if (sub !== true) walk(v, sub, p, out);
  }
}

/** Paths of the fields of `obj` its kind does not know (`spec.replicaz`), in document order; [] for unchecked kinds. */
export function unknownFields(info: Pick<ResourceInfo, 'group' | 'plural'>, obj: KubeObject): string[] {
  const schema = fieldSchemaFor(info);
  if (!schema) return [];
  const out: string[] = [];
  walk(obj, schema, '', out);
  return out;
}
