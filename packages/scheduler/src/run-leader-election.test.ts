import { describe, expect, it } from 'vitest';
import type { Lease, Pod } from '@flotilla/api';
import { silentLogger } from '@flotilla/client';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { makeNode, makePod } from './fixtures.js';
import { run } from './run.js';

describe('run() with leader election', () => {
  it('only the Lease holder schedules; the standby takes over when the leader stops', async () => {
    const client = new FakeApiClient({ objects: [makeNode('node-1', { cpu: '4' }), makePod('first', { cpu: '100m' })] });
    const binds: string[] = [];
    client.prependReactor((a) => {
      if (a.subresource === 'binding') binds.push(a.name!);
    });
    const lease = () => client.peek<Lease>('leases', 'kube-system', 'flotilla-scheduler');
    const a = new AbortController();
    const b = new AbortController();
    const runA = run({ client, leaderElect: true, identity: 'a', metricsPort: -1, logger: silentLogger }, a.signal);
    await waitFor(() => lease()?.spec?.holderIdentity === 'a', { what: 'a leads' });
    const runB = run({ client, leaderElect: true, identity: 'b', metricsPort: -1, logger: silentLogger }, b.signal);
    await waitFor(() => client.peek<Pod>('pods', 'default', 'first')?.spec?.nodeName, { what: 'first bound' });

    // The leader shuts down and releases the Lease: the standby takes over within its retry period.
    a.abort();
    await runA;
    await waitFor(() => lease()?.spec?.holderIdentity === 'b', { what: 'b leads', timeoutMs: 5000 });
    await client.resource('pods').create(makePod('second', { cpu: '100m' }));
    await waitFor(() => client.peek<Pod>('pods', 'default', 'second')?.spec?.nodeName, { what: 'second bound by b' });
    expect(binds.sort()).toEqual(['first', 'second']);
    b.abort();
    await runB;
  });
});
