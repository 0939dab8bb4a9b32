import { randomBytes } from 'node:crypto';
import { getCondition, isReason, type Lease, type Node, type Pod } from '@flotilla/api';
import { silentLogger, type ApiClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerManager } from '../src/index.js';
import { startCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;
let client: ApiClient;
const stop = new AbortController();
let running: Promise<void>;
const ns = `nl-${randomBytes(3).toString('hex')}`;
const nodeName = `host-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  cluster = await startCluster('nl');
  client = cluster.client();
  await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

afterAll(async () => {
  stop.abort();
  await running?.catch(() => undefined);
  await cluster?.stop();
});

describe('node lifecycle on the real apiserver and etcd', () => {
  it('a host that stops renewing its Lease: Unknown + unreachable taint, its pod evicted and, with no agent to finish it, force-deleted', async () => {
    const now = () => new Date().toISOString();
    await client.resource<Node>('nodes').create({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName },
      spec: {},
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now().replace(/\.\d+Z$/, 'Z') }], allocatable: { cpu: '2', memory: '2Gi', pods: '110' } },
    });
    // A second node that stays healthy (its Lease lasts an hour): with every node unready the controller would
    // assume its own view is broken (master disruption) and evict nothing, as Kubernetes does.
    const healthy = `${nodeName}-ok`;
    await client.resource<Node>('nodes').create({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: healthy },
      spec: {},
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now().replace(/\.\d+Z$/, 'Z') }], allocatable: { cpu: '2', memory: '2Gi', pods: '110' } },
    });
    await client.resource<Lease>('leases').create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: healthy, namespace: 'kube-node-lease' }, spec: { holderIdentity: healthy, leaseDurationSeconds: 3600, renewTime: now().replace('Z', '000Z') } });
    // A Lease is never judged expired before its own duration: 2 s, like the grace here.
    await client.resource<Lease>('leases').create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: nodeName, namespace: 'kube-node-lease' }, spec: { holderIdentity: nodeName, leaseDurationSeconds: 2, renewTime: now().replace('Z', '000Z') } });
    await client.resource<Pod>('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'lost', namespace: ns }, spec: { containers: [{ name: 'c', image: 'flotilla/busybox:latest' }], terminationGracePeriodSeconds: 1 } });
    await client.bind(ns, 'lost', nodeName);

    const manager = new ControllerManager({ client: cluster.client(), controllers: ['node-lifecycle'], logger: silentLogger, nodeMonitorGracePeriodMs: 2000, defaultUnreachableTolerationSeconds: 1 });
    running = manager.run(stop.signal);
    const t0 = Date.now();
    const node = () => client.resource<Node>('nodes').get(undefined, nodeName);
    await waitFor(async () => getCondition((await node()).status?.conditions, 'Ready')?.status === 'Unknown', { what: 'Ready=Unknown', timeoutMs: 10_000, intervalMs: 50 });
    const tUnknown = Date.now() - t0;
    const n = await node();
    expect(getCondition(n.status?.conditions, 'Ready')).toMatchObject({ reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' });
    await waitFor(async () => (await node()).spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute'), { what: 'unreachable taint', timeoutMs: 5000, intervalMs: 50 });
    await waitFor(
      async () => {
        try {
          await client.resource('pods').get(ns, 'lost');
          return false;
        } catch (err) {
          return isReason(err, 'NotFound');
        }
      },
      { what: 'pod evicted and force-deleted', timeoutMs: 10_000, intervalMs: 50 },
    );
    const tGone = Date.now() - t0;
    expect(tUnknown).toBeGreaterThanOrEqual(1900);
    const events = (await client.resource('events').list(undefined)).items.map((e) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['NodeNotReady', 'TaintManagerEviction']));
    console.log(`node Unknown after ${tUnknown} ms of silence (grace 2 s); pod gone after ${tGone} ms (toleration 1 s + pod grace 1 s)`);

    // The host comes back: its taints go, the Ready condition is left to the agent.
    const l = await client.resource<Lease>('leases').get('kube-node-lease', nodeName);
    await client.resource<Lease>('leases').update({ ...l, spec: { ...l.spec, renewTime: now().replace('Z', '000Z') } });
    await waitFor(async () => !(await node()).spec?.taints?.length, { what: 'taints removed', timeoutMs: 5000, intervalMs: 50 });
    expect(getCondition((await node()).status?.conditions, 'Ready')?.status).toBe('Unknown');
  });
});
