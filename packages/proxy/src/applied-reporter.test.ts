import { APPLIED_ENDPOINTSLICE_RV_ANNOTATION, appliedRevision, PROXY_LEASE_LABEL, type Lease } from '@flotilla/api';
import { FakeApiClient, stopWithRequestsInFlight, unansweredResource, waitFor, type Unanswered } from '@flotilla/client/testing';
import { describe, expect, it } from 'vitest';
import { AppliedReporter } from './applied-reporter.js';

describe('AppliedReporter', () => {
  it('creates the Lease, then folds reports into few writes of the newest revision; never goes backwards', async () => {
    const client = new FakeApiClient();
    const r = new AppliedReporter({ client, name: 'node-1', minIntervalMs: 50, renewIntervalMs: 60_000 });
    const ac = new AbortController();
    const running = r.run(ac.signal);
    const lease = () => client.peek<Lease>('leases', 'kube-node-lease', 'flotilla-proxy-node-1');
    await waitFor(() => lease(), { what: 'lease created' });
    expect(lease()!.metadata.labels?.[PROXY_LEASE_LABEL]).toBe('proxy');
    expect(lease()!.spec).toMatchObject({ holderIdentity: 'node-1', leaseDurationSeconds: 20 });
    client.clearActions();
    for (let rv = 10; rv <= 40; rv++) r.report(String(rv));
    r.report('5');
    await waitFor(() => appliedRevision(lease()!) === 40, { what: 'revision 40 written' });
    expect(client.actions.filter((a) => a.resource === 'leases').length).toBeLessThanOrEqual(3);
    expect(lease()!.metadata.annotations?.[APPLIED_ENDPOINTSLICE_RV_ANNOTATION]).toBe('40');
    ac.abort();
    await running;
  });

  it('stops at once with a write the apiserver never answers', async () => {
    // Lease writes that never answer: an apiserver behind a dropped network.
    const hung: Unanswered = { calls: 0, givenUp: 0 };
    const client = unansweredResource(new FakeApiClient(), 'leases', ['patch', 'create'], hung);
    const r = new AppliedReporter({ client, name: 'node-1', minIntervalMs: 50, renewIntervalMs: 60_000 });
    await stopWithRequestsInFlight(hung, (signal) => r.run(signal));
  });
});
