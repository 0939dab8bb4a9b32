/** apps/v1 and autoscaling/v1 types with Kubernetes field names. */
import type { IntOrString, PodTemplateSpec } from './core-types.js';
import type { Condition, KubeList, KubeObject, LabelSelector, ObjectMeta } from './meta.js';

/** spec of a ReplicaSet. */
export interface ReplicaSetSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector: LabelSelector;
  template?: PodTemplateSpec;
}

/** status of a ReplicaSet. */
export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  terminatingReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

/** A ReplicaSet keeps a number of identical pods running. */
export interface ReplicaSet extends KubeObject {
  metadata: ObjectMeta;
  spec?: ReplicaSetSpec;
  status?: ReplicaSetStatus;
}

/** Parameters of a rolling update. */
export interface RollingUpdateDeployment {
  /** How many pods may be unavailable during the update: a count or `25%` (rounded down). */
  maxUnavailable?: IntOrString;
  /** How many pods may exist above the desired count: a count or `25%` (rounded up). */
  maxSurge?: IntOrString;
}

/** How a Deployment replaces old pods with new ones. */
export interface DeploymentStrategy {
  type?: 'RollingUpdate' | 'Recreate';
  rollingUpdate?: RollingUpdateDeployment;
}

/** spec of a Deployment. */
export interface DeploymentSpec {
  replicas?: number;
  selector: LabelSelector;
  template: PodTemplateSpec;
  strategy?: DeploymentStrategy;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  progressDeadlineSeconds?: number;
}

/** status of a Deployment. */
export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  terminatingReplicas?: number;
  conditions?: Condition[];
  collisionCount?: number;
}

/** A Deployment: declarative updates of pods through ReplicaSets. */
export interface Deployment extends KubeObject {
  metadata: ObjectMeta;
  spec?: DeploymentSpec;
  status?: DeploymentStatus;
}

/** spec of a Scale. */
export interface ScaleSpec {
  replicas?: number;
}

/** status of a Scale: the label selector is in its string form. */
export interface ScaleStatus {
  replicas: number;
  selector?: string;
}

/** autoscaling/v1 Scale, served by the `scale` subresource. */
export interface Scale extends KubeObject {
  metadata: ObjectMeta;
  spec?: ScaleSpec;
  status?: ScaleStatus;
}

/** A list of replica sets. */
export type ReplicaSetList = KubeList<ReplicaSet>;
/** A list of deployments. */
export type DeploymentList = KubeList<Deployment>;

/** Parameters of a DaemonSet rolling update. */
export interface RollingUpdateDaemonSet {
  /** Daemon pods that may be unavailable during the update: a count or `10%` (rounded up, at least 1 when maxSurge is 0). */
  maxUnavailable?: IntOrString;
  /** Nodes that may run an old and a new daemon pod at once: a count or a percentage. */
  maxSurge?: IntOrString;
}

/** How a DaemonSet replaces its pods when the template changes. */
export interface DaemonSetUpdateStrategy {
  type?: 'RollingUpdate' | 'OnDelete';
  rollingUpdate?: RollingUpdateDaemonSet;
}

/** spec of a DaemonSet. */
export interface DaemonSetSpec {
  selector: LabelSelector;
  template: PodTemplateSpec;
  updateStrategy?: DaemonSetUpdateStrategy;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
}

/** status of a DaemonSet. */
export interface DaemonSetStatus {
  currentNumberScheduled: number;
  numberMisscheduled: number;
  desiredNumberScheduled: number;
  numberReady: number;
  observedGeneration?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
  numberUnavailable?: number;
  collisionCount?: number;
  conditions?: Condition[];
}

/** A DaemonSet runs one copy of a pod on every eligible node. */
export interface DaemonSet extends KubeObject {
  metadata: ObjectMeta;
  spec?: DaemonSetSpec;
  status?: DaemonSetStatus;
}

/** A list of daemon sets. */
export type DaemonSetList = KubeList<DaemonSet>;

/**
 * An immutable snapshot of a controller's state (a DaemonSet's pod template
 * as a strategic merge patch): what `kubectl rollout history|undo` reads.
 */
export interface ControllerRevision extends KubeObject {
  metadata: ObjectMeta;
  data?: unknown;
  revision: number;
}

/** A list of controller revisions. */
export type ControllerRevisionList = KubeList<ControllerRevision>;
