import type { Lease } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { LeaderElector, runWithLeaderElection } from './leader-election.js';
import { FakeApiClient } from './testing/fake-api-client.js';
import { hangUntilAborted, overrideResource } from './testing/override-resource.js';
import { waitFor } from './testing/wait-for.js';

const opts = { namespace: 'kube-system', name: 'lock', leaseDurationSeconds: 1, renewDeadlineSeconds: 0.5, retryPeriodSeconds: 0.05 };

function candidate(fake: FakeApiClient, identity: string, extra: Partial<typeof opts & { releaseOnCancel: boolean }> = {}) {
  const elector = new LeaderElector(fake, { ...opts, identity, ...extra });
  const ac = new AbortController();
  const state = { leading: false, stopped: false, ran: 0 };
  const done = elector.run(ac.signal, {
    onStartedLeading: async (signal) => {
      state.leading = true;
      state.ran++;
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      state.leading = false;
    },
    onStoppedLeading: () => (state.stopped = true),
  });
  return { elector, ac, state, done };
}

/**
 * The fake, except that once `hang` is set its Lease requests never answer (an apiserver behind a
 * dropped network); `calls` counts them, `givenUp` those their caller gave up, `open()` those still open.
 */
function hangingLeases(fake: FakeApiClient) {
  const state = { hang: false, calls: 0, givenUp: 0, open: () => state.calls - state.givenUp };
  const hold = (signal?: AbortSignal) => hangUntilAborted(signal, state);
  const client = overrideResource(fake, 'leases', (real) => ({
    get: (ns, name, o) => (state.hang ? hold(o?.signal) : real.get(ns, name, o)),
    create: (obj, o) => (state.hang ? hold(o?.signal) : real.create(obj, o)),
    update: (obj, o) => (state.hang ? hold(o?.signal) : real.update(obj, o)),
  }));
  return { client, state };
}

