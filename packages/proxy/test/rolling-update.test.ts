/**
 * No request lost in a rolling update. A client sends requests through a
 * ClusterIP at a fixed concurrency (from the root namespace and from a pod)
 * while a Deployment of 6 replicas of flotilla/httpd rolls out with
 * maxUnavailable 0 and no preStop hook. The backend behaves as a well-written
 * server does: on SIGTERM it closes its listener at once and lets the
 * requests it already accepted finish — so any new connection still sent to a
 * pod after its SIGTERM is refused and counted. The agents hold SIGTERM until
 * every proxy reports that it applied the EndpointSlice change that took the
 * pod out: zero failed requests. (A backend that also kills its in-flight
 * requests on SIGTERM, like the shell-per-request flotilla/echo, loses those
 * whatever the proxies do; that is the server's part, not the network's.)
 *
 * Then a replica's container is killed under load: requests fail until the
 * endpoint is gone from every host (counted and reported), none after.
 * For comparison, the same rolling update with proxies that do not report
 * (so agents signal at once, as Kubernetes does): its failures are
 * reported, not asserted. Both run with kube-proxy's default
 * --min-sync-period of 1 s, which widens the race the drain closes.
 */
import { randomBytes } from 'node:crypto';
import { appliedRevision, leaseFresh, PROXY_LEASE_LABEL, SERVICE_NAME_LABEL, type Deployment, type EndpointSlice, type Lease, type Pod, type Service } from '@flotilla/api';
import { waitFor } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, startServiceEnv, type EchoAnswer, type ServiceEnv } from './harness.js';

let env: ServiceEnv;
let ns = '';
let web: Service;
const api = () => env.cluster.client;

function echoDeployment(message: string): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas: 6,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: 'web',
              image: 'flotilla/httpd:1',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'MESSAGE', value: message },
              ],
              readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 3 },
              resources: { requests: { cpu: '10m', memory: '16Mi' } },
            },
          ],
        },
      },
    },
  } as Deployment;
}

/** A load generator from the root namespace: `concurrency` loops of GET until stopped; every failure with its start time. */
function load(url: string, concurrency: number) {
  let stop = false;
  const ok: Array<{ at: number; answer: EchoAnswer }> = [];
  const failed: Array<{ at: number; err: string }> = [];
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const at = Date.now();
      try {
        const r = await httpGet(`${url}env`, 5_000);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        // flotilla/httpd's /env names the replica and its MESSAGE.
        const e = JSON.parse(r.body) as Record<string, string>;
        ok.push({ at, answer: { pod: e.POD_NAME ?? e.HOSTNAME ?? '', message: e.MESSAGE } as EchoAnswer });
      } catch (err) {
        failed.push({ at, err: (err as Error).message });
      }
    }
  });
  return {
    ok,
    failed,
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** Restarts every proxy with `extra` flags (stopping leaves the rules: traffic keeps flowing meanwhile). */
async function restartProxies(extra: string[]): Promise<void> {
  for (const p of env.proxies.values()) {
    await p.kill('SIGTERM');
    p.extraArgs = extra;
    await p.start();
  }
}

const readyWeb = async () => (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items.filter((p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));

beforeAll(async () => {
  env = await startServiceEnv({ hosts: 3, prefix: 'ru' });
  ns = `roll-${randomBytes(3).toString('hex')}`;
  await api().resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await api().resource<Deployment>('deployments').create(echoDeployment('v1'));
  web = await api().resource<Service>('services').create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
  await api().resource<Pod>('pods').create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: ns }, spec: { nodeName: 'node-1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'flotilla/busybox:1', command: ['sleep', '3600'] }] } });
  await waitFor(async () => (await readyWeb()).length === 6, { timeout: 150_000, message: '6 ready replicas' });
  await waitFor(async () => (await httpGet(`http://${web.spec!.clusterIP}/`)).status === 200, { timeout: 30_000, message: 'service answering' });
}, 400_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && env) console.error(`--- logs after "${task.name}" failed\n${env.dumpLogs()}`);
});

afterAll(async () => {
  await env?.stop();
}, 180_000);

