/**
 * The DNS server: one UDP socket and one TCP listener on the same address.
 * A question inside the cluster zone is answered from the ClusterZone
 * (authoritative, AA set); anything else goes to the Forwarder as the
 * client sent it. UDP answers larger than the client accepts (512 bytes,
 * or its EDNS size) go out truncated (TC) so the client retries over TCP.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket as TcpSocket } from 'node:net';
import { performance } from 'node:perf_hooks';
import * as packet from 'dns-packet';
import type { Logger } from '@flotilla/observability';
import { RCODE, RCODE_NAME, type ClusterZone, type ZoneAnswer } from './cluster-zone.js';
import type { ForwardTransport, Forwarder } from './forwarder.js';
import type { DnsMetrics } from './metrics.js';
import { bindSamePort } from './same-port.js';

/** What a DnsServer is built from. */
export interface DnsServerOptions {
  zone: ClusterZone;
  forwarder: Forwarder;
  metrics: DnsMetrics;
  logger?: Logger;
  /** Address to listen on (UDP and TCP). */
  host: string;
  /** Port to listen on; 0 picks a free one (the same number for UDP and TCP). */
  port: number;
  /** Idle TCP connections are closed after this long. Default 10 s. */
  tcpIdleMs?: number;
  /** Encoded zone answers kept until the zone changes (0: none). Default 10,000. */
  answerCacheSize?: number;
}

/** An encoded zone answer and what the metrics need to know about it. */
interface CachedAnswer {
  bytes: Buffer;
  qtype: string;
  rcode: string;
}

/** The EDNS payload size we advertise (the DNS flag day 2020 value). */
const EDNS_SIZE = 1232;
const MAX_UDP = 4096;

type Decoded = ReturnType<typeof packet.decode>;

/** The question's type; dns-packet spells unknown types `UNKNOWN_<n>`. */
function qtypeOf(q: { type: string } | undefined): string {
  return q?.type ?? 'NONE';
}

/** An authoritative DNS server for the cluster zone that forwards everything else. */
export class DnsServer {
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private readonly tcpConns = new Set<TcpSocket>();
  private boundPort = 0;
  /**
   * Zone answers by the query's bytes after the id (question spelling, flags,
   * EDNS size, transport): the same bytes always get the same answer until
   * the zone changes, so a hit skips decoding, resolving and encoding.
   */
  private readonly answers = new Map<string, CachedAnswer>();
  private answersGen = -1;
  private readonly cacheSize: number;

  constructor(private readonly o: DnsServerOptions) {
    this.cacheSize = o.answerCacheSize ?? 10_000;
  }

  /** The bound port (after listen()). */
  get port(): number {
    return this.boundPort;
  }

  /** Binds UDP and TCP on the same port (with port 0, a free number both can have). */
  async listen(): Promise<void> {
    const family = this.o.host.includes(':') ? 'udp6' : 'udp4';
    const tcp = createServer((sock) => this.onTcp(sock));
    const { udp, port } = await bindSamePort(this.o.host, this.o.port, () => {
      const udp = createSocket({ type: family, reuseAddr: false });
      udp.on('message', (msg, rinfo) => void this.onUdp(msg, rinfo));
      udp.on('error', (err) => this.o.logger?.error({ err }, 'dns udp socket error'));
      return udp;
    }, tcp);
    this.udp = udp;
    this.boundPort = port;
    this.tcp = tcp;
    this.o.logger?.info({ host: this.o.host, port: (tcp.address() as AddressInfo).port, zone: this.o.zone.domain, upstreams: this.o.forwarder.upstreams }, 'dns serving (udp, tcp)');
  }

  /** Stops listening and closes open TCP connections. */
  async close(): Promise<void> {
    this.udp?.close();
    this.udp = undefined;
    for (const c of this.tcpConns) c.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    this.tcp = undefined;
  }

