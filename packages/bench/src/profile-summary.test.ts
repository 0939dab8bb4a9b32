import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { summarizeProfile } from './profile-summary.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-prof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0, scriptId: '0', columnNumber: 0 });

describe('summarizeProfile', () => {
  it('charges a native leaf to its nearest JS caller and leaves idle out of the busy share', () => {
    // root → grpc call → native writev; root → (idle)
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 4] },
        { id: 2, callFrame: frame('makeUnaryRequest', 'file:///x/node_modules/@grpc/grpc-js/build/src/client.js'), children: [3] },
        { id: 3, callFrame: frame('writev'), children: [] },
        { id: 4, callFrame: frame('(idle)'), children: [] },
      ],
      samples: [3, 3, 3, 4],
      timeDeltas: [1000, 1000, 1000, 5000],
      startTime: 0,
      endTime: 8000,
    };
    const file = join(dir, 'a.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    const s = summarizeProfile(file);
    expect(s.totalMs).toBe(8);
    expect(s.idleMs).toBe(5);
    expect(s.areas[0]).toMatchObject({ name: '(program) / native', ms: 3, percent: 100 });
    expect(s.attributed[0]).toMatchObject({ name: 'etcd3 + grpc-js + protobuf', ms: 3 });
    expect(s.functions[0]!.name).toBe('writev');
  });

  it('finds the stretches without an idle sample and names the Flotilla functions on their stacks', () => {
    // root → listOnTimeout → list (store) → JSON parse; root → handler (apiserver); root → (idle)
    const store = 'file:///w/packages/store/dist/etcd-storage.js';
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
        { id: 2, callFrame: frame('listOnTimeout', 'node:internal/timers'), children: [3] },
        { id: 3, callFrame: frame('list', store), children: [4] },
        { id: 4, callFrame: frame('parse'), children: [] },
        { id: 5, callFrame: frame('handler', 'file:///w/packages/apiserver/dist/rest-handlers.js'), children: [] },
        { id: 6, callFrame: frame('(idle)'), children: [] },
      ],
      // 3 ms busy (too short), idle, then 700 ms: 600 in list → parse, 100 in handler, then idle.
      samples: [5, 5, 5, 6, 4, 4, 4, 4, 4, 4, 5, 6],
      timeDeltas: [1000, 1000, 1000, 1000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000],
      startTime: 0,
      endTime: 804_000,
    };
    const file = join(dir, 'b.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    const { stalls } = summarizeProfile(file);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]!.ms).toBe(700);
    expect(stalls[0]!.atMs).toBe(104);
    expect(stalls[0]!.frames.map((f) => [f.name, Math.round(f.percent)])).toEqual([
      ['list store/dist/etcd-storage.js:1', 86],
      ['handler apiserver/dist/rest-handlers.js:1', 14],
    ]);
    expect(stalls[0]!.leaves[0]).toMatchObject({ name: 'parse', ms: 600 });
  });
});
