import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../dist/exit.js', import.meta.url));

/** Runs `code` as an ES module in a child whose stdout and stderr are read only after `readAfterMs`: its exit code and the bytes each carried. */
async function run(code: string, readAfterMs: number): Promise<{ status: number | null; stdout: number; stderr: number }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  const count = (s: NodeJS.ReadableStream) => {
    let n = 0;
    const ended = new Promise<number>((resolve) => s.on('end', () => resolve(n)));
    s.on('data', (d: Buffer) => (n += d.length)).pause();
    return ended;
  };
  const counts = Promise.all([count(child.stdout), count(child.stderr)]);
  const status = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  await new Promise((r) => setTimeout(r, readAfterMs));
  child.stdout.resume();
  child.stderr.resume();
  const [stdout, stderr] = await counts;
  return { status: await status, stdout, stderr };
}

describe('exitWhenFlushed', () => {
  it('delivers all of stdout and stderr to a reader that starts late, then exits with the code', async () => {
    const r = await run(
      `import { exitWhenFlushed } from ${JSON.stringify(built)};
       process.stdout.write(Buffer.alloc(1024 * 1024, 97));
       process.stderr.write(Buffer.alloc(300 * 1024, 98));
       await exitWhenFlushed(3);`,
      300,
    );
    expect(r).toEqual({ status: 3, stdout: 1024 * 1024, stderr: 300 * 1024 });
  });

  it('exits when the reader has gone away (EPIPE) instead of waiting forever', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { exitWhenFlushed } from ${JSON.stringify(built)}; process.stdout.on('error', () => {}); process.stdout.write(Buffer.alloc(1024 * 1024, 97)); await exitWhenFlushed(4);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.destroy();
    const status = await new Promise((resolve) => child.on('close', resolve));
    expect(status).toBe(4);
  });
});
