import { randomBytes } from 'node:crypto';
import type { Endpoints, Lease } from '@flotilla/api';
import { silentLogger, type ApiClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type ControllerManagerConfig } from '../src/index.js';
import { startCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;
let client: ApiClient;
const ns = `le-${randomBytes(3).toString('hex')}`;
const leaseName = `cm-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  cluster = await startCluster('le');
  client = cluster.client();
  await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

afterAll(async () => {
  await cluster?.stop();
});

const pod = (name: string, ip: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image: 'flotilla/busybox:latest' }] },
  status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
});

async function addReadyPod(name: string, ip: string): Promise<void> {
  const created = await client.resource('pods').create(pod(name, ip));
  await client.resource('pods').updateStatus({ ...created, status: pod(name, ip).status });
}

const readyIps = async (svc: string) => {
  try {
    const ep = await client.resource<Endpoints>('endpoints').get(ns, svc);
    return (ep.subsets ?? []).flatMap((s) => s.addresses ?? []).map((a) => a.ip).sort();
  } catch {
    return [];
  }
};

describe('controller-manager leader election', () => {
  it('only the leader acts; on handover the standby takes over within seconds and nothing is duplicated', async () => {
    const started: string[] = [];
    const config = (identity: string): ControllerManagerConfig => ({
      client: cluster.client(),
      controllers: ['endpoints'],
      leaderElect: true,
      identity,
      leaseNamespace: 'kube-system',
      leaseName,
      leaseDurationSeconds: 4,
      renewDeadlineSeconds: 3,
      retryPeriodSeconds: 1,
      metricsPort: -1,
      logger: silentLogger,
      onStartedLeading: () => started.push(identity),
    });
    const a = new AbortController();
    const b = new AbortController();
    const runA = run(config('cm-a'), a.signal);
    const lease = () => client.resource<Lease>('leases').get('kube-system', leaseName);
    await waitFor(async () => (await lease()).spec?.holderIdentity === 'cm-a', { what: 'cm-a leads', timeoutMs: 10_000, intervalMs: 50 });
    const runB = run(config('cm-b'), b.signal);

    await client.resource('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
    await addReadyPod('p1', '10.9.0.1');
    await waitFor(async () => (await readyIps('web')).join() === '10.9.0.1', { what: 'leader wrote endpoints', timeoutMs: 10_000, intervalMs: 50 });
    // A negative claim needs a window: several renew periods with both running, the standby never starts.
    await new Promise((r) => setTimeout(r, 2500));
    expect(started).toEqual(['cm-a']);
    expect((await lease()).spec?.holderIdentity).toBe('cm-a');

    // The leader goes away; the standby must pick up a change made meanwhile.
    const t0 = Date.now();
    a.abort();
    await runA;
    await addReadyPod('p2', '10.9.0.2');
    await waitFor(async () => (await lease()).spec?.holderIdentity === 'cm-b', { what: 'cm-b leads', timeoutMs: 10_000, intervalMs: 50 });
    await waitFor(async () => (await readyIps('web')).join() === '10.9.0.1,10.9.0.2', { what: 'standby updated endpoints', timeoutMs: 10_000, intervalMs: 50 });
    const handoverMs = Date.now() - t0;
    expect(handoverMs).toBeLessThan(5000);
    expect(started).toEqual(['cm-a', 'cm-b']);
    // One Endpoints object, each pod listed once.
    const all = (await client.resource<Endpoints>('endpoints').list(ns)).items;
    expect(all.map((e) => e.metadata.name)).toEqual(['web']);
    expect(all[0]!.subsets?.flatMap((s) => s.addresses ?? []).map((x) => x.targetRef?.name).sort()).toEqual(['p1', 'p2']);
    console.log(`controller-manager handover after leader stop: ${handoverMs} ms`);
    b.abort();
    await runB;
  });

  it('a leader cut off from the apiserver steps down with an error (exit non-zero) and the standby takes over after the lease expires', async () => {
    const name = `${leaseName}-cut`;
    const base = { controllers: ['endpoints'], leaderElect: true, leaseNamespace: 'kube-system', leaseName: name, leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 1, metricsPort: -1, logger: silentLogger };
    const leaderClient = cluster.client();
    const a = new AbortController();
    const b = new AbortController();
    const runA = run({ ...base, client: leaderClient, identity: 'cut-a' }, a.signal);
    const lease = () => client.resource<Lease>('leases').get('kube-system', name);
    await waitFor(async () => (await lease()).spec?.holderIdentity === 'cut-a', { what: 'cut-a leads', timeoutMs: 10_000, intervalMs: 50 });
    const runB = run({ ...base, client: cluster.client(), identity: 'cut-b' }, b.signal);
    const t0 = Date.now();
    // Like a network partition: every request of the leader now fails, the Lease is not released.
    await leaderClient.close();
    await expect(runA).rejects.toThrow(/lost leadership/);
    await waitFor(async () => (await lease()).spec?.holderIdentity === 'cut-b', { what: 'cut-b leads', timeoutMs: 15_000, intervalMs: 50 });
    const takeoverMs = Date.now() - t0;
    expect(takeoverMs).toBeLessThan(3000 + 2000 + 1500);
    console.log(`controller-manager takeover after leader cut off: ${takeoverMs} ms`);
    b.abort();
    await runB;
  });
});
