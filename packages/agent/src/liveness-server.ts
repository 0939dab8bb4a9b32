/**
 * The agent's side of node liveness: a small cleartext HTTP/2 (h2c) server
 * that the node-lifecycle controller keeps one connection open to per node,
 * sending HTTP/2 PING frames every second. A PING is answered by the HTTP/2
 * layer of this process, so an answer proves the agent's process (and its
 * event loop) and the host's network path are alive, and costs no etcd write.
 *
 * Why this design (the issue weighed three):
 * - A heartbeat stream from the agent into the apiserver would hold liveness
 *   in the memory of whichever apiserver the stream reached: with several
 *   apiservers the controller would have to ask each one, and an apiserver
 *   restart would cut every stream at once. Probing from the controller keeps
 *   the one process that judges liveness also the one that observes it, and
 *   an apiserver restart changes nothing (it is not on the path).
 * - Peers probing each other (SWIM) needs membership and indirect probes to
 *   tell a partition from a death; a 5,000-node cluster has one controller
 *   that already sees every node, so a star is simpler and its cost is known:
 *   one TCP connection and one PING (17 bytes each way) per node per second.
 *
 * One request per connection tells the controller whose server it reached:
 * `GET /livez?node=NAME` answers 200 with `{node, bootId}` when this server
 * serves NAME and 404 otherwise, so an address now used by another node is
 * never taken as a sign of life. Nothing here is secret or writable, hence
 * no TLS and no authentication (an impostor at the node's address could only
 * delay an eviction, and it would still need the Lease to stay renewed).
 *
 * One server can serve many nodes: the hollow nodes of a benchmark share one.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@flotilla/observability';

/** The Node annotation where an agent advertises its liveness server (`host:port`). */
export const LIVENESS_ENDPOINT_ANNOTATION = 'node.flotilla.io/liveness-endpoint';

/** What the server answers on `GET /livez?node=NAME`. */
export interface LivezAnswer {
  node: string;
  /** Changes with every start of the serving process: a new value means the agent restarted. */
  bootId: string;
}

/** Options of the liveness server. */
export interface LivenessServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind; all addresses when unset. */
  host?: string;
  log?: Logger;
}

/** A running liveness server. */
export class LivenessServer {
  readonly bootId = randomUUID();
  private readonly nodes = new Map<string, (() => void) | undefined>();
  private server: Http2Server | undefined;
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(private readonly o: LivenessServerOptions) {}

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const server = createServer((req, res) => this.handle(req, res));
    // A probe connection stays open for as long as the controller lives.
    server.setTimeout(0);
    server.on('sessionError', () => undefined);
    server.on('session', (session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return this.port;
  }

  /** The bound port (0 before listen). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * Answers for `node` from now on. `onProbed` is called each time a prober
   * opens a session for it (a controller started, or a partition healed): the
   * agent then rewrites a Node status the controller may have marked Unknown.
   */
  serve(node: string, onProbed?: () => void): void {
    this.nodes.set(node, onProbed);
  }

  /** Stops answering for `node` (its probes get 404, as for a node never served). */
  forget(node: string): void {
    this.nodes.delete(node);
  }

  /** Closes the listener and every open probe session. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Open sessions keep close() waiting: end them (the prober reconnects elsewhere or sees us gone).
      for (const s of this.sessions) s.destroy();
    });
  }

  private handle(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://liveness');
    if (url.pathname !== '/livez') {
      res.writeHead(404).end();
      return;
    }
    const node = url.searchParams.get('node') ?? '';
    if (!this.nodes.has(node)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `this server does not serve node ${JSON.stringify(node)}` }));
      return;
    }
    const answer: LivezAnswer = { node, bootId: this.bootId };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    try {
      this.nodes.get(node)?.();
    } catch (err) {
      this.o.log?.warn({ node, err: (err as Error)?.message ?? String(err) }, 'liveness probe callback failed');
    }
  }
}

/** Starts a liveness server. */
export async function startLivenessServer(o: LivenessServerOptions): Promise<LivenessServer> {
  const s = new LivenessServer(o);
  await s.listen();
  return s;
}
