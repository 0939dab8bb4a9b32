/** coordination.k8s.io/v1 types with Kubernetes field names. */
import type { KubeList, KubeObject, ObjectMeta } from './meta.js';

/** spec of a Lease. Times are RFC 3339 with microseconds (metav1.MicroTime). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A Lease: a node heartbeat or a leader-election lock. */
export interface Lease extends KubeObject {
  metadata: ObjectMeta;
  spec?: LeaseSpec;
}

/** A list of leases. */
export type LeaseList = KubeList<Lease>;
