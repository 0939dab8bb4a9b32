import { openSync, readFileSync, closeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAccessLog } from './access-log.js';

describe('createAccessLog', () => {
  it('buffers lines and writes them all on close', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'access-log-')), 'log');
    const fd = openSync(file, 'w');
    const log = createAccessLog('ingress', fd);
    for (let i = 0; i < 100; i++) log.logger.info({ requestId: String(i), status: 200 }, 'access');
    log.close();
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { requestId: string; component: string });
    expect(lines).toHaveLength(100);
    expect(lines[99]).toMatchObject({ requestId: '99', component: 'ingress' });
  });
});
