/**
 * Docker's multiplexed attach/log format: each frame is an 8-byte header
 * (stream type, 3 zero bytes, big-endian payload length) and the payload.
 * Containers are created without a TTY, so every log and exec stream uses it.
 */
import { PassThrough, Transform, type TransformCallback } from 'node:stream';

/** Frame stream types in the header's first byte. */
export const STREAM_STDIN = 0;
/** stdout frames. */
export const STREAM_STDOUT = 1;
/** stderr frames. */
export const STREAM_STDERR = 2;

/** Turns a multiplexed byte stream into the interleaved payloads (stdout and stderr together, in order). */
export class DockerDemux extends Transform {
  private pending: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      if (this.pending.length < 8) break;
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const payload = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      if (payload.length) this.push(payload);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    // A truncated last frame still carries output worth showing.
    if (this.pending.length > 8) this.push(this.pending.subarray(8));
    done();
  }
}

/** Demultiplexes a complete buffer (a non-follow log answer) into its payloads. */
export function demuxBuffer(buf: Buffer): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const size = buf.readUInt32BE(off + 4);
    parts.push(buf.subarray(off + 8, Math.min(buf.length, off + 8 + size)));
    off += 8 + size;
  }
  return Buffer.concat(parts);
}

/** Encodes one frame; the fake runtime and tests use it. */
export function encodeFrame(stream: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header.writeUInt8(stream, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/**
 * Splits a multiplexed stream into stdout and stderr streams (either may be
 * absent: its frames are dropped), ending both when the input ends.
 * Back-pressure is passed on: the input pauses while a reader is full.
 */
export function splitDockerStream(input: NodeJS.ReadableStream & { pause(): unknown; resume(): unknown }, stdout: PassThrough | undefined, stderr: PassThrough | undefined): void {
  let pending: Buffer = Buffer.alloc(0);
  const resume = () => input.resume();
  stdout?.on('drain', resume);
  stderr?.on('drain', resume);
  let raw = false;
  input.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let full = false;
    // The engine writes a failed exec's start error (e.g. `OCI runtime exec failed: … not found`) as plain text, unframed.
    if (!raw && pending.length >= 4 && (pending[0]! > STREAM_STDERR || pending[1] !== 0 || pending[2] !== 0 || pending[3] !== 0)) raw = true;
    if (raw) {
      const out = stderr ?? stdout;
      if (out && !out.write(pending)) full = true;
      pending = Buffer.alloc(0);
    }
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const kind = pending[0];
      const payload = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      const out = kind === STREAM_STDERR ? stderr : stdout;
      if (out && payload.length && !out.write(payload)) full = true;
    }
    if (full) input.pause();
  });
  const finish = () => {
    stdout?.end();
    stderr?.end();
  };
  input.on('end', finish);
  input.on('close', finish);
  input.on('error', finish);
}
