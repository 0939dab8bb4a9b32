import { openSync, readFileSync, closeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { accessLine, createAccessLog, type AccessEntry } from './access-log.js';

const entry = (i: number): AccessEntry => ({
  requestId: String(i), remote: '127.0.0.1', proto: 'http', method: 'GET', host: 'a.test', uri: `/x?q="${i}"\u00e9`, status: 200, bytes: 23, durationMs: 1.25,
  ingress: 'default/web', service: 'default/web:80', upstream: '10.244.1.2:8080', upstreamError: undefined,
});

describe('createAccessLog', () => {
  it('buffers lines and writes them all on close, in order, each a JSON object', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'access-log-')), 'log');
    const fd = openSync(file, 'w');
    const log = createAccessLog('ingress', fd);
    for (let i = 0; i < 100; i++) log.write(entry(i));
    await log.close();
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(100);
    expect(lines.map((l) => l.requestId)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    expect(lines[99]).toMatchObject({ level: 30, requestId: '99', component: 'ingress', pid: process.pid, uri: '/x?q="99"\u00e9', status: 200, msg: 'access' });
    expect(lines[0]).not.toHaveProperty('upstreamError');
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
