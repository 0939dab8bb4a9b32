/**
 * A lost host, ten times, on real hosts (createHosts: a network namespace
 * and a dockerd each, real agents, real containers): its pods must run
 * elsewhere, and when the host comes back nothing may be left twice.
 * Trials alternate a power cut (every process of the host SIGKILLed) and a
 * network cut (its veth down); see `runHostLossTrials` in @flotilla/e2e.
 *
 * Each trial prints when each step of the failover chain was first seen
 * (the loss itself, node Unknown, NoExecute taint, lost pods marked for
 * deletion, replacements created, bound, Running, Ready) and the file prints
 * p50/p99 of the total. The issue's target (≤ 10 s, p99) is a figure of a
 * shared, loaded machine, so it is reported here and checked by
 * `scripts/bench.sh failover`; this test asserts what must always hold:
 * every lost pod replaced within a generous deadline, nothing left twice.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { FAILOVER_STEPS } from '../../src/failover-timeline.js';
import { quantile, runHostLossTrials, type HostLossTrial } from '../../src/host-loss.js';
import { createHosts, removePodContainers, type Host, type HostCluster } from '../../src/hosts.js';
import { createNamespace, deployment, waitForRollout } from './helpers.js';
import type { Deployment } from '@flotilla/api';

const TRIALS = Number(process.env.FLOTILLA_HOST_LOSS_TRIALS ?? 10);
const REPLICAS = 4;

let hostCluster: HostCluster | undefined;
let cluster: TestCluster | undefined;
let ns = '';
const results: HostLossTrial[] = [];

const nodeOf = (h: Host) => `node-${h.index}`;

beforeAll(async () => {
  hostCluster = await createHosts(3, { prefix: 'hl' });
  cluster = await startCluster({
    apiserver: { bindAddress: hostCluster.gateway },
    clusterCIDR: hostCluster.podCIDR,
    nodes: hostCluster.hosts.map((h) => ({ name: nodeOf(h), docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } })),
    agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
  });
  ns = await createNamespace(cluster.client, 'host-loss');
}, 240_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  if (results.length) {
    console.info('host-loss trials (ms after t0, just before hosts.sh was asked; "lost" is the loss itself: the agent gone or the link down):');
    for (const r of results) console.info(`  trial ${r.trial} ${r.mode.padEnd(9)} ${r.node} (${r.lost} pods) ${JSON.stringify(r.steps)}`);
    const totals = results.map((r) => r.totalMs);
    const fromLoss = results.map((r) => r.fromLossMs);
    const mean = (k: (typeof FAILOVER_STEPS)[number]) => Math.round(results.reduce((s, r) => s + (r.steps[k] ?? 0), 0) / results.length);
    console.info(
      `host-loss: pods Running elsewhere over ${results.length} trials: from t0 p50 ${quantile(totals, 0.5)} ms, p99 ${quantile(totals, 0.99)} ms; ` +
        `from the loss p50 ${quantile(fromLoss, 0.5)} ms, p99 ${quantile(fromLoss, 0.99)} ms (target ≤ 10000); mean step times: ${FAILOVER_STEPS.map((k) => `${k} ${mean(k)}`).join(', ')}`,
    );
    console.info(`HOST_LOSS_JSON ${JSON.stringify({ p50: quantile(totals, 0.5), p99: quantile(totals, 0.99), trials: results })}`);
  }
  await cluster?.stop();
  await removePodContainers(hostCluster);
  await hostCluster?.delete().catch((err) => console.error(`hosts.sh delete: ${(err as Error).message}`));
}, 180_000);

describe('a lost host', () => {
  it(`${TRIALS} trials (power cut / network cut alternating): its pods Running elsewhere, no duplicates once it is back`, async () => {
    const c = cluster!;
    await c.client.resource<Deployment>('deployments').create(deployment(ns, 'web', { replicas: REPLICAS }));
    await waitForRollout(c.client, ns, 'web', 120_000);
    // Throws when a trial's pods are not replaced within 60 s or anything is left twice once the host is back.
    await runHostLossTrials({
      cluster: c,
      hosts: hostCluster!,
      namespace: ns,
      deployment: 'web',
      trials: TRIALS,
      nodeOf,
      onTrial: (r) => {
        results.push(r);
        console.info(`trial ${r.trial} ${r.mode} ${r.node} (${r.lost} pods): ${JSON.stringify(r.steps)}`);
      },
    });
    expect(results).toHaveLength(TRIALS);
    for (const r of results) expect(r.steps.evicted, `trial ${r.trial}: the lost pods were evicted`).toBeDefined();
    // No false positive: while one host was lost, the busy survivors were never declared lost.
    for (const r of results) expect(r.othersUnknown, `trial ${r.trial}: nodes other than ${r.node} declared Unknown`).toEqual([]);
  }, 1_200_000);
});
