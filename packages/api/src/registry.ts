/**
 * The table of every resource Flotilla serves, one strategy entry per kind
 * (Kubernetes' registry). The apiserver routes, discovers and writes through
 * it, the storages and the fake client apply its metadata and status rules,
 * the CLI resolves `po` / `deploy` / `deployments.apps` through it.
 *
 * Adding a kind means four pieces, none of them in the generic REST code:
 * 1. its types (`<group>-types.ts`: the object, its spec and status, a List);
 * 2. its defaults and validation (`<kind>-validation.ts`: `defaultX(obj)`,
 *    `validateX(obj, old?)` returning every FieldError with its path, old
 *    given on update for immutable fields);
 * 3. one `resource({...})` entry below: names, scope, subresources, and any
 *    strategy hook that differs from the generic one — `prepareForCreate`
 *    (fields the server sets; status is reset for kinds with a status
 *    subresource), `prepareForUpdate` (what a write of the object or a
 *    subresource may change), `validateUpdate`, `deletion` (grace period,
 *    finalizers), `table` (its `kubectl get` columns, in table-columns.ts),
 *    `fields` (what `fieldSelector` may name); a row in GROUP_VERSIONS for a new
 *    group, and its known fields in known-fields.ts;
 * 4. its controller in packages/controller-manager.
 * Hooks that need I/O (a Service's cluster IP and node ports) are the
 * apiserver's, keyed by plural in its kind-hooks.ts.
 */
import type { DaemonSet, ReplicaSet } from './apps-types.js';
import type { Job } from './batch-types.js';
import { KUBELET_CLIENT_SIGNER, stampCsrRequester, validateCertificateSigningRequest, type CertificateSigningRequest } from './certificates-types.js';
import type { Secret } from './config-types.js';
import { defaultConfigMap, defaultSecret, validateConfigMap, validateSecret } from './config-validation.js';
import { NAMESPACE_DELETION, POD_DELETION, prepareCsrForUpdate, prepareNamespaceForCreate, preparePodForCreate } from './core-strategies.js';
import type { Event, Namespace, Node, Pod, Service } from './core-types.js';
import type { EndpointSlice } from './discovery-types.js';
import {
  defaultDeployment,
  defaultEndpointSlice,
  defaultEndpoints,
  defaultIngress,
  defaultNamespace,
  defaultNode,
  defaultPod,
  defaultReplicaSet,
  defaultService,
  noDefaults,
} from './defaults.js';
import type { FieldError } from './errors.js';
import { defaultIngressClass, validateIngressClass } from './ingressclass.js';
import type { KubeObject } from './meta.js';
import { validatePodDisruptionBudget } from './policy-validation.js';
import { groupVersion, type FieldLabel, type Requester, type ResourceInfo } from './resource.js';
import { defaultPriorityClass, validatePriorityClass } from './priorityclass-validation.js';
import { genericPrepareForCreate, genericPrepareForUpdate, IMMEDIATE_DELETION } from './strategy.js';
import { DEFAULT_TABLE, TABLES, type TablePrinter } from './table-columns.js';
import * as v from './validation.js';
import {
  defaultCronJob,
  defaultDaemonSet,
  defaultJob,
  prepareJobForCreate,
  validateControllerRevision,
  validateCronJob,
  validateDaemonSet,
  validateJob,
} from './workload-validation.js';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const metadataName: FieldLabel = (obj) => obj.metadata?.name ?? '';
const metadataNamespace: FieldLabel = (obj) => obj.metadata?.namespace ?? '';
const noNamespace: FieldLabel = () => '';

const str = (x: unknown): string => (x === undefined || x === null ? '' : String(x));

/** One kind's entry as written below: what is not given is the generic strategy. */
interface Def extends Omit<ResourceInfo, 'listKind' | 'verbs' | 'fields' | 'fieldLabels' | 'validate' | 'validateUpdate' | 'prepareForCreate' | 'prepareForUpdate' | 'deletion' | 'table'> {
  verbs?: string[];
  /** Create and update validation in one function (old given on update), as the validation files write it. */
  validate(obj: KubeObject, old?: KubeObject): FieldError[];
  /** Update validation when it is not `validate(obj, old)`. */
  validateUpdate?: ResourceInfo['validateUpdate'];
  /**
   * What the server sets on a new object besides the generic status reset.
   * `status: 'keep'` keeps a client's status (a Node registers with its
   * capacity); `'reset'` (the default) drops it for kinds with a status subresource.
   */
  prepareForCreate?: (obj: KubeObject, user: Requester) => void;
  createStatus?: 'keep' | 'reset';
  prepareForUpdate?: ResourceInfo['prepareForUpdate'];
  deletion?: ResourceInfo['deletion'];
  /** Its `kubectl get` columns; name and age when not given. */
  table?: TablePrinter;
  /** Its field labels besides metadata.name and metadata.namespace, which every kind has. */
  fields?: Record<string, FieldLabel>;
}

