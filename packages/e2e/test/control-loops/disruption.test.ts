/**
 * PodDisruptionBudgets and the eviction subresource end to end: the real
 * processes (apiserver, scheduler, controller-manager with its disruption
 * controller, two hollow nodes) and the real `kubectl drain`. A budget of
 * `minAvailable: 2` over a 3-replica Deployment lets drain evict one pod
 * at a time and wait (429s) until the replacement is Ready; an eviction
 * that would break a budget gets 429 with a DisruptionBudget cause.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod, PodDisruptionBudget } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { apiRequest } from '../../src/https.js';
import { runKubectl } from '../../src/kubectl.js';
import { waitFor } from '../../src/wait-for.js';
import { activePods, createNamespace, deployment, isReady, waitForRollout } from './helpers.js';

let cluster: TestCluster | undefined;
let ns = '';
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-drain-'));
  cluster = await startCluster({ nodes: ['node-1', 'node-2'] });
  ns = await createNamespace(cluster.client, 'drain');
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

const pdbs = () => cluster!.client.resource<PodDisruptionBudget>('poddisruptionbudgets');
const budget = (name: string, minAvailable: number | string): PodDisruptionBudget => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name, namespace: ns },
  spec: { minAvailable, selector: { matchLabels: { app: 'web' } } },
});
const evict = (pod: string) =>
  apiRequest(cluster!.api.endpoint(), 'POST', `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ns } });

describe('PodDisruptionBudget and eviction', () => {
  it('status follows the pods; an eviction that would break the budget gets 429; bad budgets get 422', async () => {
    const c = cluster!;
    await c.client.resource('deployments').create(deployment(ns, 'web', { replicas: 3 }));
    await waitForRollout(c.client, ns, 'web', 60_000);
    await pdbs().create(budget('all', 3));
    const st = await waitFor(async () => {
      const p = await pdbs().get(ns, 'all');
      return p.status?.currentHealthy === 3 && p.status.observedGeneration === p.metadata.generation ? p.status : undefined;
    }, { timeout: 20_000, message: 'the budget status' });
    expect(st).toMatchObject({ disruptionsAllowed: 0, currentHealthy: 3, desiredHealthy: 3, expectedPods: 3 });
    const [victim] = await activePods(c.client, ns, 'app=web');
    const refused = await evict(victim!.metadata.name!);
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', details: { causes: [{ reason: 'DisruptionBudget' }] } });
    expect((await c.client.resource<Pod>('pods').get(ns, victim!.metadata.name!)).metadata.deletionTimestamp).toBeUndefined();

    const bad = await apiRequest(c.api.endpoint(), 'POST', `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, { ...budget('bad', 1), spec: { minAvailable: 1, maxUnavailable: '120%' } });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('minAvailable and maxUnavailable cannot be both set');
    await pdbs().delete(ns, 'all');
  });

  it('kubectl drain honours minAvailable 2 on 3 replicas: one eviction at a time, each after the previous replacement is Ready', async () => {
    const c = cluster!;
    await pdbs().create(budget('web', 2));
    await waitFor(async () => ((await pdbs().get(ns, 'web')).status?.disruptionsAllowed === 1 ? true : undefined), { timeout: 20_000, message: 'one disruption allowed' });
    // Drain the node holding the most replicas (the scheduler spreads 3 over 2 nodes: 2 + 1).
    const pods = await activePods(c.client, ns, 'app=web');
    const perNode = new Map<string, number>();
    for (const p of pods) perNode.set(p.spec!.nodeName!, (perNode.get(p.spec!.nodeName!) ?? 0) + 1);
    const target = [...perNode.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    expect(perNode.get(target)).toBeGreaterThanOrEqual(2);

    // Watch how many replicas are Ready throughout the drain.
    let minReady = 3;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const ready = (await activePods(c.client, ns, 'app=web')).filter(isReady).length;
        minReady = Math.min(minReady, ready);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await runKubectl(c.api.kubeconfigPath, ['drain', target, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=120s'], { cacheDir: join(dir, 'cache'), timeout: 150_000 });
    watching = false;
    await watcher;
    expect(r.stderr + r.stdout).toContain(`node/${target} drained`);
    expect(r.code).toBe(0);
    // kubectl evicted (not deleted) and had to wait for the budget at least once.
    expect(r.stdout + r.stderr).toMatch(/evicting pod/);
    expect(r.stderr).toContain("Cannot evict pod as it would violate the pod's disruption budget.");
    expect(minReady).toBeGreaterThanOrEqual(2);
    const after = await waitFor(async () => {
      const now = await activePods(c.client, ns, 'app=web');
      return now.length === 3 && now.every(isReady) ? now : undefined;
    }, { timeout: 30_000, message: '3 Ready replicas after the drain' });
    expect(after.every((p) => p.spec!.nodeName !== target)).toBe(true);
  }, 180_000);
});
