/**
 * The host's IPv4 routing table as the route sync sees it: list the routes
 * it owns, replace one, delete one. `IpRouteTable` drives iproute2 (`ip -j
 * route …`) in the caller's network namespace; routes it writes carry their
 * own protocol number, so a restarted sync finds exactly its own routes (and
 * removes those of nodes that vanished meanwhile) without touching anyone
 * else's. `FakeRouteTable` (in `./testing`) keeps them in memory.
 */
import { execFile } from 'node:child_process';

/** One route to a pod range via a node's address. */
export interface HostRoute {
  /** Destination, `10.244.3.0/24`. */
  dst: string;
  /** Next hop, the node's InternalIP. */
  via: string;
}

/** The routes of one owner in one routing table. */
export interface RouteTable {
  /** The routes this owner programmed (and nothing else). */
  list(): Promise<HostRoute[]>;
  /** Adds the route or changes its next hop. */
  replace(route: HostRoute): Promise<void>;
  /** Removes the route to `dst`; no error when there is none. */
  delete(dst: string): Promise<void>;
}

/** The protocol number Flotilla's host-gw routes carry (`ip route … proto 77`): in the range iproute2 leaves to users. */
export const FLOTILLA_ROUTE_PROTOCOL = 77;

/** Runs a command; rejects with its stderr on a non-zero exit. */
export type CommandRunner = (file: string, args: string[]) => Promise<string>;

/** Runs a command with child_process.execFile. */
export const execCommand: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });

/** Options of IpRouteTable. */
export interface IpRouteTableOptions {
  /** Protocol number marking our routes. Default 77. */
  protocol?: number;
  /** How commands are run (tests inject one). */
  run?: CommandRunner;
  /** The `ip` binary. Default `ip`. */
  ip?: string;
}

/** The kernel's main routing table through iproute2, restricted to routes of one protocol number. */
export class IpRouteTable implements RouteTable {
  private readonly proto: string;
  private readonly run: CommandRunner;
  private readonly ip: string;

  constructor(options: IpRouteTableOptions = {}) {
    this.proto = String(options.protocol ?? FLOTILLA_ROUTE_PROTOCOL);
    this.run = options.run ?? execCommand;
    this.ip = options.ip ?? 'ip';
  }

  async list(): Promise<HostRoute[]> {
    const out = await this.run(this.ip, ['-4', '-j', 'route', 'show', 'proto', this.proto]);
    const rows = (out.trim() ? JSON.parse(out) : []) as Array<{ dst?: string; gateway?: string }>;
    return rows.filter((r) => r.dst && r.gateway).map((r) => ({ dst: r.dst!.includes('/') ? r.dst! : `${r.dst}/32`, via: r.gateway! }));
  }

  async replace(route: HostRoute): Promise<void> {
    await this.run(this.ip, ['-4', 'route', 'replace', route.dst, 'via', route.via, 'proto', this.proto]);
  }

  async delete(dst: string): Promise<void> {
    try {
      await this.run(this.ip, ['-4', 'route', 'del', dst, 'proto', this.proto]);
    } catch (err) {
      if (!/No such process|not found/i.test((err as Error).message)) throw err;
    }
  }
}
