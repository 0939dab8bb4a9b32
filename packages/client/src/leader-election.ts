/**
 * Leader election on a coordination.k8s.io/v1 Lease, like client-go's:
 * take the Lease when it is free or its holder stopped renewing, renew it
 * with compare-and-swap on resourceVersion, and release it on shutdown so a
 * standby takes over at once instead of waiting out the lease.
 */
import { setMaxListeners } from 'node:events';
import { deepCopy, isReason, nowMicroTimestamp, type Lease } from '@flotilla/api';
import type { ApiClient, ResourceClient } from './api-client.js';
import { onAbort, realClock, sleep, type Clock } from './clock.js';
import { silentLogger, type Logger } from './logger.js';

/** Options of a LeaderElector. */
export interface LeaderElectorOptions {
  /** Namespace of the Lease. */
  namespace: string;
  /** Name of the Lease, e.g. `flotilla-controller-manager`. */
  name: string;
  /** This candidate's unique identity (e.g. hostname + pid). */
  identity: string;
  /** How long a holder's claim lasts without renewal. Default 15. */
  leaseDurationSeconds?: number;
  /** A leader that could not renew for this long steps down. Default 10. */
  renewDeadlineSeconds?: number;
  /** Pause between attempts to acquire or renew. Default 2. */
  retryPeriodSeconds?: number;
  /** Give the Lease up when the signal aborts (default true); false simulates a crash in tests. */
  releaseOnCancel?: boolean;
  clock?: Clock;
  logger?: Logger;
}

/** What a candidate does with leadership. */
export interface LeaderCallbacks {
  /** Runs the leader's work; `signal` aborts when leadership is lost or the process stops. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called once the work has stopped after leading. */
  onStoppedLeading?(): void;
  /** Called when a different holder is observed. */
  onNewLeader?(identity: string): void;
}

type Attempt = 'held' | 'other' | 'failed';

/** One candidate in a leader election. */
export class LeaderElector {
  private readonly leases: ResourceClient<Lease>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly durationS: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private leading = false;
  private leader: string | undefined;
  /** Local time at which the Lease was last seen to change; expiry is judged from it, not from remote clocks. */
  private observedRV: string | undefined;
  private observedAt = 0;

  constructor(
    client: ApiClient,
    private readonly options: LeaderElectorOptions,
  ) {
    this.leases = client.resource<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' });
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
    this.durationS = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = (options.renewDeadlineSeconds ?? 10) * 1000;
    this.retryMs = (options.retryPeriodSeconds ?? 2) * 1000;
  }

  /** True while this candidate holds the Lease. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed, if any. */
  getLeader(): string | undefined {
    return this.leader;
  }

  /**
   * Campaigns until elected, leads until leadership is lost or `signal`
   * aborts, then returns (after the leader's work finished and, on abort,
   * the Lease was released). Call again to stand for election again.
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    const who = { lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity };
    while (!signal.aborted) {
      const r = await this.attempt(callbacks, this.renewDeadlineMs, signal);
      if (r === 'held') break;
      await sleep(this.clock, this.retryMs * (1 + Math.random() * 0.2), signal);
    }
    if (signal.aborted) return;

    this.leading = true;
    this.log.info(who, 'became leader');
    const leaderAc = new AbortController();
    // The leader's whole work (every controller and informer) listens on it: not a leak.
    setMaxListeners(0, leaderAc.signal);
    const onAbort = () => leaderAc.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const work = Promise.resolve()
      .then(() => callbacks.onStartedLeading(leaderAc.signal))
      .catch((err: unknown) => this.log.error({ ...who, err: (err as Error)?.message ?? String(err) }, 'leader work failed'));

    let lastRenew = this.clock.now();
    while (!signal.aborted) {
      await sleep(this.clock, this.retryMs, signal);
      if (signal.aborted) break;
      // An attempt still unanswered at the renew deadline is given up: the leader must stop leading
      // before the others see its Lease expire, however long its requests could hang (60 s here).
      const r = await this.attempt(callbacks, lastRenew + this.renewDeadlineMs - this.clock.now(), signal);
      if (signal.aborted) break;
      if (r === 'held') lastRenew = this.clock.now();
      else if (r === 'other' || this.clock.now() - lastRenew >= this.renewDeadlineMs) {
        this.log.warn({ ...who, holder: this.leader }, 'lost leadership');
        break;
      }
    }
    leaderAc.abort();
    signal.removeEventListener('abort', onAbort);
    await work;
    if (signal.aborted && (this.options.releaseOnCancel ?? true)) await this.release();
    this.leading = false;
    callbacks.onStoppedLeading?.();
  }

  /**
   * One tryAcquireOrRenew, given up (as 'failed') after `withinMs` or when
   * `signal` aborts; its requests are aborted with it.
   */
  private async attempt(callbacks: LeaderCallbacks, withinMs: number, signal: AbortSignal): Promise<Attempt> {
    try {
      return await this.withDeadline(withinMs, `no answer within the renew deadline (${this.renewDeadlineMs} ms)`, (s) => this.tryAcquireOrRenew(callbacks, s), signal);
    } catch (err) {
      // Stopping is not a failure worth a warning.
      return signal.aborted ? 'failed' : this.failed(err);
    }
  }

