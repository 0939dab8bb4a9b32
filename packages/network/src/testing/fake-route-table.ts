import type { HostRoute, RouteTable } from '../route-table.js';

/** An in-memory RouteTable: what unit tests of the route sync program instead of the kernel. */
export class FakeRouteTable implements RouteTable {
  /** Current routes by destination. */
  readonly routes = new Map<string, string>();
  /** Every write, as `replace dst via` / `delete dst`. */
  readonly actions: string[] = [];
  /** Destinations whose replace throws (a gateway the kernel refuses). */
  readonly failing = new Set<string>();

  async list(): Promise<HostRoute[]> {
    return [...this.routes].map(([dst, via]) => ({ dst, via }));
  }

  async replace(route: HostRoute): Promise<void> {
    if (this.failing.has(route.dst)) throw new Error(`Nexthop has invalid gateway ${route.via}`);
    this.actions.push(`replace ${route.dst} via ${route.via}`);
    this.routes.set(route.dst, route.via);
  }

  async delete(dst: string): Promise<void> {
    this.actions.push(`delete ${dst}`);
    this.routes.delete(dst);
  }
}
