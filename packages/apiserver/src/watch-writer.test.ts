import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { WatchWriter, watchWriteStats } from './watch-writer.js';

/** The parts of a ServerResponse a WatchWriter uses; `accept` decides what write() answers. */
class FakeResponse extends EventEmitter {
  writes: string[] = [];
  destroyed = false;
  writableEnded = false;
  accept = true;
  write(chunk: Buffer): boolean {
    this.writes.push(chunk.toString());
    return this.accept;
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function writer() {
  const res = new FakeResponse();
  const ac = new AbortController();
  return { res, ac, w: new WatchWriter(res as unknown as ServerResponse, ac.signal) };
}

describe('WatchWriter', () => {
  it('sends the lines of one turn as one chunk, in order, each a whole line', async () => {
    const { res, w } = writer();
    for (let i = 0; i < 5; i++) expect(w.write(Buffer.from(`{"n":${i}}\n`))).toBeUndefined();
    w.write('{"n":5}\n');
    expect(res.writes).toEqual([]);
    await turn();
    expect(res.writes).toHaveLength(1);
    expect(res.writes[0]!.split('\n').slice(0, -1).map((l) => JSON.parse(l).n)).toEqual([0, 1, 2, 3, 4, 5]);
    w.write('{"n":6}\n');
    await turn();
    expect(res.writes).toEqual([res.writes[0], '{"n":6}\n']);
  });

  it('flushes every watch queued in the turn, and counts the writes and their lines', async () => {
    const before = { ...watchWriteStats };
    const a = writer();
    const b = writer();
    a.w.write('a1\n');
    b.w.write('b1\n');
    a.w.write('a2\n');
    await turn();
    expect(a.res.writes).toEqual(['a1\na2\n']);
    expect(b.res.writes).toEqual(['b1\n']);
    expect({ writes: watchWriteStats.writes - before.writes, lines: watchWriteStats.lines - before.lines }).toEqual({ writes: 2, lines: 3 });
  });

  it('flush() writes at once (before the response ends) and the turn does not write it again', async () => {
    const { res, w } = writer();
    w.write('x\n');
    w.flush();
    expect(res.writes).toEqual(['x\n']);
    expect(w.pending).toBe(0);
    await turn();
    expect(res.writes).toEqual(['x\n']);
  });

  it('asks the caller to wait while the socket is full, until drain or the end of the watch', async () => {
    const { res, ac, w } = writer();
    res.accept = false;
    w.write('1\n');
    await turn();
    const wait = w.write('2\n');
    expect(wait).toBeInstanceOf(Promise);
    res.accept = true;
    res.emit('drain');
    await wait;
    expect(w.write('3\n')).toBeUndefined();
    await turn();
    expect(res.writes).toEqual(['1\n', '2\n3\n']);

    res.accept = false;
    w.write('4\n');
    await turn();
    const blocked = w.write('5\n')!;
    ac.abort();
    await blocked;
  });

  it('drops lines once the response is gone', async () => {
    const { res, w } = writer();
    w.write('a\n');
    res.destroyed = true;
    expect(w.write('b\n')).toBeUndefined();
    await turn();
    expect(res.writes).toEqual([]);
  });
});
