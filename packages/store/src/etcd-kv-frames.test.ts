import { describe, expect, it } from 'vitest';
import { EtcdCallError, FrameReader } from './etcd-kv.js';

const frame = (body: string, flag = 0) => {
  const msg = Buffer.from(body);
  const out = Buffer.alloc(5 + msg.length);
  out[0] = flag;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
};

/** Feeds `chunks` and returns the messages read. */
const read = (reader: FrameReader, chunks: Buffer[]) => {
  const out: string[] = [];
  for (const c of chunks) reader.push(c, (m) => (out.push(m.toString()), true));
  return out;
};

describe('FrameReader (gRPC frames of a watch stream)', () => {
  it('reads frames however the stream cuts them: whole, several per chunk, split at every byte', () => {
    const bytes = Buffer.concat([frame('first'), frame(''), frame('x'.repeat(300)), frame('last')]);
    const want = ['first', '', 'x'.repeat(300), 'last'];
    expect(read(new FrameReader(1000), [bytes])).toEqual(want);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(read(new FrameReader(1000), [bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(want);
    }
    expect(read(new FrameReader(1000), [...bytes].map((b) => Buffer.from([b])))).toEqual(want);
  });

  it('hands a message filling its chunk over as a view, and copies one that shares it', () => {
    const one = frame('alone');
    const seen: Buffer[] = [];
    new FrameReader(100).push(one, (m) => (seen.push(m), true));
    one.write('A', 5);
    const two = Buffer.concat([frame('a'), frame('b')]);
    new FrameReader(100).push(two, (m) => (seen.push(m), true));
    two.fill(0x7a);
    expect(seen.map(String)).toEqual(['Alone', 'a', 'b']);
  });

  it('stops when the receiver says so', () => {
    const out: string[] = [];
    new FrameReader(100).push(Buffer.concat([frame('a'), frame('b')]), (m) => (out.push(m.toString()), false));
    expect(out).toEqual(['a']);
  });

  it('refuses compressed and oversized messages', () => {
    expect(() => read(new FrameReader(100), [frame('z', 1)])).toThrow(EtcdCallError);
    expect(() => read(new FrameReader(10), [frame('y'.repeat(11)).subarray(0, 5)])).toThrow(/larger than the limit/);
  });
});
