/**
 * A minimal DNS client (one question over UDP or TCP) and a fake upstream
 * resolver (UDP and TCP, fixed A records, NXDOMAIN for the rest), for tests
 * and benchmarks that must never ask a real outside server.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import * as packet from 'dns-packet';
import { bindSamePort } from '../same-port.js';

/** Options of queryDns. */
export interface QueryOptions {
  /** Ask over TCP instead of UDP. */
  tcp?: boolean;
  /** Give up after this long. Default 3000 ms. */
  timeoutMs?: number;
  /** Send an EDNS OPT record with this UDP payload size. */
  ednsSize?: number;
  /** Recursion desired. Default true. */
  rd?: boolean;
}

/** One resource record of a reply, loosely typed for assertions. */
export interface DnsRecord {
  name: string;
  type: string;
  ttl?: number;
  data?: unknown;
}

/** A decoded reply. */
export interface DnsReply {
  id: number;
  /** `NOERROR`, `NXDOMAIN`, `SERVFAIL`, … */
  rcode: string;
  flag_aa: boolean;
  flag_tc: boolean;
  flag_rd: boolean;
  flag_ra: boolean;
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** Decodes a reply message into a DnsReply. */
export function decodeReply(buf: Buffer): DnsReply {
  return packet.decode(buf) as unknown as DnsReply;
}

/** Sends one question to host:port and resolves with the decoded answer. */
export function queryDns(host: string, port: number, name: string, type: string, options: QueryOptions = {}): Promise<DnsReply> {
  const id = Math.floor(Math.random() * 65536);
  const msg = packet.encode({
    id,
    type: 'query',
    flags: options.rd === false ? 0 : packet.RECURSION_DESIRED,
    questions: [{ name, type: type as packet.RecordType, class: 'IN' }],
    additionals: options.ednsSize ? [{ type: 'OPT', name: '.', udpPayloadSize: options.ednsSize, flags: 0 } as packet.Answer] : [],
  });
  const timeoutMs = options.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    let finish: (err?: Error, buf?: Buffer) => void;
    const timer = setTimeout(() => finish(new Error(`dns query ${name} ${type} to ${host}:${port} timed out`)), timeoutMs);
    if (options.tcp) {
      const sock = connect({ host, port });
      let buf = Buffer.alloc(0);
      finish = (err, b) => {
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(decodeReply(b!));
      };
      sock.on('error', (err) => finish(err));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length, 0);
        sock.write(Buffer.concat([len, msg]));
      });
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
    } else {
      const sock: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      finish = (err, b) => {
        clearTimeout(timer);
        sock.close();
        if (err) reject(err);
        else resolve(decodeReply(b!));
      };
      sock.on('error', (err) => finish(err));
      sock.on('message', (b) => {
        if (b.length >= 2 && b.readUInt16BE(0) === id) finish(undefined, b);
      });
      sock.send(msg, port, host);
    }
  });
}

/** A fake upstream resolver. */
export interface FakeUpstream {
  host: string;
  port: number;
  /** Questions it was asked (`name TYPE`), in order. */
  asked: string[];
  close(): Promise<void>;
}

/** Answers A questions for `records` (name → address, case-insensitive), NXDOMAIN otherwise, on UDP and TCP. */
export async function startFakeUpstream(records: Record<string, string>, host = '127.0.0.1', port = 0): Promise<FakeUpstream> {
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]));
  const asked: string[] = [];
  const answer = (msg: Buffer): Buffer => {
    const q = packet.decode(msg);
    const question = q.questions![0]!;
    asked.push(`${question.name} ${question.type}`);
    const ip = table.get(question.name.toLowerCase().replace(/\.$/, ''));
    const answers: packet.Answer[] = ip && question.type === 'A' ? [{ name: question.name, type: 'A', class: 'IN', ttl: 60, data: ip }] : [];
    return packet.encode({ id: q.id, type: 'response', flags: packet.RECURSION_AVAILABLE | (q.flags! & packet.RECURSION_DESIRED) | (ip ? 0 : 3), questions: q.questions, answers });
  };
  const tcp: Server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const out = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length, 0);
        sock.write(Buffer.concat([len, out]));
      }
    });
  });
  const { udp, port: bound } = await bindSamePort(host, port, () => {
    const udp = createSocket('udp4');
    udp.on('message', (msg, r) => udp.send(answer(msg), r.port, r.address));
    return udp;
  }, tcp);
  return {
    host,
    port: bound,
    asked,
    close: async () => {
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
