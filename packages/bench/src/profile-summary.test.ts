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
});
