import { execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { accessLine, createAccessLog, type AccessEntry } from './access-log.js';

const entry = (i: number): AccessEntry => ({
  requestId: String(i), remote: '127.0.0.1', proto: 'http', method: 'GET', host: 'a.test', uri: `/x?q="${i}"\u00e9`, status: 200, bytes: 23, durationMs: 1.25,
  ingress: 'default/web', service: 'default/web:80', upstream: '10.244.1.2:8080', upstreamError: undefined,
});

describe('createAccessLog', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'access-log-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('buffers lines and writes them all on close, in order, each a JSON object (a regular file: synchronous 64 KiB batches)', async () => {
    const file = join(tempDir(), 'log');
    const fd = openSync(file, 'w');
    const log = createAccessLog('ingress', fd);
    // About 250 KiB: several batches, and a rest written by close().
    for (let i = 0; i < 1000; i++) log.write(entry(i));
    await log.close();
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1000);
    expect(lines.map((l) => l.requestId)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
    expect(lines[999]).toMatchObject({ level: 30, requestId: '999', component: 'ingress', pid: process.pid, uri: '/x?q="999"\u00e9', status: 200, msg: 'access' });
    expect(lines[0]).not.toHaveProperty('upstreamError');
  });

  it('writes to a pipe asynchronously in batches of whole lines within PIPE_BUF, all in order', async () => {
    const fifo = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader is another process, as for a real stdout pipe (close() may block on a full pipe).
    const cat = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    cat.stdout.on('data', (c: Buffer) => chunks.push(c));
    const exited = new Promise<void>((r) => cat.once('close', () => r()));
    const fd = openSync(fifo, 'w');
    const log = createAccessLog('ingress', fd);
    for (let i = 0; i < 1000; i++) log.write(entry(i));
    await log.close();
    closeSync(fd);
    await exited;
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.requestId)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
  });

  it('writes the fields pino would, in one line', () => {
    const line = accessLine('ingress', 7, { ...entry(1), upstreamError: 'ECONNREFUSED', remote: undefined }, 1000);
    expect(line.endsWith('}\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({
      level: 30, time: 1000, component: 'ingress', pid: 7, requestId: '1', proto: 'http', method: 'GET', host: 'a.test', uri: '/x?q="1"\u00e9', status: 200, bytes: 23,
      durationMs: 1.25, ingress: 'default/web', service: 'default/web:80', upstream: '10.244.1.2:8080', upstreamError: 'ECONNREFUSED', msg: 'access',
    });
  });
});

describe('accessLine', () => {
  it('is one JSON object whose strings read back exactly, whatever they hold', () => {
    for (const s of ['/plain', '/q"uote', '/back\\slash', '/tab\there', '/nul\u0000', '/lone\ud800', '/pair\ud83d\ude00', '/é']) {
      const line = accessLine('ingress', 1, { ...entry(1), requestId: s, host: s, uri: s, upstream: s }, 5);
      expect(line.endsWith('}\n')).toBe(true);
      expect(JSON.parse(line)).toMatchObject({ time: 5, requestId: s, host: s, uri: s, upstream: s });
    }
  });
});
