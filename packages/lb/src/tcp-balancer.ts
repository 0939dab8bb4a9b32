/**
 * A TCP load balancer for the control plane: one address in front of several
 * apiservers, so that losing one of them changes nothing for any client.
 *
 * TCP, not HTTP: TLS ends at the apiservers (clients verify the apiserver's
 * certificate and may present their own), watches are long-lived streams and
 * exec or port-forward upgrades pass through untouched. One address rather
 * than client-side failover: a kubeconfig names one server, and kubectl,
 * client-go programs and flotctl all read it as it is. Built in rather than
 * haproxy: one artifact per machine, and the same health check (`/readyz`,
 * which turns false while an apiserver cannot reach etcd) everywhere.
 *
 * A backend is chosen by least open connections among the healthy ones
 * (round robin on ties). Health is active (an HTTPS GET of `/readyz` every
 * interval) and passive (a refused or timed-out connect marks it down at
 * once, and the client's connection is tried on the next backend: nothing
 * was sent yet, so nothing is lost). A backend that dies mid-connection
 * closes its clients' connections; they reconnect and land elsewhere.
 */
import { request } from 'node:https';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger, Registry } from '@flotilla/observability';

/** A backend address. */
export interface Backend {
  host: string;
  port: number;
}

/** What a TcpBalancer is configured with. */
export interface TcpBalancerOptions {
  /** Where clients connect; port 0 picks a free one. */
  listen: Backend;
  backends: Backend[];
  /** HTTPS path of the active health check (default `/readyz`); '' turns active checks off. */
  healthPath?: string;
  /** Time between two health checks of a backend (default 1 s). */
  healthIntervalMs?: number;
  /** A health check, and a connect, that takes longer fails (default 1 s and 2 s). */
  healthTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** CA that signed the backends' serving certificates; without it the health check does not verify them. */
  ca?: string | Buffer;
  registry?: Registry;
  logger?: Logger;
}

interface BackendState extends Backend {
  key: string;
  up: boolean;
  active: number;
  /** When the last passive failure happened: an active check older than it does not bring the backend back. */
  failedAt: number;
}

/** Formats `host:port` (IPv6 in brackets). */
export function formatAddress(b: Backend): string {
  return b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
}

/** The TCP load balancer; start() binds, close() stops it and drops open connections. */
export class TcpBalancer {
  private readonly backends: BackendState[];
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private closed = false;
  private readonly metrics;

  constructor(private readonly options: TcpBalancerOptions) {
    if (options.backends.length === 0) throw new Error('at least one backend is needed');
    // Up until shown otherwise: the first connections need not wait for a check.
    this.backends = options.backends.map((b) => ({ ...b, key: formatAddress(b), up: true, active: 0, failedAt: 0 }));
    const r = options.registry;
    this.metrics = r
      ? {
          connections: r.counter('flotilla_lb_connections_total', 'Client connections forwarded, by backend.'),
          active: r.gauge('flotilla_lb_active_connections', 'Open forwarded connections, by backend.'),
          up: r.gauge('flotilla_lb_backend_up', '1 when the backend is considered healthy.'),
          errors: r.counter('flotilla_lb_connect_errors_total', 'Failed connects to a backend (the client was tried on another).'),
          rejected: r.counter('flotilla_lb_rejected_connections_total', 'Client connections closed because no backend could be reached.'),
        }
      : undefined;
    for (const b of this.backends) this.metrics?.up.set(1, { backend: b.key });
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
  }

  /** Binds the listener and starts the health checks; resolves with the bound port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    if (this.options.healthPath !== '') this.scheduleChecks();
    const port = (this.server.address() as AddressInfo).port;
    this.options.logger?.info({ listen: formatAddress({ host: this.options.listen.host, port }), backends: this.backends.map((b) => b.key) }, 'load balancer listening');
    return port;
  }

  /** Stops listening and health checks, and closes every forwarded connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.open) s.destroy();
    await done;
  }

  /** Which backends are healthy now (for tests and /healthz). */
  healthy(): string[] {
    return this.backends.filter((b) => b.up).map((b) => b.key);
  }

