/**
 * Forwards queries for names outside the cluster zone to the host's
 * resolvers. The client's packet goes upstream as it came, under a fresh
 * query id (so ids of different clients never collide on our socket); the
 * answer gets the client's id back. Upstreams are tried in order, each
 * with its own timeout; a truncated UDP answer is asked again over TCP.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** An upstream resolver. */
export interface Upstream {
  host: string;
  port: number;
}

/** Options of Forwarder. */
export interface ForwarderOptions {
  upstreams: Upstream[];
  /** Per-upstream attempt timeout. Default 2000 ms. */
  timeoutMs?: number;
}

/** The transport of a forwarded query. */
export type ForwardTransport = 'udp' | 'tcp';

/** Parses `host`, `host:port`, `[v6]:port`, or a v6 address alone into an Upstream (port 53 by default). */
export function parseUpstream(spec: string): Upstream {
  const s = spec.trim();
  const v6 = /^\[(.+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : 53 };
  if (isIP(s)) return { host: s, port: 53 };
  const i = s.lastIndexOf(':');
  if (i > 0 && isIP(s.slice(0, i)) && /^\d+$/.test(s.slice(i + 1))) return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  throw new Error(`upstream ${JSON.stringify(spec)}: want an IP address, optionally with :port`);
}

/** The `nameserver` lines of a resolv.conf text, in order. */
export function nameserversOf(resolvConf: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIP(m[1]!)) out.push({ host: m[1]!, port: 53 });
  }
  return out;
}

/** The host's resolvers from a resolv.conf file (default /etc/resolv.conf); [] when it cannot be read. */
export function hostUpstreams(path = '/etc/resolv.conf'): Upstream[] {
  try {
    return nameserversOf(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

interface Pending {
  resolve: (b: Buffer) => void;
  timer: NodeJS.Timeout;
}

/** A forwarding failure: every upstream timed out or failed. */
export class ForwardError extends Error {
  override readonly name = 'ForwardError';
}

/** Sends raw DNS queries to the upstream resolvers. */
export class Forwarder {
  readonly upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly sockets = new Map<4 | 6, Socket>();
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.upstreams = options.upstreams;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Forwards `query` (a whole DNS message) and returns the upstream's answer with the client's id. */
  async forward(query: Buffer, transport: ForwardTransport = 'udp'): Promise<Buffer> {
    if (this.upstreams.length === 0) throw new ForwardError('no upstream resolvers configured');
    const clientId = query.readUInt16BE(0);
    let lastErr: unknown;
    for (const up of this.upstreams) {
      try {
        let answer = transport === 'tcp' ? await this.viaTcp(up, query) : await this.viaUdp(up, query);
        // TC bit: the answer did not fit a datagram; TCP carries it whole.
        if (transport === 'udp' && answer.length >= 4 && (answer[2]! & 0x02) !== 0) answer = await this.viaTcp(up, query).catch(() => answer);
        const out = Buffer.from(answer);
        out.writeUInt16BE(clientId, 0);
        return out;
      } catch (err) {
        lastErr = err;
      }
    }
    throw new ForwardError(`no upstream answered: ${(lastErr as Error)?.message ?? String(lastErr)}`);
  }

  /** Closes the sockets; queries in flight fail. */
  close(): void {
    this.closed = true;
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private socket(family: 4 | 6): Socket {
    let s = this.sockets.get(family);
    if (s) return s;
    s = createSocket(family === 6 ? 'udp6' : 'udp4');
    s.on('message', (msg) => {
      if (msg.length < 12) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      if (!p) return; // late or foreign: the asker has given up
      this.pending.delete(msg.readUInt16BE(0));
      clearTimeout(p.timer);
      p.resolve(msg);
    });
    s.on('error', () => undefined);
    s.unref();
    this.sockets.set(family, s);
    return s;
  }

  private freeId(): number {
    for (let i = 0; i < 100; i++) {
      const id = randomInt(0, 65536);
      if (!this.pending.has(id)) return id;
    }
    throw new ForwardError('too many forwarded queries in flight');
  }

  private viaUdp(up: Upstream, query: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ForwardError('forwarder closed'));
    const id = this.freeId();
    const msg = Buffer.from(query);
    msg.writeUInt16BE(id, 0);
    const sock = this.socket(isIP(up.host) === 6 ? 6 : 4);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ForwardError(`${up.host}:${up.port} timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, timer });
      sock.send(msg, up.port, up.host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  private viaTcp(up: Upstream, query: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: up.host, port: up.port });
      let buf = Buffer.alloc(0);
      const done = (err: Error | undefined, b?: Buffer) => {
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(b!);
      };
      const timer = setTimeout(() => done(new ForwardError(`${up.host}:${up.port} (tcp) timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      sock.on('error', (err) => done(err));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length, 0);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.on('end', () => done(new ForwardError(`${up.host}:${up.port} (tcp) closed without an answer`)));
    });
  }
}
