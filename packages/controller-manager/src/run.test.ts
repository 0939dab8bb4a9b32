import { silentLogger } from '@flotilla/client';
import { FakeApiClient, stopWithRequestsInFlight, unansweredResource, waitFor, type Unanswered } from '@flotilla/client/testing';
import { describe, expect, it } from 'vitest';
import { ControllerManager, resolveControllers } from './controller-manager.js';
import { pod, service } from './fixtures.js';
import { run } from './run.js';

describe('resolveControllers', () => {
  it('reads kube-controller-manager style lists', () => {
    expect(resolveControllers(undefined)).toEqual(['replicaset', 'deployment', 'node-lifecycle', 'endpoints', 'endpointslice', 'endpointslice-mirroring', 'garbage-collector', 'namespace', 'disruption', 'node-ipam', 'service-lb', 'daemonset', 'job', 'cronjob', 'csr-signing', 'tokencleaner']);
    expect(resolveControllers(['*', '-deployment', '-replicaset'])).toEqual(['node-lifecycle', 'endpoints', 'endpointslice', 'endpointslice-mirroring', 'garbage-collector', 'namespace', 'disruption', 'node-ipam', 'service-lb', 'daemonset', 'job', 'cronjob', 'csr-signing', 'tokencleaner']);
    expect(resolveControllers(['endpoints', 'namespace'])).toEqual(['endpoints', 'namespace']);
    expect(() => resolveControllers(['endpoint'])).toThrow(/unknown controller "endpoint"/);
  });

  it('leaves node-ipam out with --allocate-node-cidrs=false', () => {
    const client = new FakeApiClient();
    expect(new ControllerManager({ client, logger: silentLogger, allocateNodeCIDRs: false }).controllers).not.toContain('node-ipam');
    expect(new ControllerManager({ client, logger: silentLogger }).controllers).toContain('node-ipam');
  });
});

describe('run', () => {
  it('runs the chosen controllers and serves /healthz and /metrics with per-controller numbers', async () => {
    const client = new FakeApiClient({ objects: [service('web', { app: 'web' }), pod('a', { ip: '10.0.0.1' })] });
    const ac = new AbortController();
    let port = 0;
    let manager: ControllerManager | undefined;
    const done = run(
      {
        client,
        controllers: ['endpoints', 'garbage-collector'],
        metricsPort: 0,
        logger: silentLogger,
        onListening: (p) => (port = p),
        onStartedLeading: (m) => (manager = m),
      },
      ac.signal,
    );
    await waitFor(() => client.peek('endpoints', 'default', 'web'), { what: 'endpoints written' });
    expect(manager!.controllers).toEqual(['endpoints', 'garbage-collector']);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/controller_reconcile_total\{controller="endpoints",result="success"\} [1-9]/);
    expect(metrics).toMatch(/controller_reconcile_duration_seconds_count\{controller="endpoints"\} [1-9]/);
    expect(metrics).toContain('workqueue_depth{name="garbage-collector"} 0');
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    ac.abort();
    await done;
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('refuses an unknown controller before starting anything', async () => {
    await expect(run({ client: new FakeApiClient(), controllers: ['nope'], metricsPort: -1, logger: silentLogger }, new AbortController().signal)).rejects.toThrow(/unknown controller/);
  });
});

describe('ControllerManager with the app controllers', () => {
  it('wires every selected controller that this build has', async () => {
    const { ControllerManager } = await import('./controller-manager.js');
    const m = new ControllerManager({ client: new FakeApiClient(), controllers: ['replicaset', 'deployment'], logger: silentLogger });
    const ac = new AbortController();
    ac.abort();
    await m.run(ac.signal);
    expect([...m.running.keys()]).toContain('replicaset');
  });
});

describe('ControllerManager stopping', () => {
  it('gives up a controller\'s request that never answers, a second after the stop, instead of waiting on it', async () => {
    const fake = new FakeApiClient({ objects: [service('web', { app: 'web' }), pod('a', { ip: '10.0.0.1' })] });
    // An apiserver that stopped answering, for the Endpoints writes.
    const hung: Unanswered = { calls: 0, givenUp: 0 };
    const client = unansweredResource(fake, 'endpoints', ['create'], hung);
    const m = new ControllerManager({ client, controllers: ['endpoints'], logger: silentLogger });
    // Without the manager's signal on its requests, this never returns.
    await stopWithRequestsInFlight(hung, (signal) => m.run(signal));
    expect(hung.givenUp).toBe(hung.calls);
  });
});