  /** Backends in the order to try for a new connection: healthy first, least connections, then round robin. */
  private candidates(): BackendState[] {
    const n = this.backends.length;
    const start = this.next++ % n;
    const rotated = this.backends.map((_, i) => this.backends[(start + i) % n]!);
    const up = rotated.filter((b) => b.up).sort((a, b) => a.active - b.active);
    // None healthy: the checks may be wrong (or a partition of the checker alone), so try them all.
    return up.length > 0 ? [...up, ...rotated.filter((b) => !b.up)] : rotated;
  }

  private accept(client: Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.open.add(client);
    client.once('close', () => this.open.delete(client));
    // An error before a backend is chosen (the client went away) is only a close.
    client.on('error', () => client.destroy());
    const tries = this.candidates();
    const attempt = (i: number): void => {
      const b = tries[i];
      if (!b || client.destroyed) {
        if (!b) {
          this.metrics?.rejected.inc();
          this.options.logger?.warn({ client: client.remoteAddress }, 'no backend reachable: connection closed');
        }
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: b.host, port: b.port, allowHalfOpen: true });
      upstream.setTimeout(this.options.connectTimeoutMs ?? 2000);
      const onFail = (err: Error) => {
        upstream.destroy();
        this.metrics?.errors.inc({ backend: b.key });
        this.markDown(b, `connect failed: ${err.message}`);
        attempt(i + 1);
      };
      upstream.once('timeout', () => onFail(new Error('connect timed out')));
      upstream.once('error', onFail);
      upstream.once('connect', () => {
        upstream.setTimeout(0);
        upstream.removeAllListeners('timeout');
        upstream.removeListener('error', onFail);
        this.splice(client, upstream, b);
      });
    };
    attempt(0);
  }

  /** Joins a client to its backend until either side closes. */
  private splice(client: Socket, upstream: Socket, b: BackendState): void {
    b.active++;
    this.metrics?.connections.inc({ backend: b.key });
    this.metrics?.active.set(b.active, { backend: b.key });
    this.open.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.removeAllListeners('error');
    const teardown = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    upstream.once('close', () => {
      this.open.delete(upstream);
      b.active--;
      this.metrics?.active.set(b.active, { backend: b.key });
      client.destroy();
    });
    client.once('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  private markDown(b: BackendState, reason: string): void {
    b.failedAt = Date.now();
    if (!b.up) return;
    b.up = false;
    this.metrics?.up.set(0, { backend: b.key });
    this.options.logger?.warn({ backend: b.key, reason }, 'backend down');
  }

  private markUp(b: BackendState): void {
    if (b.up) return;
    b.up = true;
    this.metrics?.up.set(1, { backend: b.key });
    this.options.logger?.info({ backend: b.key }, 'backend up');
  }

  private scheduleChecks(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void Promise.all(this.backends.map((b) => this.check(b))).finally(() => this.scheduleChecks());
    }, this.options.healthIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** One active health check: 200 from the health path within the timeout. */
  private async check(b: BackendState): Promise<void> {
    const started = Date.now();
    const healthy = await new Promise<boolean>((resolve) => {
      const req = request(
        {
          host: b.host,
          port: b.port,
          path: this.options.healthPath ?? '/readyz',
          method: 'GET',
          timeout: this.options.healthTimeoutMs ?? 1000,
          agent: false,
          ...(this.options.ca ? { ca: this.options.ca } : { rejectUnauthorized: false }),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.once('timeout', () => req.destroy(new Error('timed out')));
      req.once('error', () => resolve(false));
      req.end();
    });
    if (healthy && b.failedAt < started) this.markUp(b);
    else if (!healthy) this.markDown(b, `health check ${this.options.healthPath ?? '/readyz'} failed`);
  }
}