/** A registry entry: the kind's own hooks over the generic strategy. */
function resource(d: Def): ResourceInfo {
  const { fields: own, createStatus, validate, validateUpdate, prepareForCreate, prepareForUpdate, deletion, table, ...rest } = d;
  const hasStatus = d.subresources.includes('status');
  const resetStatus = genericPrepareForCreate(hasStatus && createStatus !== 'keep');
  const fields: Readonly<Record<string, FieldLabel>> = Object.freeze({ 'metadata.name': metadataName, 'metadata.namespace': d.namespaced ? metadataNamespace : noNamespace, ...own });
  const names = Object.keys(fields);
  return {
    ...rest,
    listKind: `${d.kind}List`,
    verbs: d.verbs ?? ALL_VERBS,
    validate: (obj) => validate(obj),
    validateUpdate: validateUpdate ?? ((obj, old) => validate(obj, old)),
    prepareForCreate: (obj, user) => {
      resetStatus(obj);
      prepareForCreate?.(obj, user);
    },
    prepareForUpdate: prepareForUpdate ?? genericPrepareForUpdate(hasStatus),
    deletion: deletion ?? IMMEDIATE_DELETION,
    table: table ?? DEFAULT_TABLE,
    fields,
    fieldLabels: (obj) => {
      const out: Record<string, string> = {};
      for (const n of names) out[n] = fields[n]!(obj);
      return out;
    },
  };
}

