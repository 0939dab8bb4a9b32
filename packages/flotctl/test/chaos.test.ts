/**
 * `flotctl chaos` against a real cluster on three hosts (network namespaces,
 * one dockerd each, real agents and proxies): ten container kills in a row
 * through the CLI while a client loops requests through the Service's
 * ClusterIP. Every kill heals (the Deployment back to full availability, the
 * container restarted), the failed requests are counted and reported, they
 * stay a small share, and none fail once the cluster has healed.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Deployment, Pod, Service } from '@flotilla/api';
import { httpGet, repoRoot, run, startServiceEnv, waitFor, type ServiceEnv } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let env: ServiceEnv;
const ns = `chaos-${randomBytes(3).toString('hex')}`;
const api = () => env.cluster.client;

/** Runs the built flotctl against this test's cluster and namespace. */
function flotctl(args: string[]) {
  return run(process.execPath, [join(repoRoot(), 'packages/flotctl/dist/bin/flotctl.js'), '--kubeconfig', env.cluster.api.kubeconfigPath, '-n', ns, ...args], { timeout: 90_000 });
}

const available = async () => {
  const d = await api().resource<Deployment>('deployments').get(ns, 'web');
  return d.status?.availableReplicas === 3 && d.status?.readyReplicas === 3 && d.status?.replicas === 3;
};
const webPods = async () => (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items;
const restartsOf = (pods: Pod[]) => pods.reduce((n, p) => n + (p.status?.containerStatuses?.[0]?.restartCount ?? 0), 0);
const restarts = async () => restartsOf(await webPods());
/**
 * Healed after `want` restarts in all: three pods, each Ready with its current container ready (its
 * readiness probe passed, so it listens), and the Deployment available. The Deployment's status alone
 * is not enough: it lags the pods, and reads 3/3 from before the kill while the restarted container
 * is still starting.
 */
const healed = async (want: number) => {
  const pods = await webPods();
  const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && p.status?.containerStatuses?.[0]?.ready === true;
  return pods.length === 3 && pods.every(ready) && restartsOf(pods) >= want && (await available());
};

beforeAll(async () => {
  env = await startServiceEnv({ hosts: 3, prefix: 'cx' });
  await api().resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await api().resource<Deployment>('deployments').create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{
            name: 'web',
            image: 'flotilla/httpd:1',
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
          }],
        },
      },
    },
  } as Deployment);
  await waitFor(available, { timeout: 150_000, interval: 500, message: 'web 3/3 available' });
}, 400_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && env) console.error(`--- logs after "${task.name}" failed\n${env.dumpLogs()}`);
});

afterAll(async () => {
  await env?.stop();
}, 180_000);

describe('flotctl chaos', () => {
  it('ten container kills in a row under load through the Service: every one heals, the failures are few and stop once healed', async () => {
    const svc = await api().resource<Service>('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } });
    const url = `http://${svc.spec!.clusterIP}/`;
    await waitFor(async () => (await httpGet(url)).status === 200, { timeout: 30_000, message: 'the Service answering' });

    let stop = false;
    let ok = 0;
    const failed: { at: number; ms: number; why: string }[] = [];
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const at = Date.now();
        const r = await httpGet(url, 3_000).catch((err: Error) => ({ status: 0, body: err.message }));
        if (r.status === 200) ok++;
        else failed.push({ at, ms: Date.now() - at, why: r.status ? `HTTP ${r.status}` : r.body });
      }
    });

    const healTimes: number[] = [];
    const restartsBefore = await restarts();
    for (let i = 0; i < 10; i++) {
      const killed = Date.now();
      const r = await flotctl(['chaos', 'kill-container', '-l', 'app=web', '--hosts-name', env.hosts.name, '--state-dir', join(repoRoot(), '.flotilla')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^kill-container: .+\/web-.+\/web on h\d/);
      // Healed: the restart is seen and every replica is ready and available again.
      await waitFor(() => healed(restartsBefore + i + 1), { timeout: 90_000, interval: 250, message: `kill ${i + 1} healed` });
      healTimes.push(Date.now() - killed);
    }
    const healedAt = Date.now();
    // Once healed, nothing fails: a further stretch of load without a failure.
    await new Promise((r) => setTimeout(r, 5_000));
    stop = true;
    await Promise.all(loops);

    const total = ok + failed.length;
    console.log(`chaos: 10 container kills, healed in ${healTimes.map((t) => (t / 1000).toFixed(1)).join(', ')} s; ${failed.length} of ${total} requests failed (${((100 * failed.length) / total).toFixed(2)}%)`);
    const late = failed.filter((f) => f.at > healedAt).map((f) => `${new Date(f.at).toISOString()} (+${f.at - healedAt} ms after healed, took ${f.ms} ms): ${f.why}`);
    expect(late).toEqual([]);
    // A killed replica fails the requests already sent to it until every proxy drops it: a small share.
    expect(failed.length / total).toBeLessThan(0.05);
  }, 900_000);
});
