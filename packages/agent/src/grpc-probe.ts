/**
 * The gRPC probe handler: one call of the standard health service
 * (`grpc.health.v1.Health/Check`) over plaintext HTTP/2, as the kubelet
 * makes it; healthy only when the answer is SERVING.
 */
import { connect, constants } from 'node:http2';
import type { ProbeOutcome } from './prober.js';

const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** A HealthCheckRequest (field 1: service), length-prefixed as a gRPC message. */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service);
  // Service names are short: a one-byte varint length is enough below 128 bytes; longer ones use two.
  const len = name.length < 128 ? Buffer.from([name.length]) : Buffer.from([(name.length & 0x7f) | 0x80, name.length >> 7]);
  const msg = name.length > 0 ? Buffer.concat([Buffer.from([0x0a]), len, name]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(msg.length, 1);
  return Buffer.concat([frame, msg]);
}

/** The `status` of a framed HealthCheckResponse (0 when absent, as protobuf defaults). */
export function healthCheckStatus(body: Buffer): number {
  if (body.length < 5) return 0;
  const msg = body.subarray(5, 5 + body.readUInt32BE(1));
  for (let i = 0; i < msg.length; ) {
    const tag = msg[i++]!;
    if (tag === 0x08) return msg[i] ?? 0;
    // Skip other fields (varints only in this message).
    while (i < msg.length && (msg[i++]! & 0x80) !== 0);
  }
  return 0;
}

/** Runs one gRPC health check against host:port. */
export function grpcProbe(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeOutcome> {
  const target = `${host}:${port}`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, message: `timeout: health rpc did not complete within ${Math.round(timeoutMs / 1000)}s` }), timeoutMs);
    const session = connect(`http://${target}`);
    let connected = false;
    const failed = (err: Error) =>
      finish({ ok: false, message: connected ? `rpc error: ${err.message}` : `timeout: failed to connect service "${target}" within ${Math.round(timeoutMs / 1000)}s: ${err.message}` });
    session.on('connect', () => (connected = true));
    session.on('error', failed);
    const req = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'kube-probe/1.32',
    });
    const parts: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const headersOf = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', headersOf);
    req.on('trailers', headersOf);
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('error', failed);
    req.on('end', () => {
      if (grpcStatus !== undefined && grpcStatus !== '0') return finish({ ok: false, message: `rpc error: code = ${grpcStatus} desc = ${grpcMessage}` });
      const status = healthCheckStatus(Buffer.concat(parts));
      if (status === 1) return finish({ ok: true, message: '' });
      finish({ ok: false, message: `service unhealthy (responded with "${STATUS_NAMES[status] ?? status}")` });
    });
    req.end(healthCheckRequest(service));
  });
}