  /**
   * `work(s)`, given up (rejected, and `s` aborted, so its requests are too)
   * after `ms` on this elector's clock or when `stop` aborts: it waits for no
   * request however long that could hang, even with clients that cannot
   * abort one (in-memory fakes).
   */
  private async withDeadline<T>(ms: number, why: string, work: (s: AbortSignal) => Promise<T>, stop?: AbortSignal): Promise<T> {
    const deadline = new AbortController();
    const forget = stop ? onAbort(stop, () => deadline.abort(new Error('stopping'))) : undefined;
    const timer = this.clock.setTimeout(() => deadline.abort(new Error(why)), Math.max(0, ms));
    try {
      return await abandonOnAbort(work(deadline.signal), deadline.signal);
    } finally {
      this.clock.clearTimeout(timer);
      forget?.();
    }
  }

  private async tryAcquireOrRenew(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<Attempt> {
    const { namespace, name, identity } = this.options;
    const now = this.clock.now();
    const stamp = nowMicroTimestamp(new Date(now));
    let lease: Lease;
    try {
      lease = await this.leases.get(namespace, name, { signal });
    } catch (err) {
      if (!isReason(err, 'NotFound')) return this.failed(err, signal);
      try {
        const created = await this.leases.create(
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { namespace, name },
            spec: { holderIdentity: identity, leaseDurationSeconds: this.durationS, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
          },
          { signal },
        );
        this.observe(created, now, callbacks);
        return 'held';
      } catch (e) {
        return isReason(e, 'AlreadyExists') ? 'other' : this.failed(e, signal);
      }
    }
    this.observe(lease, now, callbacks);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const durationMs = (spec.leaseDurationSeconds ?? this.durationS) * 1000;
    if (holder && holder !== identity && this.observedAt + durationMs > now) return 'other';

    const next = deepCopy(lease);
    next.spec = { ...spec, holderIdentity: identity, leaseDurationSeconds: this.durationS, renewTime: stamp };
    if (holder !== identity) {
      next.spec.acquireTime = stamp;
      next.spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await this.leases.update(next, { signal }); // CAS on metadata.resourceVersion
      this.observe(updated, now, callbacks);
      return 'held';
    } catch (err) {
      return isReason(err, 'Conflict') ? 'other' : this.failed(err, signal);
    }
  }

  private observe(lease: Lease, now: number, callbacks: LeaderCallbacks): void {
    if (lease.metadata.resourceVersion !== this.observedRV) {
      this.observedRV = lease.metadata.resourceVersion;
      this.observedAt = now;
    }
    const holder = lease.spec?.holderIdentity || undefined;
    if (holder !== this.leader) {
      this.leader = holder;
      if (holder) callbacks.onNewLeader?.(holder);
    }
  }

  /** Logs a failed request, unless `signal` says the attempt was already given up (and logged as such). */
  private failed(err: unknown, signal?: AbortSignal): Attempt {
    if (signal?.aborted) return 'failed';
    this.log.warn({ lease: `${this.options.namespace}/${this.options.name}`, err: (err as Error)?.message ?? String(err) }, 'lease request failed');
    return 'failed';
  }

  /**
   * Gives the Lease up (holder cleared, 1 s duration) so a standby need not
   * wait for it to expire. Only a shortcut, so a stopping process waits for
   * it at most RELEASE_TIMEOUT_MS: past that the Lease expires on its own.
   */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    try {
      await this.withDeadline(RELEASE_TIMEOUT_MS, `no answer within ${RELEASE_TIMEOUT_MS} ms`, async (signal) => {
        const lease = await this.leases.get(namespace, name, { signal });
        if (lease.spec?.holderIdentity !== identity) return;
        const next = deepCopy(lease);
        const stamp = nowMicroTimestamp(new Date(this.clock.now()));
        next.spec = { ...lease.spec, leaseDurationSeconds: 1, renewTime: stamp };
        delete next.spec.holderIdentity;
        await this.leases.update(next, { signal });
        this.log.info({ lease: `${namespace}/${name}`, identity }, 'released leadership');
      });
    } catch (err) {
      this.log.warn({ lease: `${namespace}/${name}`, err: (err as Error)?.message ?? String(err) }, 'could not release lease');
    }
  }
}

