/**
 * Time-to-live for objects (Events: kube-apiserver's --event-ttl) through
 * etcd leases, shared the way Kubernetes' lease manager shares them: a lease
 * granted for the TTL plus a reuse window serves every write of that window,
 * so each object lives between the TTL and the TTL plus the window, and etcd
 * holds one lease per window instead of one per object.
 *
 * Unlike Kubernetes (1,000 objects per lease), a lease here carries at most
 * 256 objects. etcd deletes a lease's keys in one transaction when it
 * expires, and etcd 3.4 (Debian's) copies its whole uncommitted-write
 * buffer for every later request once a batch has grown it past its
 * initial 512 entries, until a commit with no key writes shrinks it, which
 * a steady write load never gives (see deleteEtcdPrefix in the e2e package).
 */

/** Grants an etcd lease of `ttlSeconds`; resolves to its ID (decimal). */
export type LeaseGrant = (ttlSeconds: number) => Promise<string>;

export interface LeasePoolOptions {
  /** How long an object lives after its last write, at least. */
  ttlSeconds: number;
  grant: LeaseGrant;
  /** How long one lease keeps being handed out. Default: a sixtieth of the TTL, from 1 to 60 s (Kubernetes' 60 s at its 1 h). */
  reuseSeconds?: number;
  /** Writes one lease serves at most. Default 256 (see above). */
  maxObjects?: number;
  now?: () => number;
}

/** Objects one lease carries at most by default. */
export const LEASE_MAX_OBJECTS = 256;

interface Current {
  id: string;
  /** When etcd will expire it, by this process's clock (from before the grant was asked for). */
  expiresAt: number;
  attached: number;
}

/** The lease for the next write of a resource with a TTL. */
export class LeasePool {
  readonly ttlSeconds: number;
  readonly reuseSeconds: number;
  readonly maxObjects: number;
  private readonly grantLease: LeaseGrant;
  private readonly now: () => number;
  private current: Current | undefined;
  private granting: Promise<Current> | undefined;

  constructor(o: LeasePoolOptions) {
    if (!(o.ttlSeconds > 0)) throw new Error(`a TTL must be more than 0 seconds, got ${o.ttlSeconds}`);
    this.ttlSeconds = o.ttlSeconds;
    this.reuseSeconds = o.reuseSeconds ?? Math.min(60, Math.max(1, Math.floor(o.ttlSeconds / 60)));
    this.maxObjects = o.maxObjects ?? LEASE_MAX_OBJECTS;
    this.grantLease = o.grant;
    this.now = o.now ?? Date.now;
  }

  /** The lease to attach to the next write: one that still has at least the TTL to live, and room. */
  async lease(): Promise<string> {
    for (;;) {
      const c = this.current;
      if (c && c.attached < this.maxObjects && c.expiresAt - this.now() >= this.ttlSeconds * 1000) {
        c.attached++;
        return c.id;
      }
      // One grant at a time: the writes that arrive meanwhile share it.
      this.granting ??= this.grant().finally(() => (this.granting = undefined));
      await this.granting;
    }
  }

  /** Stops handing out `id` (etcd no longer knows it: revoked, or a restored etcd). */
  forget(id: string): void {
    if (this.current?.id === id) this.current = undefined;
  }

  private async grant(): Promise<Current> {
    const ttl = this.ttlSeconds + this.reuseSeconds;
    const asked = this.now();
    const id = await this.grantLease(ttl);
    this.current = { id, expiresAt: asked + ttl * 1000, attached: 0 };
    return this.current;
  }
}

/** True when etcd refused a write because its lease does not exist (expired, revoked, or never granted there). */
export function isLeaseNotFound(err: unknown): boolean {
  return err instanceof Error && err.message.includes('requested lease not found');
}