/** Every resource served, in discovery order. */
export const RESOURCES: readonly ResourceInfo[] = Object.freeze([
  resource({
    group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', singular: 'namespace', shortNames: ['ns'],
    namespaced: false, subresources: ['status'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    applyDefaults: defaultNamespace, validate: v.validateNamespace,
    table: TABLES.namespaces,
    prepareForCreate: prepareNamespaceForCreate, deletion: NAMESPACE_DELETION,
    fields: { 'status.phase': (o) => str((o as Namespace).status?.phase) },
  }),
  resource({
    group: '', version: 'v1', kind: 'Node', plural: 'nodes', singular: 'node', shortNames: ['no'],
    namespaced: false, subresources: ['status', 'proxy'],
    applyDefaults: defaultNode, validate: v.validateNode, createStatus: 'keep',
    table: TABLES.nodes,
    fields: { 'spec.unschedulable': (o) => String((o as Node).spec?.unschedulable === true) },
  }),
  resource({
    group: '', version: 'v1', kind: 'Pod', plural: 'pods', singular: 'pod', shortNames: ['po'],
    namespaced: true, subresources: ['status', 'binding', 'log', 'exec', 'attach', 'portforward', 'eviction', 'ephemeralcontainers', 'proxy'],
    applyDefaults: defaultPod, validate: v.validatePod,
    table: TABLES.pods,
    prepareForCreate: preparePodForCreate, deletion: POD_DELETION,
    fields: {
      'spec.nodeName': (o) => str((o as Pod).spec?.nodeName),
      'spec.restartPolicy': (o) => str((o as Pod).spec?.restartPolicy),
      'spec.schedulerName': (o) => str((o as Pod).spec?.schedulerName),
      'spec.serviceAccountName': (o) => str((o as Pod).spec?.serviceAccountName),
      'spec.hostNetwork': (o) => String((o as Pod).spec?.hostNetwork === true),
      'status.phase': (o) => str((o as Pod).status?.phase),
      'status.podIP': (o) => str((o as Pod).status?.podIP),
      'status.nominatedNodeName': (o) => str((o as Pod).status?.nominatedNodeName),
    },
  }),
  resource({
    group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', singular: 'replicaset', shortNames: ['rs'],
    namespaced: true, subresources: ['status', 'scale'],
    applyDefaults: defaultReplicaSet, validate: v.validateReplicaSet,
    table: TABLES.replicasets,
    fields: { 'status.replicas': (o) => str((o as ReplicaSet).status?.replicas ?? 0) },
  }),
  resource({
    group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', singular: 'deployment', shortNames: ['deploy'],
    namespaced: true, subresources: ['status', 'scale'],
    applyDefaults: defaultDeployment, validate: v.validateDeployment,
    table: TABLES.deployments,
  }),
  resource({
    group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', singular: 'daemonset', shortNames: ['ds'],
    namespaced: true, subresources: ['status'],
    applyDefaults: defaultDaemonSet, validate: validateDaemonSet,
    table: TABLES.daemonsets,
    fields: { 'status.desiredNumberScheduled': (o) => str((o as DaemonSet).status?.desiredNumberScheduled ?? 0) },
  }),
  resource({
    group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', singular: 'controllerrevision', shortNames: [],
    namespaced: true, subresources: [],
    applyDefaults: noDefaults, validate: validateControllerRevision,
    table: TABLES.controllerrevisions,
  }),
  resource({
    group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', singular: 'job', shortNames: [],
    namespaced: true, subresources: ['status'],
    applyDefaults: defaultJob, validate: validateJob, prepareForCreate: prepareJobForCreate,
    table: TABLES.jobs,
    fields: { 'status.successful': (o) => str((o as Job).status?.succeeded ?? 0) },
  }),
  resource({
    group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', singular: 'cronjob', shortNames: ['cj'],
    namespaced: true, subresources: ['status'],
    applyDefaults: defaultCronJob, validate: validateCronJob,
    table: TABLES.cronjobs,
  }),
  resource({
    group: '', version: 'v1', kind: 'Service', plural: 'services', singular: 'service', shortNames: ['svc'],
    namespaced: true, subresources: ['status', 'proxy'],
    applyDefaults: defaultService, validate: v.validateService,
    table: TABLES.services,
    fields: { 'spec.clusterIP': (o) => str((o as Service).spec?.clusterIP), 'spec.type': (o) => str((o as Service).spec?.type) },
  }),
  resource({
    group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints', shortNames: ['ep'],
    namespaced: true, subresources: [],
    applyDefaults: defaultEndpoints, validate: v.validateEndpoints,
    table: TABLES.endpoints,
  }),
  resource({
    group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', singular: 'endpointslice', shortNames: [],
    namespaced: true, subresources: [],
    applyDefaults: defaultEndpointSlice, validate: v.validateEndpointSlice,
    table: TABLES.endpointslices,
    fields: { addressType: (o) => str((o as EndpointSlice).addressType) },
  }),
  resource({
    group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap', shortNames: ['cm'],
    namespaced: true, subresources: [],
    applyDefaults: defaultConfigMap, validate: validateConfigMap,
    table: TABLES.configmaps,
  }),
  resource({
    group: '', version: 'v1', kind: 'Secret', plural: 'secrets', singular: 'secret', shortNames: [],
    namespaced: true, subresources: [],
    applyDefaults: defaultSecret, validate: validateSecret,
    table: TABLES.secrets,
    fields: { type: (o) => str((o as Secret).type) },
  }),
  resource({
    group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', singular: 'ingress', shortNames: ['ing'],
    namespaced: true, subresources: ['status'],
    applyDefaults: defaultIngress, validate: v.validateIngress,
    table: TABLES.ingresses,
  }),
  resource({
    group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', plural: 'ingressclasses', singular: 'ingressclass', shortNames: [],
    namespaced: false, subresources: [],
    applyDefaults: defaultIngressClass, validate: validateIngressClass,
    table: TABLES.ingressclasses,
  }),
  resource({
    group: '', version: 'v1', kind: 'Event', plural: 'events', singular: 'event', shortNames: ['ev'],
    namespaced: true, subresources: [],
    applyDefaults: noDefaults, validate: v.validateEvent,
    table: TABLES.events,
    fields: {
      'involvedObject.kind': (o) => str((o as Event).involvedObject?.kind),
      'involvedObject.namespace': (o) => str((o as Event).involvedObject?.namespace),
      'involvedObject.name': (o) => str((o as Event).involvedObject?.name),
      'involvedObject.uid': (o) => str((o as Event).involvedObject?.uid),
      'involvedObject.apiVersion': (o) => str((o as Event).involvedObject?.apiVersion),
      'involvedObject.resourceVersion': (o) => str((o as Event).involvedObject?.resourceVersion),
      'involvedObject.fieldPath': (o) => str((o as Event).involvedObject?.fieldPath),
      reason: (o) => str((o as Event).reason),
      reportingComponent: (o) => str((o as Event).reportingComponent),
      source: (o) => str((o as Event).source?.component),
      type: (o) => str((o as Event).type),
    },
  }),
  resource({
    group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', singular: 'poddisruptionbudget', shortNames: ['pdb'],
    namespaced: true, subresources: ['status'],
    applyDefaults: noDefaults, validate: validatePodDisruptionBudget,
  }),
  resource({
    group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease', shortNames: [],
    namespaced: true, subresources: [],
    applyDefaults: noDefaults, validate: v.validateLease,
    table: TABLES.leases,
  }),
  resource({
    group: 'scheduling.k8s.io', version: 'v1', kind: 'PriorityClass', plural: 'priorityclasses', singular: 'priorityclass', shortNames: ['pc'],
    namespaced: false, subresources: [],
    applyDefaults: defaultPriorityClass, validate: validatePriorityClass,
    table: TABLES.priorityclasses,
  }),
  resource({
    group: 'certificates.k8s.io', version: 'v1', kind: 'CertificateSigningRequest', plural: 'certificatesigningrequests', singular: 'certificatesigningrequest', shortNames: ['csr'],
    namespaced: false, subresources: ['status', 'approval'],
    applyDefaults: (o) => {
      // Kubernetes' default usages for the kubelet client signer, so a bare request is complete.
      const spec = o.spec as CertificateSigningRequest['spec'] | undefined;
      if (spec && typeof spec === 'object' && spec.usages === undefined && spec.signerName === KUBELET_CLIENT_SIGNER) spec.usages = ['digital signature', 'client auth'];
    },
    validate: validateCertificateSigningRequest,
    prepareForCreate: stampCsrRequester, prepareForUpdate: prepareCsrForUpdate,
    fields: { 'spec.signerName': (o) => str((o as CertificateSigningRequest).spec?.signerName) },
  }),
]);

/** One group of the API as discovery lists it. */
export interface GroupVersionInfo {
  /** '' for the core group (served under /api). */
  group: string;
  versions: string[];
  preferredVersion: string;
}

/**
 * Every group version served, core first. autoscaling/v1 is listed because
 * the `scale` subresources speak its Scale kind, although it has no
 * top-level resources of its own here.
 */
export const GROUP_VERSIONS: readonly GroupVersionInfo[] = Object.freeze([
  { group: '', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'apps', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'batch', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'discovery.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'networking.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'coordination.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'autoscaling', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'policy', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'certificates.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
  { group: 'scheduling.k8s.io', versions: ['v1'], preferredVersion: 'v1' },
]);

/** The group, version and kind a subresource reads and writes (for discovery and request bodies). */
export function subresourceKind(info: ResourceInfo, subresource: string): { group: string; version: string; kind: string } | undefined {
  if (!info.subresources.includes(subresource as ResourceInfo['subresources'][number])) return undefined;
  switch (subresource) {
    case 'scale':
      return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
    case 'binding':
      return { group: '', version: 'v1', kind: 'Binding' };
    case 'eviction':
      return { group: 'policy', version: 'v1', kind: 'Eviction' };
    default:
      // status and log are served with the parent's kind, as in Kubernetes discovery.
      return { group: info.group, version: info.version, kind: info.kind };
  }
}

/** The resources of one group version, for a discovery document. */
export function resourcesIn(group: string, version: string): ResourceInfo[] {
  return RESOURCES.filter((r) => r.group === group && r.version === version);
}

/** The resource served at `/apis/{group}/{version}/…/{plural}` (group '' for /api/v1). */
export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The resource of an object's `apiVersion` and `kind` (e.g. `apps/v1`, `Deployment`). */
export function resourceForKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
}

/**
 * Resolves what a user types on a command line: plural, singular, short
 * name or kind, case-insensitively, optionally qualified by group
 * (`deployments.apps`) or version and group (`deployments.v1.apps`).
 */
export function resourceByName(nameOrShortOrKind: string): ResourceInfo | undefined {
  const input = nameOrShortOrKind.trim();
  const names = (r: ResourceInfo) => [r.plural, r.singular, r.kind.toLowerCase(), ...r.shortNames];
  const lower = input.toLowerCase();
  const exact = RESOURCES.find((r) => names(r).includes(lower));
  if (exact) return exact;
  const dot = lower.indexOf('.');
  if (dot < 0) return undefined;
  const name = lower.slice(0, dot);
  const rest = lower.slice(dot + 1);
  const byGroup = RESOURCES.find((r) => r.group === rest && names(r).includes(name));
  if (byGroup) return byGroup;
  const dot2 = rest.indexOf('.');
  const version = dot2 < 0 ? rest : rest.slice(0, dot2);
  const group = dot2 < 0 ? '' : rest.slice(dot2 + 1);
  return RESOURCES.find((r) => r.version === version && r.group === group && names(r).includes(name));
}
