import type { Pod, PodStatus } from '@flotilla/api';
import { FakeApiClient } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Agent } from './agent.js';
import { FakeRuntime } from './runtime/fake-runtime.js';
import { StatusManager } from './status-manager.js';
import { testStateDir } from './testing/state-dir.js';

const stateDir = testStateDir();

const log = createLogger('status-test', { level: 'silent' });

function boundPod(name: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'flotilla/busybox:1' }] } };
}

const statusWrites = (c: FakeApiClient) => c.actionsOf('update', 'pods').filter((a) => a.subresource === 'status');

afterEach(() => {
  vi.useRealTimers();
});

describe('StatusManager', () => {
  it('a second sync from a stale informer copy writes nothing, even a second later', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00.400Z'));
    const client = new FakeApiClient();
    const agent = new Agent({ config: { nodeName: 'n1', stateDir, nodeIP: '192.0.2.10', logger: log }, client, runtime: new FakeRuntime() });
    // The copy the informer holds: it has not seen the agent's own write yet.
    const stale = await client.resource<Pod>('pods').create(boundPod('web'));
    client.clearActions();

    await agent.syncer.sync(stale);
    const first = client.peek<Pod>('pods', 'default', 'web')!;
    expect(first.status?.phase).toBe('Running');
    vi.setSystemTime(new Date('2030-01-01T00:00:02.100Z'));
    await agent.syncer.sync(stale);

    expect(statusWrites(client)).toHaveLength(1);
    const now = client.peek<Pod>('pods', 'default', 'web')!;
    expect(now.status?.startTime).toBe(first.status?.startTime);
    expect(now.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2030-01-01T00:00:00Z');
  });

  it('base() is the last written status plus conditions others set since; the pod\'s own before any write', async () => {
    const client = new FakeApiClient();
    const sm = new StatusManager(client);
    const pod = await client.resource<Pod>('pods').create({ ...boundPod('web'), status: { phase: 'Pending' } });
    expect(sm.base(pod)).toEqual({ phase: 'Pending' });

    await sm.write(pod, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
    const withGate: Pod = { ...pod, status: { phase: 'Pending', conditions: [{ type: 'example.com/gate', status: 'True' }] } };
    expect(sm.base(withGate)).toEqual({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'example.com/gate', status: 'True' }] });

    sm.forget(pod.metadata.uid!);
    expect(sm.base(withGate)).toEqual(withGate.status);
  });

  it('rewrites a status someone else changed after our write (Ready=False of a node found silent), never from a stale copy', async () => {
    const client = new FakeApiClient();
    const sm = new StatusManager(client);
    const pod = await client.resource<Pod>('pods').create({ ...boundPod('web'), status: { phase: 'Pending' } });
    const ours: PodStatus = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    const written = (await sm.write(pod, ours))!;
    // The informer's copy from before our write: nothing to do.
    expect(sm.changed(pod, ours)).toBe(false);
    expect(sm.changed(written, ours)).toBe(false);
    // The node-lifecycle controller marks the pod not ready; the node answers again before any eviction.
    const marked = await client.resource<Pod>('pods').updateStatus({ ...written, status: { ...ours, conditions: [{ type: 'Ready', status: 'False', reason: 'NodeNotReady' }] } });
    expect(sm.changed(marked, ours)).toBe(true);
    client.clearActions();
    await sm.write(marked, ours);
    expect(statusWrites(client)).toHaveLength(1);
    expect(client.peek<Pod>('pods', 'default', 'web')!.status?.conditions).toEqual([{ type: 'Ready', status: 'True' }]);
  });
});
