/**
 * Publishes, in this proxy's Lease, the EndpointSlice revision its rules
 * reflect (see @flotilla/api proxy-report.ts). Reports are folded: at most
 * one write per `minIntervalMs`, always the newest revision, plus a renewal
 * every `renewIntervalMs` so agents know the proxy is alive.
 */
import {
  APPLIED_ENDPOINTSLICE_RV_ANNOTATION,
  isReason,
  nowMicroTimestamp,
  PROXY_LEASE_LABEL,
  PROXY_LEASE_NAMESPACE,
  PROXY_LEASE_PREFIX,
  type Lease,
} from '@flotilla/api';
import { realClock, silentLogger, sleep, type ApiClient, type Clock, type Logger } from '@flotilla/client';

/** Options of an AppliedReporter. */
export interface AppliedReporterOptions {
  client: ApiClient;
  /** The proxy's name (its node name, or the machine's for a proxy without a node). */
  name: string;
  clock?: Clock;
  logger?: Logger;
  /** Least time between two writes. Default 100 ms. */
  minIntervalMs?: number;
  /** Renewal period while nothing changes. Default 5 s. */
  renewIntervalMs?: number;
  /** The Lease duration agents judge freshness by. Default 20 s. */
  leaseDurationSeconds?: number;
}

/** Writes the proxy's applied revision to its Lease. */
export class AppliedReporter {
  /** The Lease's name. */
  readonly leaseName: string;
  private latest = 0;
  private written = -1;
  private lastWrite = 0;
  private timer: unknown;
  private writing: Promise<void> | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly options: AppliedReporterOptions) {
    this.leaseName = `${PROXY_LEASE_PREFIX}${options.name}`.slice(0, 253);
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
  }

  /** The newest revision reported so far. */
  get applied(): number {
    return this.latest;
  }

  /** Notes that the rules now reflect EndpointSlices up to `resourceVersion`; written soon. */
  report(resourceVersion: string | undefined): void {
    const rv = Number(resourceVersion);
    if (!Number.isFinite(rv) || rv <= this.latest) return;
    this.latest = rv;
    this.schedule();
  }

  /**
   * Renews until `signal` aborts; the Lease is left in place (it simply
   * expires). A write still in flight is not waited for: an apiserver that
   * does not answer must not hold the proxy's stop (closing the client ends
   * the request).
   */
  async run(signal: AbortSignal): Promise<void> {
    const renew = this.options.renewIntervalMs ?? 5_000;
    const stopped = new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    while (!signal.aborted) {
      await Promise.race([this.write().catch(() => undefined), stopped]);
      await sleep(this.clock, renew, signal);
    }
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer as never);
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    const min = this.options.minIntervalMs ?? 100;
    const wait = Math.max(0, this.lastWrite + min - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.write().catch(() => undefined);
    }, wait);
  }

  /** One write of the newest revision (serialised; a report arriving meanwhile schedules another). */
  private async write(): Promise<void> {
    if (this.writing) {
      await this.writing;
      if (this.written !== this.latest) this.schedule();
      return;
    }
    const rv = this.latest;
    this.lastWrite = this.clock.now();
    this.writing = this.put(rv)
      .then(() => {
        this.written = rv;
      })
      .catch((err: unknown) => {
        this.log.warn({ lease: this.leaseName, err: (err as Error)?.message ?? String(err) }, 'could not write the proxy lease');
        throw err;
      })
      .finally(() => {
        this.writing = undefined;
        if (this.written !== this.latest && !this.stopped) this.schedule();
      });
    return this.writing;
  }

  private async put(rv: number): Promise<void> {
    const leases = this.options.client.resource<Lease>('leases');
    const body = {
      metadata: { labels: { [PROXY_LEASE_LABEL]: 'proxy' }, annotations: { [APPLIED_ENDPOINTSLICE_RV_ANNOTATION]: String(rv) } },
      spec: { holderIdentity: this.options.name, leaseDurationSeconds: this.options.leaseDurationSeconds ?? 20, renewTime: nowMicroTimestamp(new Date(this.clock.now())) },
    };
    try {
      await leases.patch(PROXY_LEASE_NAMESPACE, this.leaseName, body, 'merge');
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
      await leases.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.leaseName, namespace: PROXY_LEASE_NAMESPACE, ...body.metadata }, spec: body.spec });
    }
  }
}
