import { ApiError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { decodeWatchStream, LineDecoder, resourceVersionOfLine } from './watch.js';

async function* chunks(parts: Array<string | Uint8Array>, fail?: Error): AsyncGenerator<Uint8Array | string> {
  for (const p of parts) yield p;
  if (fail) throw fail;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const ev = (type: string, name: string, rv: string) => JSON.stringify({ type, object: { metadata: { name, resourceVersion: rv } } }) + '\n';

describe('watch stream decoding', () => {
  it('yields events split at every possible byte boundary', async () => {
    const text = ev('ADDED', 'a', '1') + ev('MODIFIED', 'ä-ünïcode', '2') + ev('DELETED', 'a', '3');
    const bytes = new TextEncoder().encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const events = await collect(decodeWatchStream(chunks([bytes.slice(0, cut), bytes.slice(cut)])));
      expect(events.map((e) => `${e.type}:${e.object.metadata.name}`)).toEqual(['ADDED:a', 'MODIFIED:ä-ünïcode', 'DELETED:a']);
    }
  });

  it('handles many events in one chunk, empty lines, and a last line without newline', async () => {
    const text = ev('ADDED', 'a', '1') + '\n' + ev('ADDED', 'b', '2') + ev('ADDED', 'c', '3').trimEnd();
    const events = await collect(decodeWatchStream(chunks([text])));
    expect(events.map((e) => e.object.metadata.name)).toEqual(['a', 'b', 'c']);
  });

  it('throws ApiError Gone for an ERROR event with a 410 Status', async () => {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 5 (10)', reason: 'Expired', code: 410 };
    const stream = decodeWatchStream(chunks([ev('ADDED', 'a', '1'), JSON.stringify({ type: 'ERROR', object: status }) + '\n']));
    const seen: string[] = [];
    const err = await (async () => {
      try {
        for await (const e of stream) seen.push(e.object.metadata.name!);
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual(['a']);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(410);
    expect((err as ApiError).reason).toBe('Gone');
  });

  it('ends quietly when the connection drops mid-line', async () => {
    const events = await collect(decodeWatchStream(chunks([ev('ADDED', 'a', '1'), '{"type":"ADD'], new Error('socket hang up'))));
    expect(events).toHaveLength(1);
  });

  it('does not parse lines the prefilter skips: a BOOKMARK with their resourceVersion stands in; ERROR lines are never skipped', async () => {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 };
    const text = ev('ADDED', 'keep', '1') + ev('MODIFIED', 'skip', '2') + ev('ADDED', 'keep', '3') + JSON.stringify({ type: 'ERROR', object: status }) + '\n';
    const seen: string[] = [];
    const err = await (async () => {
      try {
        for await (const e of decodeWatchStream(chunks([text]), () => true)) seen.push(`${e.type}:${e.object.metadata.name ?? ''}@${e.object.metadata.resourceVersion}`);
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual(['BOOKMARK:@1', 'BOOKMARK:@2', 'BOOKMARK:@3']);
    expect((err as ApiError).code).toBe(410);
    const some = await collect(decodeWatchStream(chunks([text.split('\n').slice(0, 3).join('\n')]), (l) => l.includes('"skip"')));
    expect(some.map((e) => `${e.type}:${e.object.metadata.name ?? ''}`)).toEqual(['ADDED:keep', 'BOOKMARK:', 'ADDED:keep']);
  });

  it("reads a line's first resourceVersion without parsing it", () => {
    expect(resourceVersionOfLine('{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"resourceVersion":"42","name":"a"}}}')).toBe('42');
    expect(resourceVersionOfLine('{"type":"ADDED","object":{"metadata":{"name":"a"}}}')).toBeUndefined();
  });

  it('LineDecoder keeps a partial line until its newline arrives', () => {
    const d = new LineDecoder();
    expect(d.push('ab')).toEqual([]);
    expect(d.push('c\nde')).toEqual(['abc']);
    expect(d.push('\n')).toEqual(['de']);
    expect(d.end()).toBeUndefined();
  });
});
