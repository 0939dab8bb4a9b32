import type { Pod } from '@flotilla/api';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHollowNodes } from './hollow-nodes.js';

const log = createLogger('hollow', { level: 'silent' });

async function startOnePod(events: boolean | undefined) {
  const client = new FakeApiClient();
  const ac = new AbortController();
  try {
    const h = runHollowNodes({ count: 3, client, signal: ac.signal, logger: log, ...(events === undefined ? {} : { events }) });
    await h.ready;
    client.clearActions();
    await client.resource<Pod>('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'default' }, spec: { nodeName: 'hollow-1', containers: [{ name: 'c', image: 'flotilla/busybox:1' }] } });
    await waitFor(() => (client.peek<Pod>('pods', 'default', 'x')?.status?.phase === 'Running' ? true : undefined), { what: 'hollow pod Running' });
    // The recorder writes in the background: wait for the kubelet's last start event when events are on.
    if (events !== false) await waitFor(() => (client.actionsOf('create', 'events').some((a) => (a.object as { reason?: string }).reason === 'Started') ? true : undefined), { what: 'Started event' });
    await h.agents[1]!.syncer.sync(client.peek<Pod>('pods', 'default', 'x')!);
    return client;
  } finally {
    ac.abort();
  }
}

describe('runHollowNodes writes', () => {
  it('a pod reaches Running with one status write; the kubelet events are recorded by default', async () => {
    const client = await startOnePod(undefined);
    expect(client.actionsOf('update', 'pods').filter((a) => a.subresource === 'status')).toHaveLength(1);
    expect(client.actionsOf('create', 'events').map((a) => (a.object as { reason?: string }).reason)).toEqual(['Pulled', 'Created', 'Started']);
  });

  it('events: false records none', async () => {
    const client = await startOnePod(false);
    expect(client.actionsOf('update', 'pods').filter((a) => a.subresource === 'status')).toHaveLength(1);
    expect(client.actionsOf('create', 'events')).toHaveLength(0);
  });
});

describe('runHollowNodes state', () => {
  it('keeps no termination-log files (fake containers write none), while the container still gets its mount', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hollow-state-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = dir; // the agents' default state directory is under it
    const client = new FakeApiClient();
    const ac = new AbortController();
    try {
      const h = runHollowNodes({ count: 2, client, signal: ac.signal, logger: log, events: false });
      await h.ready;
      await client.resource<Pod>('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'y', namespace: 'default' }, spec: { nodeName: 'hollow-1', containers: [{ name: 'c', image: 'flotilla/busybox:1' }] } });
      await waitFor(() => (client.peek<Pod>('pods', 'default', 'y')?.status?.phase === 'Running' ? true : undefined), { what: 'hollow pod Running' });
      const runtime = h.runtimes[1]!;
      const id = client.peek<Pod>('pods', 'default', 'y')!.status!.containerStatuses![0]!.containerID!.replace(/^[a-z]+:\/\//, '');
      const mount = runtime.optionsOf(id)!.mounts!.find((m) => m.name === 'termination-log')!;
      expect(mount.containerPath).toBe('/dev/termination-log');
      expect(mount.hostPath!.path).toContain(join(dir, 'flotilla-agent', 'hollow-1'));
      expect(existsSync(join(dir, 'flotilla-agent'))).toBe(false);
    } finally {
      ac.abort();
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
