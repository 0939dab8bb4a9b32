import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStorage, type StoreWatchEvent } from '../src/index.js';
import { eventually, pod, rejection } from './helpers.js';

// A private etcd (its own ports and data dir) that this test may stop and
// start; the shared development etcd is never touched.
const ETCD = process.env.FLOTILLA_ETCD_BINARY ?? '/usr/bin/etcd';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

describe.skipIf(!existsSync(ETCD))('EtcdStorage across an etcd restart', () => {
  let dataDir: string;
  let clientPort: number;
  let peerPort: number;
  let proc: ChildProcess | undefined;

  const start = async () => {
    proc = spawn(
      ETCD,
      [
        '--name', 'store-restart-test',
        '--data-dir', dataDir,
        '--listen-client-urls', `http://127.0.0.1:${clientPort}`,
        '--advertise-client-urls', `http://127.0.0.1:${clientPort}`,
        '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-cluster', `store-restart-test=http://127.0.0.1:${peerPort}`,
      ],
      { stdio: 'ignore' },
    );
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'flotilla-store-etcd-'));
    clientPort = await freePort();
    peerPort = await freePort();
    await start();
  });
  afterAll(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 while etcd is down, then works again and the shared watch resumes without losing events', async () => {
    const s = new EtcdStorage({ endpoints: [`http://127.0.0.1:${clientPort}`], prefix: '/flotilla-restart', requestTimeoutMs: 2000, logger: createLogger('store-test', { level: 'error' }) });
    try {
      await eventually(async () => (await s.currentRevision().catch(() => undefined)) !== undefined, 20_000, 'private etcd to start');
      const events: StoreWatchEvent[] = [];
      const ac = new AbortController();
      void (async () => {
        for await (const e of s.watch('pods', undefined, { signal: ac.signal })) events.push(e);
      })().catch(() => undefined);
      await eventually(async () => {
        await s.create('pods', pod('default', `before-${Date.now()}`));
        return events.length > 0;
      });

      await stop();
      const started = Date.now();
      expect((await rejection(s.get('pods', 'default', 'x'))).code).toBe(503);
      expect(Date.now() - started).toBeLessThan(10_000);

      await start();
      // Writes succeed again once etcd is back...
      await eventually(async () => (await s.create('pods', pod('default', 'after-1')).then(() => true, () => false)), 30_000, 'etcd back');
      await s.create('pods', pod('default', 'after-2'));
      // ...and the same watch delivers them, in order, with nothing lost.
      await eventually(() => events.some((e) => e.object.metadata.name === 'after-2'), 30_000, 'watch to resume');
      const names = events.map((e) => e.object.metadata.name!).filter((n) => n.startsWith('after-'));
      expect(names).toEqual(['after-1', 'after-2']);
      const revs = events.map((e) => Number(e.object.metadata.resourceVersion));
      expect(revs).toEqual([...revs].sort((a, b) => a - b));
      ac.abort();
    } finally {
      await s.close();
    }
  }, 90_000);
});
