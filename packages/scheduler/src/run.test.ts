import { describe, expect, it } from 'vitest';
import type { Event, Pod } from '@flotilla/api';
import { FakeApiClient } from '@flotilla/client/testing';
import { silentLogger } from '@flotilla/client';
import { makeNode, makePod } from './fixtures.js';
import { run } from './run.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('run()', () => {
  it('schedules, records events through the API and serves /metrics and /healthz', async () => {
    const client = new FakeApiClient({ objects: [makeNode('node-1', { cpu: '1' }), makePod('ok', { cpu: '500m' }), makePod('huge', { cpu: '8' })] });
    const ac = new AbortController();
    let port = 0;
    const done = run({ client, metricsPort: 0, logger: silentLogger, onListening: (p) => (port = p) }, ac.signal);
    try {
      await until(() => client.peek<Pod>('pods', 'default', 'ok')?.spec?.nodeName === 'node-1', 'ok bound');
      await until(() => client.peekAll<Event>('events').some((e) => e.reason === 'FailedScheduling'), 'FailedScheduling event');
      const ev = client.peekAll<Event>('events').find((e) => e.reason === 'FailedScheduling')!;
      expect(ev).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Pod', name: 'huge', namespace: 'default' }, // Free CPU depends on whether `ok` was placed first.
        message: expect.stringMatching(/^0\/1 nodes are available: node-1: cpu wants 8, (1|500m) free\.$/),
      });

      expect(port).toBeGreaterThan(0);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('scheduler_schedule_attempts_total{result="scheduled"} 1');
      expect(metrics).toContain('scheduler_schedule_attempts_total{result="unschedulable"} 1');
      expect(metrics).toContain('scheduler_pending_pods{queue="unschedulable"} 1');
      expect(metrics).toContain('scheduler_scheduling_duration_seconds_count{result="scheduled"} 1');
    } finally {
      ac.abort();
      await done;
    }
    // The server is gone once run() resolves.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
