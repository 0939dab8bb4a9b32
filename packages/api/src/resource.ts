import type { FieldError } from './errors.js';
import type { KubeObject } from './meta.js';
import type { TablePrinter } from './table-columns.js';

/** The requester's identity, as authentication established it. */
export interface Requester {
  name: string;
  uid?: string;
  groups: string[];
}

/** A subresource a resource may serve besides the object itself. */
export type Subresource = 'status' | 'scale' | 'binding' | 'log' | 'exec' | 'attach' | 'portforward' | 'eviction' | 'ephemeralcontainers' | 'proxy' | 'approval';

/**
 * How objects of a kind are deleted (Kubernetes' RESTGracefulDeleteStrategy
 * and the finalizers a registry adds): a delete that needs time or
 * finalizers only marks the object (deletionTimestamp) and it stays until
 * they are done.
 */
export interface DeletionPolicy {
  /** Finalizers the server adds when a delete starts (a namespace's `kubernetes`, which the namespace controller removes once it is empty). */
  finalizers: readonly string[];
  /**
   * The grace period of a delete of `obj` when the client asked for
   * `requested` seconds (undefined: not said); 0 deletes at once. Pods bound
   * to a node get their terminationGracePeriodSeconds, so the agent can stop them.
   */
  gracePeriodSeconds(obj: KubeObject, requested: number | undefined): number;
  /** What else changes on the object when it is marked for deletion (a namespace's phase becomes Terminating). */
  prepareForDelete?(obj: KubeObject): void;
  /** A finished delete answers with the object (true: pods, whose deletes kubectl waits on) instead of a `Status`. */
  returnsObject: boolean;
}

/**
 * What the API knows about one resource type — where it lives on the wire,
 * how it is keyed in the store — and its strategy, as Kubernetes' registry
 * has one per kind: defaults, validation on create and on update, what the
 * server sets and resets on writes, subresources and deletion. The
 * apiserver, the storages, the fakes and the clients all read this one
 * table; see `registry.ts` for how to add a kind.
 */
export interface ResourceInfo {
  /** API group, '' for the core group. */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** Plural, lower-case name used in paths and store keys: `pods`. */
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  /** Subresources served besides the object itself. */
  subresources: Subresource[];
  /** Verbs for discovery. */
  verbs: string[];
  /** Fills in defaults in place (e.g. restartPolicy, protocol TCP); runs on every create and update. */
  applyDefaults(obj: KubeObject): void;
  /**
   * What the server sets on a new object (Kubernetes' PrepareForCreate),
   * after the metadata it owns was reset and the uid assigned, before
   * defaults and validation: status reset (a pod starts Pending, a namespace
   * Active, a kind with a status subresource starts with none), a Job's
   * generated selector, a CSR's requester from `user`.
   */
  prepareForCreate(obj: KubeObject, user: Requester): void;
  /** Every problem of a new object, with field paths. */
  validate(obj: KubeObject): FieldError[];
  /**
   * The object an update stores (Kubernetes' PrepareForUpdate), from what
   * the client sent (`desired`, which may be changed and returned) and the
   * stored object: a write of the object itself keeps the stored status when
   * the kind has a status subresource; `/status` changes only status; a CSR's
   * `/approval` only its conditions. Server-owned metadata is handled apart
   * (see prepareUpdate in strategy.ts). Must not change `cur`.
   */
  prepareForUpdate(desired: KubeObject, cur: KubeObject, subresource: string | undefined): KubeObject;
  /** Every problem of an update from `old`, with field paths: the create rules plus immutable fields (a Job's selector, a Service's clusterIP, an immutable ConfigMap's data). */
  validateUpdate(obj: KubeObject, old: KubeObject): FieldError[];
  /** How a delete proceeds: grace period, finalizers, what the answer is. */
  deletion: DeletionPolicy;
  /** The columns `kubectl get` shows (server-side printing). */
  table: TablePrinter;
  /**
   * The fields a `fieldSelector` may name (`metadata.name`, `spec.nodeName`,
   * …), each with how it reads an object: a selector reads only the fields
   * it names, and a watch index (`spec.nodeName=`) reads its one field.
   */
  fields: Readonly<Record<string, FieldLabel>>;
  /** Every field label's value of `obj` (see `fields`). */
  fieldLabels(obj: KubeObject): Record<string, string>;
}

/** One field label's value of an object, as a field selector compares it ('' when the object has none). */
export type FieldLabel = (obj: KubeObject) => string;

/** `apps/v1`, or `v1` for the core group. */
export function groupVersion(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}
