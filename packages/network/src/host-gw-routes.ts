/**
 * Host-gateway routes ("host-gw", as flannel calls it): on every machine of
 * the cluster, one route per other Node's pod range (`spec.podCIDR`) via that
 * Node's InternalIP — no encapsulation, the hosts' own network carries pod
 * packets with their pod addresses. This is the one piece of code that
 * programs them, run wherever routes are needed:
 *
 * - by the agent on each worker host (its own range is local: `nodeName`);
 * - by `flotilla proxy` (or any small process) on a machine without an agent,
 *   such as the control plane's, so the apiserver reaches pods (no `nodeName`).
 *
 * Level-triggered: every Node change queues one key, and a sync compares the
 * whole wanted set with the routes of our protocol number in the kernel,
 * replacing what differs and deleting what no Node wants any more. A periodic
 * resync repairs routes someone else removed. Entry point:
 * `new HostGatewayRoutes({ nodes, routes: new IpRouteTable(), … }).run(signal)`
 * after the nodes informer was started (or `startHostGatewayRoutes` with a client).
 */
import type { Node } from '@flotilla/api';
import { Controller, InformerFactory, type ApiClient, type Clock, type Informer, type Logger } from '@flotilla/client';
import type { Counter, Gauge, Histogram, Registry } from '@flotilla/observability';
import { cidrContains, formatCidr, mustParseCidr, parseCidr, parseIpv4, type Ipv4Cidr } from './cidr.js';
import type { HostRoute, RouteTable } from './route-table.js';

/** The one key of the route sync's queue: the routes are one set. */
const ROUTES_KEY = 'host-gw-routes';

/** The InternalIP of a Node, if it reports one. */
export function nodeInternalIP(node: Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP' && parseIpv4(a.address) !== undefined)?.address;
}

/**
 * The routes wanted for a set of Nodes, sorted by destination: every Node but
 * `self` that has a pod range and an InternalIP. When two Nodes claim the same
 * range (a conflict node IPAM reports) the first by name wins, so every host
 * decides the same way.
 */
export function desiredRoutes(nodes: readonly Node[], self?: string): HostRoute[] {
  const byDst = new Map<string, HostRoute>();
  const sorted = [...nodes].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const own = sorted.find((n) => n.metadata.name === self);
  const ownRange = own?.spec?.podCIDR ? parseCidr(own.spec.podCIDR) : undefined;
  for (const n of sorted) {
    if (n.metadata.name === self) continue;
    const range = parseCidr(n.spec?.podCIDR ?? '');
    const via = nodeInternalIP(n);
    if (!range || !via) continue;
    const dst = formatCidr(range);
    if (ownRange && formatCidr(ownRange) === dst) continue; // our own range is on our bridge
    if (!byDst.has(dst)) byDst.set(dst, { dst, via });
  }
  return [...byDst.values()].sort((a, b) => a.dst.localeCompare(b.dst));
}

/** What a sync changes: routes to write and destinations to delete. */
export interface RoutePlan {
  replace: HostRoute[];
  remove: string[];
}

/** The changes that turn `current` into `wanted`. */
export function planRoutes(wanted: readonly HostRoute[], current: readonly HostRoute[]): RoutePlan {
  const have = new Map(current.map((r) => [r.dst, r.via]));
  const want = new Set(wanted.map((r) => r.dst));
  return {
    replace: wanted.filter((r) => have.get(r.dst) !== r.via),
    remove: current.filter((r) => !want.has(r.dst)).map((r) => r.dst),
  };
}

/** Prometheus series of the route sync. */
export class RouteMetrics {
  /** Routes in the kernel after the last sync. */
  readonly programmed: Gauge;
  /** Route writes and deletions, by operation. */
  readonly changes: Counter;
  /** Failed syncs (any route that could not be written). */
  readonly errors: Counter;
  /** Duration of one sync. */
  readonly duration: Histogram;

  constructor(registry: Registry) {
    this.programmed = registry.gauge('flotilla_network_routes_programmed', 'Host-gw routes to other nodes\' pod ranges in the kernel after the last sync.');
    this.changes = registry.counter('flotilla_network_route_changes_total', 'Host-gw routes written (op=replace) or removed (op=delete).');
    this.errors = registry.counter('flotilla_network_route_sync_errors_total', 'Host-gw route syncs that failed to write or remove a route.');
    this.duration = registry.histogram('flotilla_network_route_sync_duration_seconds', 'Duration of one host-gw route sync.');
  }
}

