/**
 * The node heartbeat: a Lease `kube-node-lease/<node>` whose renewTime the
 * agent moves forward every interval. The node-lifecycle controller reads
 * it to tell a live node from a dead one; it is far cheaper than writing
 * the whole Node status.
 */
import { isReason, nowMicroTimestamp, type Lease } from '@flotilla/api';
import type { ApiClient, ResourceClient } from '@flotilla/client';

/** The namespace of node leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** Renews one node's Lease. */
export class LeaseHeartbeat {
  private readonly leases: ResourceClient<Lease>;
  private cached: Lease | undefined;

  constructor(
    client: ApiClient,
    private readonly nodeName: string,
    private readonly durationSeconds: number,
    private readonly nodeUid?: string,
  ) {
    this.leases = client.resource<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' });
  }

  /** Creates the Lease or moves its renewTime to now; a conflict re-reads and retries. */
  async renew(): Promise<Lease> {
    for (let attempt = 0; ; attempt++) {
      const now = nowMicroTimestamp();
      try {
        if (!this.cached) {
          try {
            this.cached = await this.leases.get(NODE_LEASE_NAMESPACE, this.nodeName);
          } catch (err) {
            if (!isReason(err, 'NotFound')) throw err;
            const lease: Lease = {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: {
                name: this.nodeName,
                namespace: NODE_LEASE_NAMESPACE,
                ...(this.nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: this.nodeUid }] } : {}),
              },
              spec: { holderIdentity: this.nodeName, leaseDurationSeconds: this.durationSeconds, renewTime: now },
            };
            this.cached = await this.leases.create(lease);
            return this.cached;
          }
        }
        const next: Lease = { ...this.cached, spec: { ...this.cached.spec, holderIdentity: this.nodeName, leaseDurationSeconds: this.durationSeconds, renewTime: now } };
        this.cached = await this.leases.update(next);
        return this.cached;
      } catch (err) {
        this.cached = undefined;
        if ((isReason(err, 'Conflict') || isReason(err, 'AlreadyExists') || isReason(err, 'NotFound')) && attempt < 5) continue;
        throw err;
      }
    }
  }
}