/**
 * How long a stopping leader tries to hand its Lease back. An apiserver
 * answers a Lease write in milliseconds, and within 1 s at p99 under the
 * 150,000-pod benchmark; one that does not answer in 2 s is not waited for.
 */
export const RELEASE_TIMEOUT_MS = 2_000;

/**
 * `work`, or a rejection with the signal's reason as soon as `signal`
 * aborts: for clients that cannot abort a request themselves (in-memory
 * fakes), the caller stops waiting all the same.
 */
function abandonOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const forget = onAbort(signal, () => reject(signal.reason));
    work.then(
      (v) => {
        forget();
        resolve(v);
      },
      (err: unknown) => {
        forget();
        reject(err);
      },
    );
  });
}

/** Options of runWithLeaderElection(): the Lease, its timings, and a hook for when leading stops. */
export interface LeaderElectionRunOptions extends LeaderElectorOptions {
  /** Called once the leader's work has stopped after leading (e.g. to zero a leader gauge). */
  onStoppedLeading?(): void;
}

/**
 * Waits to hold the Lease, runs `lead` while holding it, and resolves once
 * `signal` aborts. Rejects with lead's error (after handing the Lease back)
 * or when leadership is lost, so the process exits non-zero and its
 * supervisor restarts it as a fresh candidate, as kube-scheduler and
 * kube-controller-manager do.
 */
export async function runWithLeaderElection(
  client: ApiClient,
  options: LeaderElectionRunOptions,
  signal: AbortSignal,
  lead: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const { onStoppedLeading, ...electorOptions } = options;
  const { namespace, name, identity } = options;
  const log = options.logger ?? silentLogger;
  const elector = new LeaderElector(client, electorOptions);
  // Stops the campaign (and releases the Lease) when the leader's work fails, not only on shutdown.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let led = false;
  let failure: unknown;
  log.info({ identity, lease: `${namespace}/${name}` }, 'waiting to become leader');
  try {
    await elector.run(stop.signal, {
      onStartedLeading: async (leading) => {
        led = true;
        try {
          await lead(leading);
        } catch (err) {
          failure = err;
          stop.abort();
        }
      },
      onStoppedLeading: () => onStoppedLeading?.(),
      onNewLeader: (holder) => log.info({ identity, leader: holder }, 'new leader observed'),
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure;
  if (!signal.aborted && led) throw new Error(`lost leadership of ${namespace}/${name}`);
}
