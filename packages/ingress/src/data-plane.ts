/**
 * The serving half of the ingress, as one process runs it: the ProxyServer,
 * the HTTP and HTTPS listeners (TLS by SNI from a TlsStore) and the access
 * log. `flotilla ingress --workers 1` runs one in the controller's process;
 * with more workers each worker process runs one (worker-main.ts).
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '@flotilla/observability';
import { createAccessLog, type AccessLog } from './access-log.js';
import { Http1Front } from './http1-front.js';
import type { IngressMetrics } from './metrics.js';
import { ProxyServer } from './proxy-server.js';
import { RouteTable } from './route-table.js';
import { TlsStore, type KeyPair } from './tls-store.js';

/** What a data plane needs. */
export interface DataPlaneOptions {
  logger: Logger;
  metrics: IngressMetrics;
  httpPort: number;
  /** -1: no HTTPS listener. */
  httpsPort: number;
  bindAddress: string;
  /** Served to handshakes without SNI or for hosts without a Secret; required when httpsPort >= 0. */
  defaultPair?: KeyPair;
  accessLog: boolean;
  /** Told each endpoint the proxy starts passing over (see ProxyOptions). */
  onEndpointFailed?: (address: string, until: number) => void;
  /**
   * Listen on no port: connections come in through DataPlane.take() (a
   * worker that the controller process hands accepted connections to in
   * strict turn). The ports reported are then httpPort and httpsPort as given.
   */
  handedConnections?: boolean;
}

/** A listening data plane. */
export interface DataPlane {
  proxy: ProxyServer;
  /** Undefined without HTTPS. */
  tls: TlsStore | undefined;
  ports: { http: number; https?: number };
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), closes the pools, flushes the access log. */
  close(graceMs?: number): Promise<void>;
  /** Serves a connection accepted elsewhere (with handedConnections). */
  take(proto: 'http' | 'https', socket: Socket): void;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
async function drain(server: Server, front: Http1Front | undefined, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  front?.closeIdle();
  const timer = setTimeout(() => {
    server.closeAllConnections();
    front?.destroyAll();
  }, graceMs);
  await closed;
  clearTimeout(timer);
}

/** Lets handed-in connections finish (up to `graceMs`): idle ones end now, the rest when done or at the deadline. */
async function drainHanded(servers: Server[], fronts: Iterable<Http1Front>, sockets: Set<Socket>, graceMs: number): Promise<void> {
  for (const s of servers) s.closeIdleConnections();
  for (const f of fronts) f.closeIdle();
  const deadline = Date.now() + graceMs;
  while (sockets.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    for (const s of servers) s.closeIdleConnections();
  }
  for (const s of sockets) s.destroy();
}

/**
 * Whether the lean HTTP/1.1 front serves the common requests (default), or
 * Node's http server every one (FLOTILLA_INGRESS_FRONT=node: measurements,
 * and a way out should the front misbehave).
 */
function useLeanFront(): boolean {
  return process.env.FLOTILLA_INGRESS_FRONT !== 'node';
}

/** Creates the proxy and its listeners and starts listening; the snapshot starts empty (every request 404). */
export async function startDataPlane(o: DataPlaneOptions): Promise<DataPlane> {
  const access: AccessLog | undefined = o.accessLog ? createAccessLog('ingress') : undefined;
  const proxy = new ProxyServer({ table: new RouteTable([]), backends: new Map(), tlsHosts: new Set() }, { logger: o.logger, metrics: o.metrics, accessLog: access ? access.write : false, ...(o.onEndpointFailed ? { onEndpointFailed: o.onEndpointFailed } : {}) });
  const tls = o.httpsPort >= 0 ? new TlsStore(o.defaultPair!) : undefined;
  // Node's defaults close idle client connections after 5 s; nginx keeps them 75 s.
  // A 256 KiB socket buffer (Node: 16 KiB) takes a 64 KiB body in one write without
  // pausing the upstream and resuming it on 'drain' (two epoll_ctl and a loop turn each);
  // nginx's proxy_buffers hold as much per connection.
  const timeouts = { keepAliveTimeout: 75_000, requestTimeout: 0, headersTimeout: 60_000, highWaterMark: 256 * 1024 };
  const http = createServer(timeouts, (req, res) => proxy.handle(req, res, 'http'));
  http.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head, 'http'));
  const servers: Server[] = [http];
  let https: Server | undefined;
  if (tls) {
    // The default certificate answers handshakes without SNI (they never reach the SNICallback).
    https = createHttpsServer({ SNICallback: tls.sniCallback, ...tls.defaultPair, ...timeouts }, (req, res) => proxy.handle(req, res, 'https'));
    https.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head, 'https'));
    servers.push(https);
  }
  const lean = useLeanFront();
  const fronts = new Map<Server, Http1Front>();
  for (const [server, proto] of [[http, 'http'], [https, 'https']] as const) {
    if (!server || !lean) continue;
    fronts.set(server, new Http1Front(server, (req, res) => proxy.handle(req, res, proto), { keepAliveTimeoutMs: timeouts.keepAliveTimeout, onError: (err) => o.logger.error({ err }, 'request handler failed') }));
  }
  for (const s of servers) {
    s.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
  }
  /** Connections handed in, until they close. */
  const handed = new Set<Socket>();
  let closing = false;
  const take = (proto: 'http' | 'https', socket: Socket) => {
    const server = proto === 'https' ? https : http;
    if (!server || closing) return void socket.destroy();
    handed.add(socket);
    socket.once('close', () => handed.delete(socket));
    server.emit('connection', socket);
  };
  const close = async (graceMs = 5_000) => {
    closing = true;
    o.logger.debug('draining listeners');
    if (o.handedConnections) await drainHanded(servers, fronts.values(), handed, graceMs);
    else await Promise.all(servers.map((s) => drain(s, fronts.get(s), graceMs)));
    o.logger.debug('closing backend pools');
    await proxy.close();
    await access?.close();
  };
  if (o.handedConnections) return { proxy, tls, ports: { http: o.httpPort, ...(https ? { https: o.httpsPort } : {}) }, close, take };
  try {
    const httpPort = await listen(http, o.httpPort, o.bindAddress);
    const httpsPort = https ? await listen(https, o.httpsPort, o.bindAddress) : undefined;
    return { proxy, tls, ports: { http: httpPort, ...(httpsPort !== undefined ? { https: httpsPort } : {}) }, close, take };
  } catch (err) {
    await close(0);
    throw err;
  }
}
