/** scheduling.k8s.io/v1 types with Kubernetes field names. */
import type { KubeList, KubeObject, ObjectMeta } from './meta.js';

/** Whether pods of a class may preempt lower-priority pods. */
export type PreemptionPolicy = 'PreemptLowerPriority' | 'Never';

/**
 * A PriorityClass: a name for a pod priority. Pods name one in
 * `spec.priorityClassName`; admission writes its value into `spec.priority`,
 * and the scheduler takes higher priorities first. Cluster-scoped; the value
 * and preemption policy are immutable.
 */
export interface PriorityClass extends KubeObject {
  metadata: ObjectMeta;
  /** The priority; user classes at most {@link MAX_USER_PRIORITY}. */
  value: number;
  /** Pods naming no class get this one (at most one class should say so). */
  globalDefault?: boolean;
  description?: string;
  preemptionPolicy?: PreemptionPolicy;
}

/** A list of priority classes. */
export type PriorityClassList = KubeList<PriorityClass>;

/** Highest value a user-defined class may have; above it are the system classes. */
export const MAX_USER_PRIORITY = 1_000_000_000;

/** Prefix reserved for the system classes. */
export const SYSTEM_PRIORITY_CLASS_PREFIX = 'system-';

/** The classes every Kubernetes cluster has, with their values. */
export const SYSTEM_PRIORITY_CLASSES: Readonly<Record<string, number>> = Object.freeze({
  'system-node-critical': 2_000_001_000,
  'system-cluster-critical': 2_000_000_000,
});
