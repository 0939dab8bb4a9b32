import { randomBytes } from 'node:crypto';
import type { Event, Lease, Node } from '@flotilla/api';
import { silentLogger, type ApiClient } from '@flotilla/client';
import { waitFor } from '@flotilla/client/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerManager, POD_CIDR_CLAIM_LABEL } from '../src/index.js';
import { startCluster, type TestCluster } from './harness.js';

// Two controller managers WITHOUT leader election, both running node-ipam
// over a small range, race on the same nodes against the real apiserver and
// etcd: no range may ever be given to two nodes.
let cluster: TestCluster;
let client: ApiClient;
const stop = new AbortController();
const running: Array<Promise<void>> = [];
const prefix = `ipam-${randomBytes(3).toString('hex')}`;
// 16 ranges of /28 in a /24: room for 16 nodes, not 17.
const clusterCIDR = '10.77.0.0/24';

beforeAll(async () => {
  cluster = await startCluster('ipam');
  client = cluster.client();
  for (let i = 0; i < 2; i++) {
    const m = new ControllerManager({ client: cluster.client(), controllers: ['node-ipam'], logger: silentLogger, clusterCIDR, nodeCIDRMaskSize: 28 });
    running.push(m.run(stop.signal));
  }
});

afterAll(async () => {
  stop.abort();
  await Promise.allSettled(running);
  await cluster?.stop();
});

const nodes = () => client.resource<Node>('nodes');
const mkNode = (name: string, podCIDR?: string): Node => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
});

async function ranges(): Promise<Map<string, string>> {
  const all = (await nodes().list()).items.filter((n) => n.metadata.name!.startsWith(prefix));
  return new Map(all.filter((n) => n.spec?.podCIDR).map((n) => [n.metadata.name!, n.spec!.podCIDR!]));
}

describe('node IPAM on the real apiserver and etcd, two managers racing', () => {
  it('gives 15 nodes created at once 15 different ranges, keeps a fixed one, and reports exhaustion on the 17th', async () => {
    // One node brings its own range (an agent with --pod-cidr): it must be kept and never handed out again.
    await nodes().create(mkNode(`${prefix}-fixed`, '10.77.0.96/28'));
    await Promise.all(Array.from({ length: 15 }, (_, i) => nodes().create(mkNode(`${prefix}-${i}`))));
    const got = await waitFor(async () => {
      const r = await ranges();
      return r.size === 16 ? r : undefined;
    }, { what: '16 nodes with a podCIDR', timeoutMs: 30_000, intervalMs: 100 });
    expect(got.get(`${prefix}-fixed`)).toBe('10.77.0.96/28');
    expect(new Set(got.values()).size).toBe(16);
    for (const [name, cidr] of got) {
      expect(cidr, name).toMatch(/^10\.77\.0\.\d+\/28$/);
      const n = await nodes().get(undefined, name);
      expect(n.spec?.podCIDRs).toEqual([cidr]);
    }
    const claims = (await client.resource<Lease>('leases').list('kube-system', { labelSelector: `${POD_CIDR_CLAIM_LABEL}=true` })).items;
    expect(claims).toHaveLength(16);

    // The 17th node: nothing left.
    await nodes().create(mkNode(`${prefix}-late`));
    await waitFor(async () => {
      const evs = (await client.resource<Event>('events').list('default')).items;
      return evs.some((e) => e.involvedObject?.name === `${prefix}-late` && e.reason === 'CIDRNotAvailable');
    }, { what: 'CIDRNotAvailable event on the 17th node', timeoutMs: 10_000, intervalMs: 100 });
    expect((await nodes().get(undefined, `${prefix}-late`)).spec?.podCIDR).toBeUndefined();

    // Delete one node: its range is released and goes to the waiting node.
    const freed = got.get(`${prefix}-3`)!;
    await nodes().delete(undefined, `${prefix}-3`);
    const late = await waitFor(async () => (await nodes().get(undefined, `${prefix}-late`)).spec?.podCIDR, { what: 'the freed range given to the waiting node', timeoutMs: 15_000, intervalMs: 100 });
    expect(late).toBe(freed);
    const after = await ranges();
    expect(new Set(after.values()).size).toBe(after.size);
  });

  it('reports a node whose own range overlaps another node\'s', async () => {
    const taken = (await ranges()).get(`${prefix}-0`)!;
    await nodes().create(mkNode(`${prefix}-clash`, taken));
    await waitFor(async () => {
      const evs = (await client.resource<Event>('events').list('default')).items;
      return evs.some((e) => e.involvedObject?.name === `${prefix}-clash` && e.reason === 'PodCIDRConflict');
    }, { what: 'PodCIDRConflict event', timeoutMs: 10_000, intervalMs: 100 });
    // The first holder keeps its claim.
    const claims = (await client.resource<Lease>('leases').list('kube-system', { labelSelector: `${POD_CIDR_CLAIM_LABEL}=true` })).items;
    expect(claims.filter((c) => c.metadata.annotations?.['flotilla.io/pod-cidr'] === taken).map((c) => c.spec?.holderIdentity)).toEqual([`${prefix}-0`]);
  });
});
