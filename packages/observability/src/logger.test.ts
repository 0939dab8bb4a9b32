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

  it('censors secrets one level down, under req.headers, and in a child logger\'s bindings, without changing what it was given', async () => {
    const out = capture();
    const log = createLogger('test', { destination: out.stream });
    const fields = {
      key: 'default/web',
      user: { name: 'alice', password: 'pw-s3cret' },
      req: { method: 'GET', headers: { authorization: 'Bearer s3cret', accept: 'json' } },
      kubeconfig: { token: 'tok-s3cret', server: 'https://x' },
      err: new Error('boom'),
      list: ['token'],
    };
    log.info(fields, 'one');
    log.child({ node: 'n1', authorization: 'Basic s3cret' }).warn({ n: 1 }, 'two');
    log.info('three');
    log.flush();
    await new Promise((r) => setImmediate(r));
    const [one, two, three] = out.lines();
    expect(one).toMatchObject({
      key: 'default/web',
      user: { name: 'alice', password: '[redacted]' },
      req: { method: 'GET', headers: { authorization: '[redacted]', accept: 'json' } },
      kubeconfig: { token: '[redacted]', server: 'https://x' },
      err: { message: 'boom' },
      list: ['token'],
    });
    expect(two).toMatchObject({ node: 'n1', authorization: '[redacted]', n: 1, msg: 'two' });
    expect(three).toMatchObject({ component: 'test', msg: 'three' });
    expect(out.lines().map((l) => JSON.stringify(l)).join('\n')).not.toContain('s3cret');
    // The caller's objects are as they were.
    expect(fields.user.password).toBe('pw-s3cret');
    expect(fields.req.headers.authorization).toBe('Bearer s3cret');
  });
});

/** A module for `node --input-type=module -e` that has createLogger (the built one) and runs `body`. */
const withLogger = (body: string) => `import { createLogger } from ${JSON.stringify(new URL('../dist/logger.js', import.meta.url).href)};\n${body}`;

describe('createLogger to standard output', () => {
  // A process that logs and exits at once must still have written every line, in order.
  const child = (ending: string) =>
    withLogger(`
    // Two loggers, as a process has (the component's, the store's): their lines stay in order.
    const logs = [createLogger('exit-test'), createLogger('exit-test-b')];
    for (let i = 0; i < 2000; i++) logs[i % 2].info({ key: 'default/p-' + i, i }, 'line');
    ${ending}
  `);

  for (const [how, ending, code] of [
    ['process.exit', 'process.exit(3);', 3],
    ['an uncaught exception', "setImmediate(() => { throw new Error('boom'); });", 1],
    ['the event loop emptying', '', 0],
  ] as const) {
    it(`writes every line when the process ends by ${how}`, async () => {
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', child(ending)], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(r.status).toBe(code);
      const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number; key: string });
      expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
      expect(lines[1998]).toMatchObject({ key: 'default/p-1998', component: 'exit-test' });
      expect(lines[1999]).toMatchObject({ key: 'default/p-1999', component: 'exit-test-b' });
    });
  }
});

describe('createLogger when standard output is gone', () => {
  // A component whose log reader died (its parent, a closed pipe) must still stop: with pino's asynchronous
  // destination, its flush at exit retried a write that failed with EPIPE forever, and an agent
  // outlived its test run, deaf to SIGTERM.
  it('a process that logs to a closed pipe and exits, exits', async () => {
    const { spawn } = await import('node:child_process');
    const script = withLogger(`
      const log = createLogger('broken-stdout');
      process.stdin.once('data', () => {
        for (let i = 0; i < 200; i++) log.info({ key: 'default/p-' + i, i }, 'line');
        process.exit(0);
      });
    `);
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The reader goes away, then the child logs and exits.
    child.stdout!.destroy();
    child.stdin!.end('go\n');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref())]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code).toBe(0);
  });
});
