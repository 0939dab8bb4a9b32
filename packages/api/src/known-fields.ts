/**
 * The fields each kind knows, for `fieldValidation=Strict|Warn` (kubectl
 * sends Strict since 1.27, so a `replicaz:` typo is refused instead of
 * silently dropped). Checked to the depth the table below describes: the
 * top level, metadata and each kind's spec (and the pod template's spec);
 * a `true` leaf is known and not looked into. Kinds without an entry are
 * not checked. Field names are Kubernetes' (k8s.io/api, v1.32).
 */
import type { KubeObject } from './meta.js';
import type { ResourceInfo } from './resource.js';

/** Known fields of one object level: a nested schema, or `true` (known, not checked deeper). */
export interface FieldSchema {
  [field: string]: FieldSchema | true;
}

const leaf = (...names: string[]): FieldSchema => Object.fromEntries(names.map((n) => [n, true]));

const OBJECT_META = leaf(
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
);

const CONTAINER = leaf(
  'name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy', 'restartPolicy',
  'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'terminationMessagePath',
  'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
);

const POD_SPEC: FieldSchema = {
  ...leaf(
    'volumes', 'ephemeralContainers', 'restartPolicy', 'terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'dnsPolicy',
    'nodeSelector', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken', 'nodeName', 'hostNetwork', 'hostPID',
    'hostIPC', 'shareProcessNamespace', 'securityContext', 'imagePullSecrets', 'hostname', 'subdomain', 'affinity', 'schedulerName',
    'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig', 'readinessGates', 'runtimeClassName',
    'enableServiceLinks', 'preemptionPolicy', 'overhead', 'topologySpreadConstraints', 'setHostnameAsFQDN', 'os', 'hostUsers',
    'schedulingGates', 'resourceClaims', 'resources',
  ),
  containers: { '[]': CONTAINER },
  initContainers: { '[]': CONTAINER },
};

const POD_TEMPLATE: FieldSchema = { metadata: OBJECT_META, spec: POD_SPEC };

const JOB_SPEC: FieldSchema = {
  ...leaf(
    'parallelism', 'completions', 'activeDeadlineSeconds', 'podFailurePolicy', 'successPolicy', 'backoffLimit', 'backoffLimitPerIndex',
    'maxFailedIndexes', 'selector', 'manualSelector', 'ttlSecondsAfterFinished', 'completionMode', 'suspend', 'podReplacementPolicy', 'managedBy',
  ),
  template: POD_TEMPLATE,
};

const object = (fields: FieldSchema): FieldSchema => ({ apiVersion: true, kind: true, metadata: OBJECT_META, ...fields });

/** Schemas by `group/plural`. */
const SCHEMAS: Record<string, FieldSchema> = {
  '/pods': object({ spec: POD_SPEC, status: true }),
  '/configmaps': object(leaf('data', 'binaryData', 'immutable')),
  '/secrets': object(leaf('data', 'stringData', 'type', 'immutable')),
  '/namespaces': object({ spec: leaf('finalizers'), status: true }),
  '/nodes': object({ spec: leaf('podCIDR', 'podCIDRs', 'providerID', 'unschedulable', 'taints', 'configSource', 'externalID'), status: true }),
  '/services': object({
    spec: leaf(
      'ports', 'selector', 'clusterIP', 'clusterIPs', 'type', 'externalIPs', 'sessionAffinity', 'loadBalancerIP',
      'loadBalancerSourceRanges', 'externalName', 'externalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses',
      'sessionAffinityConfig', 'ipFamilies', 'ipFamilyPolicy', 'allocateLoadBalancerNodePorts', 'loadBalancerClass',
      'internalTrafficPolicy', 'trafficDistribution',
    ),
    status: true,
  }),
  '/endpoints': object(leaf('subsets')),
  'apps/replicasets': object({ spec: { ...leaf('replicas', 'minReadySeconds', 'selector'), template: POD_TEMPLATE }, status: true }),
  'apps/deployments': object({
    spec: { ...leaf('replicas', 'selector', 'strategy', 'minReadySeconds', 'revisionHistoryLimit', 'paused', 'progressDeadlineSeconds'), template: POD_TEMPLATE },
    status: true,
  }),
  'apps/daemonsets': object({
    spec: { ...leaf('selector', 'updateStrategy', 'minReadySeconds', 'revisionHistoryLimit'), template: POD_TEMPLATE },
    status: true,
  }),
  'apps/controllerrevisions': object(leaf('data', 'revision')),
  'batch/jobs': object({ spec: JOB_SPEC, status: true }),
  'batch/cronjobs': object({
    spec: {
      ...leaf('schedule', 'timeZone', 'startingDeadlineSeconds', 'concurrencyPolicy', 'suspend', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'),
      jobTemplate: { metadata: OBJECT_META, spec: JOB_SPEC },
    },
    status: true,
  }),
  'networking.k8s.io/ingresses': object({ spec: leaf('ingressClassName', 'defaultBackend', 'tls', 'rules'), status: true }),
  'coordination.k8s.io/leases': object({ spec: leaf('holderIdentity', 'leaseDurationSeconds', 'acquireTime', 'renewTime', 'leaseTransitions', 'strategy', 'preferredHolder') }),
};

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function walk(value: unknown, schema: FieldSchema, path: string, out: string[]): void {
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
  const schema = SCHEMAS[`${info.group}/${info.plural}`];
  if (!schema) return [];
  const out: string[] = [];
  walk(obj, schema, '', out);
  return out;
}