describe('LeaderElector', () => {
  it('elects exactly one of two candidates and hands over fast when the leader stops', async () => {
    const fake = new FakeApiClient();
    const a = candidate(fake, 'a');
    const b = candidate(fake, 'b');
    await waitFor(() => a.state.leading || b.state.leading);
    // Several renew periods later there is still exactly one leader.
    await new Promise((r) => setTimeout(r, 300));
    expect([a.state.leading, b.state.leading].filter(Boolean)).toHaveLength(1);
    const [leader, standby] = a.state.leading ? [a, b] : [b, a];
    const lease = fake.peek<Lease>('leases', 'kube-system', 'lock')!;
    expect(lease.spec?.holderIdentity).toBe(leader === a ? 'a' : 'b');

    const t0 = Date.now();
    leader.ac.abort();
    await leader.done;
    expect(leader.state.stopped).toBe(true);
    await waitFor(() => standby.state.leading, { timeoutMs: 3000 });
    // Released, so the standby did not wait out the 1 s lease.
    expect(Date.now() - t0).toBeLessThan(900);
    expect(fake.peek<Lease>('leases', 'kube-system', 'lock')?.spec?.leaseTransitions).toBe(1);
    standby.ac.abort();
    await standby.done;
  });

  it('takes over from a crashed leader once its lease expires', async () => {
    const fake = new FakeApiClient();
    const a = candidate(fake, 'a', { releaseOnCancel: false });
    await waitFor(() => a.state.leading);
    const b = candidate(fake, 'b');
    await new Promise((r) => setTimeout(r, 200));
    expect(b.state.leading).toBe(false);
    a.ac.abort(); // "crash": stops renewing and keeps the lease
    await a.done;
    const t0 = Date.now();
    await waitFor(() => b.state.leading, { timeoutMs: 5000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    b.ac.abort();
    await b.done;
  });

  it('steps down by the renew deadline when its Lease requests go unanswered, and aborts them', async () => {
    const fake = new FakeApiClient();
    const { client, state } = hangingLeases(fake);
    const elector = new LeaderElector(client, { ...opts, identity: 'a' });
    const ac = new AbortController();
    let leading = false;
    let stopped = false;
    const done = elector.run(ac.signal, {
      onStartedLeading: async (signal) => {
        leading = true;
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
        leading = false;
      },
      onStoppedLeading: () => (stopped = true),
    });
    await waitFor(() => leading);
    state.hang = true;
    // A request that never answers must not keep it leading past the deadline: others take the
    // Lease once it expires (1 s here), and two leaders would then work at once.
    await waitFor(() => stopped, { timeoutMs: 5000 });
    expect(leading).toBe(false);
    expect(elector.isLeader()).toBe(false);
    await done;
    expect(state.givenUp).toBeGreaterThan(0);
    expect(state.open()).toBe(0);
  });

  it('stops when told even with its Lease requests unanswered (the release is given up)', async () => {
    const fake = new FakeApiClient();
    const { client, state } = hangingLeases(fake);
    const elector = new LeaderElector(client, { ...opts, identity: 'b', renewDeadlineSeconds: 60, leaseDurationSeconds: 90 });
    const ac = new AbortController();
    let leading = false;
    const done = elector.run(ac.signal, {
      onStartedLeading: async (signal) => {
        leading = true;
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      },
    });
    await waitFor(() => leading);
    state.hang = true;
    await waitFor(() => state.open() > 0, { timeoutMs: 5000 });
    ac.abort();
    // The renewal in flight is aborted at once; the release waits RELEASE_TIMEOUT_MS at most.
    await done;
    expect(state.open()).toBe(0);
    expect(fake.peek<Lease>('leases', 'kube-system', 'lock')?.spec?.holderIdentity).toBe('b');
  });

  it('steps down when another holder took the lease', async () => {
    const fake = new FakeApiClient();
    const a = candidate(fake, 'a');
    await waitFor(() => a.state.leading);
    const leases = fake.resource<Lease>('leases');
    const l = await leases.get('kube-system', 'lock');
    l.spec = { ...l.spec, holderIdentity: 'intruder' };
    await leases.update(l);
    await a.done;
    expect(a.state.stopped).toBe(true);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.elector.getLeader()).toBe('intruder');
  });
});

describe('runWithLeaderElection', () => {
  it('resolves on shutdown, hands the Lease back and reports when leading stopped', async () => {
    const fake = new FakeApiClient();
    const ac = new AbortController();
    let leading = false;
    let stopped = 0;
    const done = runWithLeaderElection(fake, { ...opts, identity: 'a', onStoppedLeading: () => stopped++ }, ac.signal, async (signal) => {
      leading = true;
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    });
    await waitFor(() => leading);
    ac.abort();
    await expect(done).resolves.toBeUndefined();
    expect(stopped).toBe(1);
    expect(fake.peek<Lease>('leases', 'kube-system', 'lock')?.spec?.holderIdentity).toBeUndefined();
  });

  it("rejects with the leader's error and releases the Lease", async () => {
    const fake = new FakeApiClient();
    const done = runWithLeaderElection(fake, { ...opts, identity: 'a' }, new AbortController().signal, async () => {
      throw new Error('work failed');
    });
    await expect(done).rejects.toThrow('work failed');
    expect(fake.peek<Lease>('leases', 'kube-system', 'lock')?.spec?.holderIdentity).toBeUndefined();
  });

  it('rejects when another holder takes the Lease', async () => {
    const fake = new FakeApiClient();
    let leading = false;
    const done = runWithLeaderElection(fake, { ...opts, identity: 'a' }, new AbortController().signal, async (signal) => {
      leading = true;
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    });
    await waitFor(() => leading);
    const leases = fake.resource<Lease>('leases');
    const l = await leases.get('kube-system', 'lock');
    l.spec = { ...l.spec, holderIdentity: 'intruder' };
    await leases.update(l);
    await expect(done).rejects.toThrow('lost leadership of kube-system/lock');
  });
});