describe('no request lost', () => {
  it('a rolling update of 6 replicas, maxUnavailable 0, no preStop hook, under load through the ClusterIP: zero failed requests', async () => {
    // Slow proxies (kube-proxy's default --min-sync-period of 1 s) widen the race the drain closes.
    await restartProxies(['--min-sync-period', '1']);
    const url = `http://${web.spec!.clusterIP}/`;
    const client = (await api().resource<Pod>('pods').get(ns, 'client'));
    const seconds = 75;
    // A second client inside the cluster, on host 1, for the whole rollout.
    const inPod = env.execInPod(client, ['sh', '-c', `end=$(($(date +%s)+${seconds})); n=0; f=0; while [ $(date +%s) -lt $end ]; do if timeout 5 wget -q -O /dev/null ${url}env; then n=$((n+1)); else f=$((f+1)); fi; done; echo "ok=$n failed=$f"`], (seconds + 30) * 1000);
    const gen = load(url, 4);
    await new Promise((r) => setTimeout(r, 2_000));
    const started = Date.now();
    await api().resource<Deployment>('deployments').patch(ns, 'web', { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'MESSAGE', value: 'v2' }] }] } } } }, 'strategic');
    await waitFor(async () => {
      const all = (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items;
      const ready = await readyWeb();
      return all.length === 6 && ready.length === 6 && gen.ok.length >= 20 && gen.ok.slice(-20).every((o) => o.answer.message === 'v2');
    }, { timeout: 60_000 + seconds * 1000, interval: 500, message: 'rollout to v2 finished, old pods gone' });
    const rolloutMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 2_000));
    await gen.stop();
    const pod = await inPod;
    const v1 = gen.ok.filter((o) => o.answer.message === 'v1').length;
    const v2 = gen.ok.filter((o) => o.answer.message === 'v2').length;
    console.info(`rolling update: ${gen.ok.length} requests ok (v1 ${v1}, v2 ${v2}), ${gen.failed.length} failed from the root namespace; in a pod: ${pod.stdout.trim()}; rollout ${rolloutMs} ms`);
    expect(gen.failed, JSON.stringify(gen.failed.slice(0, 5))).toEqual([]);
    expect(v1).toBeGreaterThan(0);
    expect(v2).toBeGreaterThan(0);
    expect(pod.stdout).toMatch(/failed=0$/m);
  }, 300_000);

  it('for comparison: the same rolling update without the proxies’ reports (Kubernetes behaviour) — failures reported', async () => {
    await restartProxies(['--no-report-applied', '--min-sync-period', '1']);
    // Their Leases expire (20 s); then agents have no live proxy to wait for.
    await waitFor(async () => {
      const leases = (await api().resource<Lease>('leases').list('kube-node-lease', { labelSelector: `${PROXY_LEASE_LABEL}=proxy` })).items;
      return leases.every((l) => !leaseFresh(l, Date.now()));
    }, { timeout: 40_000, interval: 1_000, message: 'proxy leases expired' });
    const url = `http://${web.spec!.clusterIP}/`;
    const gen = load(url, 4);
    await new Promise((r) => setTimeout(r, 1_000));
    const current = (await readyWeb())[0]!.metadata.name!;
    const message = `v3-${current}`;
    await api().resource<Deployment>('deployments').patch(ns, 'web', { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'MESSAGE', value: message }] }] } } } }, 'strategic');
    await waitFor(async () => (await readyWeb()).length === 6 && (await api().resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items.length === 6 && gen.ok.length >= 20 && gen.ok.slice(-20).every((o) => o.answer.message === message), { timeout: 150_000, interval: 500, message: 'rollout to v3 finished' });
    await gen.stop();
    console.info(`rolling update WITHOUT the drain: ${gen.failed.length} failed of ${gen.ok.length + gen.failed.length} requests (${JSON.stringify(gen.failed.slice(0, 3))})`);
    await restartProxies([]);
  }, 300_000);

  it('a replica’s container killed under load: failures are counted, and none start after the endpoint is gone from every host', async () => {
    const url = `http://${web.spec!.clusterIP}/`;
    const victim = (await readyWeb())[0]!;
    const ip = victim.status!.podIP!;
    const host = env.hostOf(victim);
    const gen = load(url, 4);
    await new Promise((r) => setTimeout(r, 1_000));
    const ids = (await host.docker(['ps', '-q', '--filter', `label=io.flotilla.pod.uid=${victim.metadata.uid}`, '--filter', 'label=io.flotilla.type=container'])).split('\n').filter(Boolean);
    // The slice revision at which the victim stops being ready, from a watch (the container restarts
    // within seconds, so a poll can miss the window), then the moment every proxy reports it applied.
    const watchAbort = new AbortController();
    const slicesApi = api().resource<EndpointSlice>('endpointslices');
    const startRv = (await slicesApi.list(ns)).metadata?.resourceVersion;
    let notReadyRv = 0;
    const watching = (async () => {
      for await (const ev of slicesApi.watch(ns, { resourceVersion: startRv, signal: watchAbort.signal })) {
        const ep = (ev.object as EndpointSlice).endpoints?.find((e) => e.targetRef?.uid === victim.metadata.uid);
        if (ep && ep.conditions?.ready === false && !notReadyRv) notReadyRv = Number(ev.object.metadata.resourceVersion);
      }
    })().catch(() => undefined);
    const killedAt = Date.now();
    await host.docker(['kill', '--signal', 'KILL', ids[0]!]);
    await waitFor(() => notReadyRv > 0, { timeout: 30_000, interval: 10, message: `${ip} not ready in a slice` });
    await waitFor(async () => {
      const leases = (await api().resource<Lease>('leases').list('kube-node-lease', { labelSelector: `${PROXY_LEASE_LABEL}=proxy` })).items.filter((l) => leaseFresh(l, Date.now()));
      return leases.length === env.proxies.size && leases.every((l) => appliedRevision(l) >= notReadyRv);
    }, { timeout: 30_000, interval: 10, message: `every proxy applied revision ${notReadyRv}` });
    const goneAt = Date.now();
    watchAbort.abort();
    await watching;
    await new Promise((r) => setTimeout(r, 3_000));
    await gen.stop();
    const late = gen.failed.filter((f) => f.at > goneAt);
    console.info(`container killed: ${gen.failed.length} failed requests (of ${gen.ok.length + gen.failed.length}), every proxy applied its removal ${goneAt - killedAt} ms after the kill; failures after that: ${late.length}`);
    expect(late, JSON.stringify(late.slice(0, 5))).toEqual([]);
    // It comes back (restartPolicy Always) and is served again.
    await waitFor(async () => (await api().resource<EndpointSlice>('endpointslices').list(ns, { labelSelector: `${SERVICE_NAME_LABEL}=web` })).items.flatMap((s) => s.endpoints).filter((e) => e.conditions?.ready).length === 6, { timeout: 60_000, message: 'six ready endpoints again' });
  }, 180_000);
});
