import type { Pod, Service } from '@flotilla/api';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { FakeRuntime } from './runtime/fake-runtime.js';
import { testStateDir } from './testing/state-dir.js';

const stateDir = testStateDir();

const log = createLogger('agent-test', { level: 'silent' });
const running: Array<{ ac: AbortController; done: Promise<void> }> = [];
// Each agent is stopped and waited for: one still stopping wrote into the state directory after it was removed.
afterEach(async () => {
  const stopping = running.splice(0);
  for (const r of stopping) r.ac.abort();
  await Promise.all(stopping.map((r) => r.done.catch(() => undefined)));
});

/** Creates a dnsPolicy Default pod on `node` and waits for the DNS settings its sandbox got. */
async function startDefaultDnsPod(client: FakeApiClient, runtime: FakeRuntime, name: string, node: string) {
  const pod = await client.resource<Pod>('pods').create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName: node, dnsPolicy: 'Default', restartPolicy: 'Always', containers: [{ name: 'app', image: 'flotilla/busybox:1' }] },
  });
  return waitFor(() => runtime.sandboxConfig(pod.metadata.uid!)?.dns, { what: `${name}'s sandbox` });
}

describe('Agent: pods get the cluster DNS and the service variables', () => {
  it('passes resolv.conf settings to the sandbox and service variables to the containers', async () => {
    const client = new FakeApiClient();
    client.seed(
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'kubernetes' }, spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] } } as Service,
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'web' }, spec: { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } as Service,
    );
    const runtime = new FakeRuntime();
    const agent = new Agent({
      config: { nodeName: 'n1', stateDir, nodeIP: '192.0.2.10', logger: log, relistIntervalMs: 200, heartbeatIntervalMs: 100, clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', resolvConf: '' },
      client,
      runtime,
    });
    const ac = new AbortController();
    running.push({ ac, done: agent.run(ac.signal) });
    const pod = await client.resource<Pod>('pods').create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'shop' },
      spec: { nodeName: 'n1', restartPolicy: 'Always', containers: [{ name: 'app', image: 'flotilla/busybox:1', env: [{ name: 'MINE', value: 'x' }] }] },
    });
    const id = await waitFor(() => runtime.all().find((c) => c.type === 'container' && c.podName === 'p')?.id, { what: 'container created' });
    expect(runtime.sandboxConfig(pod.metadata.uid!)?.dns).toEqual({ servers: ['10.96.0.10'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] });
    expect(runtime.envOf(id)).toMatchObject({ KUBERNETES_SERVICE_HOST: '10.96.0.1', WEB_SERVICE_HOST: '10.96.0.20', WEB_SERVICE_PORT_HTTP: '80', WEB_PORT: 'tcp://10.96.0.20:80', MINE: 'x' });
  });

  it('gives a dnsPolicy Default pod the host resolv.conf as it is when the pod starts, read at most once a second', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-resolv-'));
    try {
      const resolvConf = join(dir, 'resolv.conf');
      writeFileSync(resolvConf, 'nameserver 192.0.2.53\nsearch corp.example\n');
      const client = new FakeApiClient();
      const runtime = new FakeRuntime();
      let clock = 1_000_000;
      const agent = new Agent({
        config: { nodeName: 'n1', stateDir, nodeIP: '192.0.2.10', logger: log, relistIntervalMs: 200, heartbeatIntervalMs: 100, clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', resolvConf },
        client,
        runtime,
        now: () => clock,
      });
      const ac = new AbortController();
      running.push({ ac, done: agent.run(ac.signal) });
      const start = (name: string) => startDefaultDnsPod(client, runtime, name, 'n1');
      const old = { servers: ['192.0.2.53'], searches: ['corp.example'], options: [] };
      expect(await start('first')).toEqual(old);
      writeFileSync(resolvConf, 'nameserver 192.0.2.54\n');
      // Half a second after the reading, a sandbox still gets it: a start burst reads the file once.
      clock += 500;
      expect(await start('within-a-second')).toEqual(old);
      // Once the reading is over a second old, the next sandbox sees the file as it is now.
      clock += 600;
      expect(await start('after')).toEqual({ servers: ['192.0.2.54'], searches: [], options: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shares one reading of a resolv.conf among the agents of a process (a hollow-node fleet runs a thousand)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-resolv-'));
    try {
      const resolvConf = join(dir, 'resolv.conf');
      writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
      let clock = 2_000_000;
      const client = new FakeApiClient();
      const runtimes = ['n1', 'n2'].map((nodeName) => {
        const runtime = new FakeRuntime();
        const agent = new Agent({
          config: { nodeName, stateDir, nodeIP: '192.0.2.10', logger: log, relistIntervalMs: 200, heartbeatIntervalMs: 100, clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', resolvConf },
          client,
          runtime,
          now: () => clock,
        });
        const ac = new AbortController();
        running.push({ ac, done: agent.run(ac.signal) });
        return runtime;
      });
      const start = async (name: string, node: 'n1' | 'n2') => (await startDefaultDnsPod(client, runtimes[node === 'n1' ? 0 : 1]!, name, node))?.servers;
      expect(await start('on-n1', 'n1')).toEqual(['192.0.2.53']);
      writeFileSync(resolvConf, 'nameserver 192.0.2.54\n');
      clock += 500;
      // The other agent's first sandbox, within the second: n1's reading, not a read of its own.
      expect(await start('on-n2', 'n2')).toEqual(['192.0.2.53']);
      clock += 600;
      expect(await start('later-on-n2', 'n2')).toEqual(['192.0.2.54']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
