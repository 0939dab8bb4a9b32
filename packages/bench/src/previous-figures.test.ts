import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { comparePrevious, readPreviousFigures } from './previous-figures.js';

describe('previous figures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-previous-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the last BENCH_JSON line of the named benchmark out of a whole output', () => {
    const file = join(dir, 'out.txt');
    writeFileSync(file, ['== table ==', 'BENCH_JSON {"bench":"scale","boundPerSec":100}', 'BENCH_JSON {"bench":"apiserver","x":1}', 'BENCH_JSON {"bench":"scale","boundPerSec":120}', ''].join('\n'));
    expect(readPreviousFigures(file, 'scale').boundPerSec).toBe(120);
  });

  it('names the file when it holds no figures of that benchmark', () => {
    const file = join(dir, 'other.txt');
    writeFileSync(file, 'BENCH_JSON {"bench":"apiserver","x":1}\n');
    expect(() => readPreviousFigures(file, 'scale')).toThrow(`${file}: no BENCH_JSON line of the 'scale' benchmark (found: apiserver)`);
  });

  it('puts nested figures side by side with their ratio', () => {
    const rows = comparePrevious({ boundPerSec: 100, schedulingLatency: { p99: 2000 } }, { boundPerSec: 150, schedulingLatency: { p99: 1000 } }, [
      ['bound/s', 'boundPerSec'],
      ['p99', 'schedulingLatency.p99'],
      ['absent from both', 'nothing.here'],
    ]);
    expect(rows).toEqual([
      ['bound/s', 100, 150, '1.50x'],
      ['p99', 2000, 1000, '0.50x'],
    ]);
  });
});
