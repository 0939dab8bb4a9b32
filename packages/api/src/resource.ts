import type { FieldError } from './errors.js';
import type { KubeObject } from './meta.js';

/**
 * What the API knows about one resource type: where it lives on the wire,
 * how it is keyed in the store, and how it is defaulted and validated.
 * The apiserver, the store and the clients all read this one table.
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
  subresources: Array<'status' | 'scale' | 'binding' | 'log' | 'exec' | 'attach' | 'portforward' | 'eviction' | 'ephemeralcontainers' | 'proxy' | 'approval'>;
  /** Verbs for discovery. */
  verbs: string[];
  /** Fills in defaults in place (e.g. restartPolicy, protocol TCP). */
  applyDefaults(obj: KubeObject): void;
  /**
   * What the server sets on a new object once its uid is known and before
   * validation (Kubernetes' PrepareForCreate), e.g. a Job's generated
   * selector, or a CSR's requester (spec.username and groups) from `user`.
   */
  prepareForCreate?(obj: KubeObject, user: { name: string; uid?: string; groups: string[] }): void;
  /** Every problem of a create (old undefined) or update, with field paths. */
  validate(obj: KubeObject, old?: KubeObject): FieldError[];
  /** Field values for `fieldSelector`: `metadata.name`, `spec.nodeName`, … */
  fieldLabels(obj: KubeObject): Record<string, string>;
}

/** `apps/v1`, or `v1` for the core group. */
export function groupVersion(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}
