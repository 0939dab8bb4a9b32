import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pidAlive, waitFor } from '../../src/index.js';

const WATCHDOG = resolve(fileURLToPath(import.meta.url), '../../../../../scripts/engine-watchdog.sh');

// A Docker engine on a unix socket whose /info answers at once, or never (the deadlocked engine).
async function fakeEngine(dir: string, hung: boolean): Promise<{ socket: string; infos: () => number; server: Server }> {
  const socket = join(dir, 'docker.sock');
  let infos = 0;
  const server = createServer((req, res) => {
    if (req.url?.endsWith('/info')) infos++;
    if (hung) return;
    res.setHeader('content-type', 'application/json');
    res.end('{"ID":"fake"}');
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return { socket, infos: () => infos, server };
}

// A process that reports the signals it receives on stdout (SIGTERM also ends it).
function recorder(): { child: ChildProcess; got: string[]; exited: Promise<void> } {
  const child = spawn(process.execPath, ['-e', "for (const s of ['SIGTERM', 'SIGUSR1']) process.on(s, () => { process.stdout.write(s + '\\n'); if (s === 'SIGTERM') process.exit(0); }); setInterval(() => {}, 1000); process.stdout.write('ready\\n');"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const got: string[] = [];
  child.stdout!.on('data', (c: Buffer) => got.push(...c.toString().split('\n').filter(Boolean)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, got, exited };
}

function watchdog(args: string[]): { proc: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn('bash', [WATCHDOG, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, stderr: () => err, exited };
}

describe('scripts/engine-watchdog.sh', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setUp(hung: boolean) {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-watchdog-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const engine = await fakeEngine(dir, hung);
    cleanups.push(() => new Promise<void>((r) => engine.server.close(() => r())) as Promise<void>);
    cleanups.push(() => void engine.server.closeAllConnections());
    const run = recorder();
    const dockerd = recorder();
    cleanups.push(() => void run.child.kill('SIGKILL'), () => void dockerd.child.kill('SIGKILL'));
    await waitFor(() => run.got.includes('ready') && dockerd.got.includes('ready'), { timeout: 10_000, message: 'the recorders to start' });
    return { engine, run, dockerd };
  }

  it('a hung engine: asks it for its goroutine dump and ends the run, after the strikes in a row', async () => {
    const { engine, run, dockerd } = await setUp(true);
    const w = watchdog(['--socket', engine.socket, '--signal-pid', String(run.child.pid), '--engine-pid', String(dockerd.child.pid), '--every', '0.1', '--timeout', '0.3', '--strikes', '3']);
    cleanups.push(() => void w.proc.kill('SIGKILL'));
    expect(await w.exited).toBe(0);
    await run.exited;
    expect(run.got).toContain('SIGTERM');
    await waitFor(() => dockerd.got.includes('SIGUSR1'), { timeout: 5_000, message: 'the engine to get SIGUSR1' });
    expect(engine.infos()).toBe(3);
    expect(w.stderr()).toContain(`the Docker engine on ${engine.socket} has not answered /info 3 times in a row`);
    expect(w.stderr()).toContain(`goroutine dump (SIGUSR1)`);
  });

  it('a healthy engine: never signals anyone, and stops once the run is gone', async () => {
    const { engine, run, dockerd } = await setUp(false);
    const w = watchdog(['--socket', engine.socket, '--signal-pid', String(run.child.pid), '--engine-pid', String(dockerd.child.pid), '--every', '0.05', '--timeout', '0.3', '--strikes', '1']);
    cleanups.push(() => void w.proc.kill('SIGKILL'));
    await waitFor(() => engine.infos() >= 10, { timeout: 10_000, message: '10 /info checks' });
    expect(run.got).toEqual(['ready']);
    expect(dockerd.got).toEqual(['ready']);
    run.child.kill('SIGKILL');
    expect(await w.exited).toBe(0);
    expect(w.stderr()).toBe('');
  });

  it('stops when told to (the run is over), taking its sleep along', async () => {
    const { engine, run } = await setUp(false);
    const w = watchdog(['--socket', engine.socket, '--signal-pid', String(run.child.pid), '--every', '60']);
    cleanups.push(() => void w.proc.kill('SIGKILL'));
    // Its first sleep (60 s) under way: the watchdog's child.
    const sleepPid = await waitFor(() => {
      try {
        return Number(execFileSync('pgrep', ['-P', String(w.proc.pid), 'sleep'], { encoding: 'utf8' }).trim()) || undefined;
      } catch {
        return undefined;
      }
    }, { timeout: 10_000, message: "the watchdog's sleep" });
    w.proc.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    await waitFor(() => !pidAlive(sleepPid), { timeout: 5_000, message: 'the sleep to be gone with the watchdog' });
    expect(engine.infos()).toBe(0);
  });
});
