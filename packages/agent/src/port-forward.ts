/**
 * `portForward` on the node server, as kubectl 1.32 speaks it: SPDY/3.1
 * streams carried either inside a WebSocket (subprotocol
 * `SPDY/3.1+portforward.k8s.io`, kubectl's default since 1.31) or on the
 * raw upgraded connection (`Upgrade: SPDY/3.1`, its fallback and what
 * older clients send). Per local connection the client opens two streams
 * with the same `requestID` and `port` headers: `streamType: error` and
 * `streamType: data`. The agent dials the pod's IP and port from the host
 * (pod IPs are reachable from their host) and copies bytes both ways; a
 * connection that fails gets its message on the error stream, as the
 * kubelet does, and the other streams of the session carry on.
 */
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ApiError, badRequest } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import { SpdySession, type SpdyStream } from './spdy.js';

/** The port-forward protocol name. */
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
/** The WebSocket subprotocol of SPDY tunnelled in WebSocket messages. */
export const PORT_FORWARD_TUNNEL_PROTOCOL = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;

/** What port-forward needs from the agent. */
export interface PortForwardContext {
  log: Logger;
  /** The pod's IP by namespace/name, when the pod runs on this node. */
  podIP?: (namespace: string, name: string) => string | undefined;
}

/** Stands in for the tunnel subprotocol in the request: `/` is not a token character, so ws would refuse the real name. */
const TUNNEL_PLACEHOLDER = 'x-flotilla-spdy-tunnel';
const wss = new WebSocketServer({ noServer: true, clientTracking: false, handleProtocols: (offered) => (offered.has(TUNNEL_PLACEHOLDER) ? PORT_FORWARD_TUNNEL_PROTOCOL : false) });

/** Serves one port-forward upgrade request (already authorized). */
export async function servePortForward(c: PortForwardContext, ns: string, pod: string, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const ip = c.podIP?.(ns, pod);
  if (!ip) throw badRequest(`pod "${pod}" in namespace "${ns}" has no IP on this node (not running here?)`);
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const target = { namespace: ns, pod, ip, log: c.log, transport: '' };
  if (upgrade === 'websocket') {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(PORT_FORWARD_TUNNEL_PROTOCOL)) throw badRequest(`port-forward over WebSocket needs subprotocol ${PORT_FORWARD_TUNNEL_PROTOCOL}; offered ${JSON.stringify(offered.filter(Boolean))}`);
    // Checked above; ws answers with the real name (handleProtocols), which is what kubectl looks for.
    req.headers['sec-websocket-protocol'] = TUNNEL_PLACEHOLDER;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new SpdySession((bytes) => ws.send(bytes));
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => session.receive(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)));
      ws.on('close', () => session.close(false));
      ws.on('error', () => ws.terminate());
      session.on('close', () => ws.close(1000));
      run(session, { ...target, transport: 'websocket' });
    });
    return;
  }
  if (upgrade === 'spdy/3.1') {
    const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((p) => p.trim());
    if (!versions.includes(PORT_FORWARD_PROTOCOL)) throw badRequest(`port-forward needs X-Stream-Protocol-Version ${PORT_FORWARD_PROTOCOL}; offered ${JSON.stringify(versions.filter(Boolean))}`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`);
    const session = new SpdySession((bytes) => socket.write(bytes));
    socket.on('data', (d: Buffer) => session.receive(d));
    socket.on('close', () => session.close(false));
    session.on('close', () => socket.end());
    if (head.length) session.receive(head);
    run(session, { ...target, transport: 'spdy' });
    return;
  }
  throw new ApiError('BadRequest', `port-forward is served over WebSocket (${PORT_FORWARD_TUNNEL_PROTOCOL}) or SPDY/3.1; this client asked for ${JSON.stringify(req.headers.upgrade ?? '')}`);
}

interface Target {
  namespace: string;
  pod: string;
  ip: string;
  log: Logger;
  /** `websocket` (SPDY tunnelled) or `spdy`, for the logs. */
  transport: string;
}

/** Pairs the error and data streams of each request and forwards it. */
function run(session: SpdySession, t: Target): void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  let forwarded = 0;
  session.on('error', (err: Error) => t.log.warn({ pod: `${t.namespace}/${t.pod}`, err: err.message }, 'port-forward session failed'));
  t.log.info({ pod: `${t.namespace}/${t.pod}`, transport: t.transport }, 'port-forward session opened');
  session.on('close', () => t.log.info({ pod: `${t.namespace}/${t.pod}`, transport: t.transport, connections: forwarded }, 'port-forward session closed'));
  session.on('stream', (s: SpdyStream) => {
    const type = s.headers.streamtype;
    const key = `${s.headers.requestid ?? ''}/${s.headers.port ?? ''}`;
    if (type !== 'error' && type !== 'data') {
      s.reset();
      return;
    }
    const pair = pairs.get(key) ?? {};
    if (pair[type]) {
      s.reset();
      return;
    }
    pair[type] = s;
    pairs.set(key, pair);
    // The error stream is write-only for us; its input (the client closes it at once) is drained.
    if (type === 'error') s.resume();
    if (pair.error && pair.data) {
      pairs.delete(key);
      forwarded++;
      forward(t, s.headers.port ?? '', pair.error, pair.data);
    }
  });
}

/** One forwarded connection: pod IP:port ⇄ data stream; a failure is written on the error stream. */
function forward(t: Target, portHeader: string, error: SpdyStream, data: SpdyStream): void {
  const port = Number(portHeader);
  const fail = (msg: string) => {
    t.log.info({ pod: `${t.namespace}/${t.pod}`, port: portHeader, err: msg }, 'port-forward connection failed');
    if (!error.writableEnded) error.end(`error forwarding port ${portHeader} to pod ${t.pod} (${t.ip}): ${msg}`);
    if (!data.writableEnded) data.end();
  };
  if (!Number.isInteger(port) || port < 1 || port > 65535) return fail(`invalid port ${JSON.stringify(portHeader)}: want 1-65535`);
  const sock: Socket = connect({ host: t.ip, port });
  let connected = false;
  sock.setNoDelay(true);
  sock.on('connect', () => {
    connected = true;
    data.pipe(sock);
    sock.pipe(data);
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) return fail(`${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message} (${t.ip}:${port})`);
    data.reset();
  });
  const finish = () => {
    if (!error.writableEnded) error.end();
  };
  sock.on('close', () => {
    if (connected && !data.writableEnded) data.end();
    finish();
  });
  // The client resets the data stream when its local connection ends.
  data.on('close', () => {
    sock.destroy();
    finish();
  });
  data.on('error', () => sock.destroy());
}