/** Options of HostGatewayRoutes. */
export interface HostGatewayRoutesOptions {
  /** A Node informer (all nodes); the caller starts it. */
  nodes: Informer<Node>;
  /** This machine's Node, whose own range is not routed; unset on a machine without pods (control plane). */
  nodeName?: string;
  /** The routing table to program (IpRouteTable in production). */
  routes: RouteTable;
  logger: Logger;
  /** Where the route metrics are registered; none when unset. */
  registry?: Registry;
  /** Full resync period, repairing routes changed behind our back. Default 30 s. */
  resyncMs?: number;
  /**
   * Only routes to destinations inside this range are wanted or owned: several
   * syncs (of different clusters) can then share one namespace, each leaving
   * the others' routes alone. Default: every route of our protocol number.
   */
  within?: string;
  clock?: Clock;
}

/** Keeps one route per other Node's pod range via that Node's InternalIP. */
export class HostGatewayRoutes {
  /** The work queue and worker (one key). */
  readonly controller: Controller;
  private readonly metrics: RouteMetrics | undefined;
  private readonly log: Logger;
  private readonly resyncMs: number;
  private readonly within: Ipv4Cidr | undefined;
  private last = '';

  constructor(private readonly o: HostGatewayRoutesOptions) {
    this.log = o.logger;
    this.resyncMs = o.resyncMs ?? 30_000;
    this.within = o.within ? mustParseCidr(o.within, 'within') : undefined;
    this.metrics = o.registry ? new RouteMetrics(o.registry) : undefined;
    this.controller = new Controller({ name: 'host-gw-routes', reconcile: () => this.sync(), informers: [o.nodes], logger: o.logger, ...(o.clock ? { clock: o.clock } : {}) });
    const enqueue = () => this.controller.enqueue(ROUTES_KEY);
    o.nodes.addEventHandler({
      onAdd: enqueue,
      onUpdate: (a, b) => {
        if (a.spec?.podCIDR !== b.spec?.podCIDR || nodeInternalIP(a) !== nodeInternalIP(b)) enqueue();
      },
      onDelete: enqueue,
    });
  }

  /** Runs the sync until `signal` aborts; routes stay in place afterwards (traffic keeps flowing while we restart). */
  run(signal: AbortSignal): Promise<void> {
    this.controller.enqueue(ROUTES_KEY);
    return this.controller.run(signal);
  }

  /** One sync: make the kernel's routes of our protocol match the Nodes. Throws (to retry with back-off) when any route failed. */
  async sync(): Promise<{ requeueAfter: number }> {
    const started = performance.now();
    const inside = (r: HostRoute) => {
      if (!this.within) return true;
      const c = parseCidr(r.dst);
      return c !== undefined && c.bits >= this.within.bits && cidrContains(this.within, c.base);
    };
    const wanted = desiredRoutes(this.o.nodes.store.list(), this.o.nodeName).filter(inside);
    const current = (await this.o.routes.list()).filter(inside);
    const plan = planRoutes(wanted, current);
    const failures: string[] = [];
    for (const r of plan.replace) {
      try {
        await this.o.routes.replace(r);
        this.metrics?.changes.inc({ op: 'replace' });
        this.log.info({ route: r.dst, via: r.via }, 'pod route programmed');
      } catch (err) {
        failures.push(`${r.dst} via ${r.via}: ${(err as Error).message}`);
      }
    }
    for (const dst of plan.remove) {
      try {
        await this.o.routes.delete(dst);
        this.metrics?.changes.inc({ op: 'delete' });
        this.log.info({ route: dst }, 'pod route removed');
      } catch (err) {
        failures.push(`delete ${dst}: ${(err as Error).message}`);
      }
    }
    this.metrics?.duration.observe((performance.now() - started) / 1000);
    const summary = wanted.map((r) => `${r.dst}>${r.via}`).join(',');
    if (summary !== this.last) this.log.debug({ routes: wanted.length }, 'pod routes in sync');
    this.last = summary;
    if (failures.length > 0) {
      this.metrics?.errors.inc();
      this.metrics?.programmed.set(wanted.length - failures.length);
      throw new Error(`host-gw routes: ${failures.length} failed: ${failures.join('; ')}`);
    }
    this.metrics?.programmed.set(wanted.length);
    return { requeueAfter: this.resyncMs };
  }
}

/** Options of startHostGatewayRoutes. */
export interface StartHostGatewayRoutesOptions extends Omit<HostGatewayRoutesOptions, 'nodes'> {
  client: ApiClient;
}

/**
 * The route sync as a self-contained task: its own Node informer on `client`,
 * started, and the sync run until `signal` aborts. What a process without an
 * agent (the control plane's machine, a test runner) calls.
 */
export async function runHostGatewayRoutes(options: StartHostGatewayRoutesOptions, signal: AbortSignal): Promise<void> {
  const factory = new InformerFactory(options.client, { logger: options.logger });
  const nodes = factory.informer<Node>('nodes');
  const sync = new HostGatewayRoutes({ ...options, nodes });
  factory.start(signal);
  await sync.run(signal);
}
