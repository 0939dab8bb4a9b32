/** policy/v1 types with Kubernetes field names: PodDisruptionBudget and Eviction. */
import type { IntOrString } from './core-types.js';
import type { Condition, KubeList, KubeObject, LabelSelector, ObjectMeta } from './meta.js';

/** spec of a PodDisruptionBudget: exactly one of minAvailable and maxUnavailable. */
export interface PodDisruptionBudgetSpec {
  /** Pods selected; an empty selector selects every pod of the namespace (policy/v1). */
  selector?: LabelSelector;
  /** Pods that must stay available during voluntary disruptions: a count or a percentage (`50%`). */
  minAvailable?: IntOrString;
  /** Pods that may be unavailable: a count or a percentage. */
  maxUnavailable?: IntOrString;
  /** `IfHealthyBudget` (default) or `AlwaysAllow`: whether not-ready pods may be evicted when the budget is exhausted. */
  unhealthyPodEvictionPolicy?: 'IfHealthyBudget' | 'AlwaysAllow';
}

/** status of a PodDisruptionBudget, kept by the disruption controller. */
export interface PodDisruptionBudgetStatus {
  observedGeneration?: number;
  /** Pods evicted but not yet seen gone, by name, with the eviction time. */
  disruptedPods?: Record<string, string>;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  conditions?: Condition[];
}

/** A PodDisruptionBudget (policy/v1). */
export interface PodDisruptionBudget extends KubeObject {
  metadata: ObjectMeta;
  spec?: PodDisruptionBudgetSpec;
  status?: PodDisruptionBudgetStatus;
}

/** A list of PodDisruptionBudgets. */
export type PodDisruptionBudgetList = KubeList<PodDisruptionBudget>;

/** An Eviction (policy/v1), the body of `POST pods/{name}/eviction`. */
export interface Eviction {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  deleteOptions?: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[] };
}
