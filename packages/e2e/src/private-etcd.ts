import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

/** The etcd binary tests start; Debian's etcd-server by default. */
export const ETCD_BINARY = process.env.FLOTILLA_ETCD_BINARY ?? '/usr/bin/etcd';

/** An etcd of a test's own, on its own ports and data directory. */
export interface PrivateEtcd {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** Starts it again after stop() or kill(), on the same ports and data. */
  start(): Promise<void>;
  /** SIGKILL: an etcd outage as a crash. */
  kill(): Promise<void>;
  /** Stops it and deletes its data. */
  close(): Promise<void>;
}

/**
 * Starts an etcd that only this test uses. Tests that compact the history,
 * or stop etcd, need one: on the shared etcd a compaction would give other
 * test files running at the same time a 410 for revisions they still hold.
 */
export async function startPrivateEtcd(): Promise<PrivateEtcd> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flotilla-private-etcd-'));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const name = `private-${clientPort}`;
  let proc: ChildProcess | undefined;
  let output = '';

  const healthy = async (): Promise<boolean> => {
    try {
      const res = await fetch(`${endpoint}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  };

  const start = async (): Promise<void> => {
    output = '';
    const p = spawn(
      ETCD_BINARY,
      [
        '--name', name,
        '--data-dir', dataDir,
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-cluster', `${name}=http://127.0.0.1:${peerPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr?.on('data', (c: Buffer) => {
      output = (output + c.toString()).slice(-4096);
    });
    proc = p;
    await waitFor(async () => (p.exitCode !== null ? Promise.reject(new Error(`etcd exited: ${output}`)) : healthy()), {
      timeout: 30_000,
      message: `private etcd on ${endpoint} to be healthy`,
    });
  };

  const kill = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    endpoint,
    start,
    kill,
    close: async () => {
      await kill();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
