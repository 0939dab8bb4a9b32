import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture(): { stream: PassThrough; lines: () => Array<Record<string, unknown>> } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('keeps the object key and redacts secrets', async () => {
    const out = capture();
    const log = createLogger('test', { destination: out.stream });
    log.info({ key: 'default/web', token: 's3cret', headers: { authorization: 'Bearer s3cret' }, privateKey: '-----BEGIN' }, 'hello');
    log.flush();
    await new Promise((r) => setImmediate(r));
    const [line] = out.lines();
    expect(line).toMatchObject({ component: 'test', key: 'default/web', token: '[redacted]', headers: { authorization: '[redacted]' }, privateKey: '[redacted]', msg: 'hello' });
    expect(JSON.stringify(line)).not.toContain('s3cret');
  });
});