  /**
   * Answers one DNS message; undefined when it deserves no answer (not a
   * query, or too short to carry an id). Public so tests and benchmarks can
   * call it without sockets.
   */
  async handle(msg: Buffer, transport: ForwardTransport): Promise<Buffer | undefined> {
    const started = performance.now();
    if (msg.length < 12 || (msg[2]! & 0x80) !== 0) return undefined;
    const key = this.cacheSize > 0 ? transport + msg.toString('latin1', 2) : '';
    if (key) {
      if (this.answersGen !== this.o.zone.generation) {
        this.answers.clear();
        this.answersGen = this.o.zone.generation;
      }
      const hit = this.answers.get(key);
      if (hit) {
        const out = Buffer.from(hit.bytes);
        msg.copy(out, 0, 0, 2);
        this.o.metrics.requests.inc({ proto: transport, type: hit.qtype, source: 'zone' });
        return this.done(out, 'zone', hit.rcode, started);
      }
    }
    let query: Decoded;
    try {
      query = packet.decode(msg);
    } catch {
      return this.finish(this.bare(msg, RCODE.FORMERR), 'zone', transport, 'NONE', started);
    }
    const q = query.questions?.[0];
    const qtype = qtypeOf(q);
    if ((msg[2]! & 0x78) !== 0) return this.finish(this.bare(msg, RCODE.NOTIMP), 'zone', transport, qtype, started);
    if (!q || query.questions!.length !== 1) return this.finish(this.bare(msg, RCODE.FORMERR), 'zone', transport, qtype, started);

    if (!this.o.zone.contains(q.name)) {
      this.o.metrics.requests.inc({ proto: transport, type: qtype, source: 'forward' });
      const t0 = performance.now();
      try {
        const answer = await this.o.forwarder.forward(msg, transport);
        this.o.metrics.forwardDuration.observe((performance.now() - t0) / 1000);
        const rcode = RCODE_NAME[answer.length >= 4 ? answer[3]! & 0x0f : 0] ?? 'OTHER';
        return this.done(answer, 'forward', rcode, started);
      } catch (err) {
        this.o.metrics.forwardFailures.inc();
        this.o.logger?.warn({ name: q.name, type: qtype, err: (err as Error).message }, 'forward failed; answering SERVFAIL');
        return this.done(this.encode(query, { rcode: RCODE.SERVFAIL, answers: [], authorities: [], additionals: [] }, transport), 'forward', 'SERVFAIL', started);
      }
    }
    this.o.metrics.requests.inc({ proto: transport, type: qtype, source: 'zone' });
    const answer = this.o.zone.resolve(q.name, qtype);
    const out = this.encode(query, answer, transport);
    const rcode = RCODE_NAME[answer.rcode] ?? 'OTHER';
    if (key) {
      // Bounded: a flood of distinct names empties it rather than growing it.
      if (this.answers.size >= this.cacheSize) this.answers.clear();
      this.answers.set(key, { bytes: Buffer.from(out), qtype, rcode });
    }
    return this.done(out, 'zone', rcode, started);
  }

  private finish(out: Buffer, source: string, transport: ForwardTransport, qtype: string, started: number): Buffer {
    this.o.metrics.requests.inc({ proto: transport, type: qtype, source });
    return this.done(out, source, RCODE_NAME[out[3]! & 0x0f] ?? 'OTHER', started);
  }

  private done(out: Buffer, source: string, rcode: string, started: number): Buffer {
    this.o.metrics.responses.inc({ rcode, source });
    this.o.metrics.requestDuration.observe((performance.now() - started) / 1000, { source });
    return out;
  }

  /** An answer with only a header (id, RD copied) and an rcode: for messages we could not read. */
  private bare(msg: Buffer, rcode: number): Buffer {
    const out = Buffer.alloc(12);
    msg.copy(out, 0, 0, 2);
    out[2] = 0x80 | (msg[2]! & 0x79); // QR, opcode and RD as asked
    out[3] = 0x80 | rcode; // RA
    return out;
  }

  /** Encodes a zone answer to `query`, truncating for UDP when it does not fit. */
  private encode(query: Decoded, a: ZoneAnswer, transport: ForwardTransport): Buffer {
    const opt = (query.additionals ?? []).find((r) => r.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = transport === 'tcp' ? 65535 : Math.min(MAX_UDP, Math.max(512, opt?.udpPayloadSize ?? 512));
    const flags = packet.AUTHORITATIVE_ANSWER | packet.RECURSION_AVAILABLE | ((query.flags ?? 0) & packet.RECURSION_DESIRED) | a.rcode;
    const edns = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_SIZE, flags: 0 } as packet.Answer] : [];
    const res: packet.Packet = {
      id: query.id ?? 0,
      type: 'response',
      flags,
      questions: query.questions ?? [],
      answers: a.answers,
      authorities: a.authorities,
      additionals: [...a.additionals, ...edns],
    };
    let out = packet.encode(res);
    if (out.length > limit) {
      this.o.metrics.truncated.inc();
      out = packet.encode({ ...res, flags: flags | packet.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: edns });
    }
    return out;
  }

  private async onUdp(msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    try {
      const out = await this.handle(msg, 'udp');
      if (out && this.udp) this.udp.send(out, rinfo.port, rinfo.address);
    } catch (err) {
      this.o.logger?.error({ err, client: rinfo.address }, 'could not answer a udp query');
    }
  }

  /** DNS over TCP: each message prefixed with its 2-byte length; answers may go out in any order. */
  private onTcp(sock: TcpSocket): void {
    this.tcpConns.add(sock);
    sock.setTimeout(this.o.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('close', () => this.tcpConns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        this.handle(Buffer.from(msg), 'tcp')
          .then((out) => {
            if (!out || sock.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length, 0);
            sock.write(Buffer.concat([len, out]));
          })
          .catch((err) => this.o.logger?.error({ err }, 'could not answer a tcp query'));
      }
    });
  }
}
