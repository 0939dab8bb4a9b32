import type { Event, Node, Pod } from '@flotilla/api';
import { EventRecorder, Informer } from '@flotilla/client';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { FakeRouteTable } from '@flotilla/network/testing';
import { createLogger, Registry } from '@flotilla/observability';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../agent.js';
import { FakeRuntime } from '../runtime/fake-runtime.js';
import type { PodNetworkInfo } from '../runtime/types.js';
import { PodNetworkManager } from './pod-network.js';
import { testStateDir } from '../testing/state-dir.js';

const stateDir = testStateDir();

const log = createLogger('pod-network-test', { level: 'silent' });
const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort();
});

function node(name: string, podCIDR?: string, ip?: string): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
    status: ip ? { addresses: [{ type: 'InternalIP', address: ip }] } : {},
  };
}

/** A runtime that records ensurePodNetwork calls (and fails while `fail` is set). */
class NetRuntime extends FakeRuntime {
  nets: string[] = [];
  fail: string | undefined;
  async ensurePodNetwork(podCIDR: string): Promise<PodNetworkInfo> {
    if (this.fail) throw new Error(this.fail);
    this.nets.push(podCIDR);
    return { name: 'flotilla', bridge: 'flotilla0', subnet: podCIDR, gateway: podCIDR.replace(/0\/\d+$/, '1'), created: this.nets.length === 1 };
  }
}

function manager(client: FakeApiClient, runtime: NetRuntime) {
  const nodes = new Informer<Node>(client, { apiVersion: 'v1', kind: 'Node' });
  const routes = new FakeRouteTable();
  const bridges: string[] = [];
  let readyCalls = 0;
  const registry = new Registry();
  const m = new PodNetworkManager({
    nodeName: 'n1',
    runtime,
    nodes,
    log,
    recorder: new EventRecorder(client, { component: 'kubelet', host: 'n1' }),
    registry,
    routes,
    forwarding: async (b) => bridges.push(b),
    onReady: () => readyCalls++,
  });
  const ac = new AbortController();
  stops.push(ac);
  nodes.start(ac.signal);
  void m.run(ac.signal);
  return { m, routes, bridges, registry, ready: () => readyCalls };
}

describe('PodNetworkManager', () => {
  it('waits for the podCIDR, then makes the network, allows forwarding into its bridge, routes the other nodes, and says so once', async () => {
    const client = new FakeApiClient({ objects: [node('n1', undefined, '10.250.0.11'), node('n2', '10.244.1.0/24', '10.250.0.12')] });
    const runtime = new NetRuntime();
    const { m, routes, bridges, registry, ready } = manager(client, runtime);
    await waitFor(() => routes.routes.get('10.244.1.0/24') === '10.250.0.12', { what: 'route to n2' });
    expect(m.notReadyReason()).toMatch(/no podCIDR yet/);
    expect(runtime.nets).toEqual([]);

    await client.resource<Node>('nodes').update(node('n1', '10.244.0.0/24', '10.250.0.11'));
    await waitFor(() => m.notReadyReason() === undefined, { what: 'network ready' });
    expect(runtime.nets).toEqual(['10.244.0.0/24']);
    expect(bridges).toEqual(['flotilla0']);
    expect(ready()).toBe(1);
    expect([...routes.routes.keys()]).toEqual(['10.244.1.0/24']); // never a route to our own range
    expect(registry.render()).toMatch(/flotilla_agent_pod_network_ready 1/);
  });

  it('a network the runtime cannot make keeps pods waiting, with the reason in an Event', async () => {
    const client = new FakeApiClient({ objects: [node('n1', '10.244.0.0/24', '10.250.0.11')] });
    const runtime = new NetRuntime();
    runtime.fail = 'Pool overlaps with other one on this address space';
    const { m } = manager(client, runtime);
    await waitFor(() => /Pool overlaps/.test(m.notReadyReason() ?? ''), { what: 'the failure as the reason' });
    await waitFor(() => client.peekAll<Event>('events').some((e) => e.reason === 'FailedPodNetwork' && /Pool overlaps/.test(e.message ?? '')), { what: 'FailedPodNetwork event' });
    runtime.fail = undefined;
    await waitFor(() => m.notReadyReason() === undefined, { what: 'ready after the retry', timeoutMs: 10_000 });
  });
});

describe('Agent with the pod network', () => {
  it('holds a pod Pending (NetworkNotReady) until its Node has a range, then runs it', async () => {
    const client = new FakeApiClient();
    const agent = new Agent({
      config: { nodeName: 'n1', stateDir, nodeIP: '192.0.2.10', logger: log, podNetwork: true, relistIntervalMs: 200, heartbeatIntervalMs: 100 },
      client,
      runtime: new FakeRuntime(),
      hostRoutes: new FakeRouteTable(),
    });
    const ac = new AbortController();
    stops.push(ac);
    void agent.run(ac.signal);
    await waitFor(() => client.peek<Node>('nodes', undefined, 'n1'), { what: 'node registered' });
    await client.resource<Pod>('pods').create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'flotilla/busybox:1' }] },
    });
    const waiting = await waitFor(() => {
      const p = client.peek<Pod>('pods', 'default', 'web');
      return p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'NetworkNotReady' ? p : undefined;
    }, { what: 'pod waiting for the network' });
    expect(waiting.status?.phase).toBe('Pending');
    await waitFor(() => client.peekAll<Event>('events').some((e) => e.reason === 'NetworkNotReady'), { what: 'NetworkNotReady event' });

    const n = client.peek<Node>('nodes', undefined, 'n1')!;
    await client.resource<Node>('nodes').update({ ...n, spec: { ...n.spec, podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] } });
    await waitFor(() => client.peek<Pod>('pods', 'default', 'web')?.status?.phase === 'Running', { what: 'pod Running once the range exists', timeoutMs: 10_000 });
  });
});
