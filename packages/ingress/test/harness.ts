/**
 * Shared set-up of the ingress integration tests: three worker hosts
 * (createHosts: a network namespace and a dockerd each, pod ranges routed
 * from the root namespace), the control plane and agents (startCluster), and
 * a `flotilla ingress` process in the root namespace on free high ports.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployment, Ingress, IngressClass, Pod, Service } from '@flotilla/api';
import { flotillaBin, freePort, startCluster, waitFor, writeKubeconfig, type TestCluster } from '@flotilla/e2e';
import { superviseProcess, type SupervisedProcess } from '../../e2e/src/child-process.js';
import { createHosts, type HostCluster } from '../../e2e/src/hosts.js';

/** A running test environment. */
export interface IngressEnv {
  hosts: HostCluster;
  cluster: TestCluster;
  ingress: SupervisedProcess;
  /** The ingress's HTTP and HTTPS ports on 127.0.0.1. */
  port: number;
  httpsPort: number;
  metricsPort: number;
  ns: string;
  stop(): Promise<void>;
}

/** Starts hosts, cluster and the ingress; on failure everything started is stopped. */
export async function startIngressEnv(extraArgs: string[] = []): Promise<IngressEnv> {
  const hosts = await createHosts(3, { prefix: 'ing' });
  let cluster: TestCluster | undefined;
  let ingress: SupervisedProcess | undefined;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-ingress-'));
  const stop = async () => {
    await ingress?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    await hosts.delete().catch((err) => console.error(`deleting hosts ${hosts.name}: ${(err as Error).message}`));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The agents run inside their hosts' namespaces and reach the apiserver on the hosts' bridge;
    // node IPAM hands out pod ranges from the hosts' cluster CIDR, routed from the root namespace.
    cluster = await startCluster({
      apiserver: { bindAddress: hosts.gateway },
      clusterCIDR: hosts.podCIDR,
      nodes: hosts.hosts.map((h, i) => ({ name: `node-${i + 1}`, docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } })),
      agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
    });
    const ns = `ing-${randomBytes(3).toString('hex')}`;
    await cluster.client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const kubeconfig = join(dir, 'ingress.kubeconfig');
    await writeKubeconfig(kubeconfig, { server: cluster.api.url, caPem: cluster.api.caPem, token: cluster.api.adminToken, user: 'ingress' });
    const port = await freePort();
    const httpsPort = await freePort();
    const metricsPort = await freePort();
    ingress = superviseProcess({
      name: 'ingress',
      readyMessage: 'flotilla ingress to serve /healthz',
      readyTimeout: 60_000,
      stopGraceMs: 5_000,
      incarnation: async () => ({
        args: [flotillaBin(), 'ingress', '--kubeconfig', kubeconfig, '--http-port', String(port), '--https-port', String(httpsPort), '--bind-address', '127.0.0.1',
          '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--publish-address', '127.0.0.1', ...extraArgs],
        command: `flotilla ingress --http-port ${port}`,
        ready: async () => (await get(metricsPort, 'x', '/healthz').catch(() => undefined))?.status === 200,
      }),
    });
    await ingress.launch();
    return { hosts, cluster, ingress, port, httpsPort, metricsPort, ns, stop };
  } catch (err) {
    if (cluster) console.error(cluster.dumpLogs());
    if (ingress) console.error(ingress.logs().slice(-4000));
    await stop();
    throw err;
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request to 127.0.0.1:port with a Host header. */
export function get(port: number, host: string, path: string, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** One HTTPS request with SNI `host`: status, body and the certificate's subject CN. */
export function getTls(port: number, host: string, path: string): Promise<{ status: number; body: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: host, headers: { host }, rejectUnauthorized: false, agent: false, timeout: 5_000 }, (res) => {
      const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, cn }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The pod name an echo pod answered with. */
export const podOf = (body: string): string => (JSON.parse(body) as { pod: string }).pod;

/**
 * Runs `concurrency` loops of requests until stopped; every non-2xx answer
 * or error is a failure, with what it was.
 */
export function load(port: number, targets: Array<{ host: string; path: string }>, concurrency = 4) {
  let running = true;
  const failures: string[] = [];
  let ok = 0;
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    let n = i;
    while (running) {
      const t = targets[n++ % targets.length]!;
      try {
        const r = await get(port, t.host, t.path);
        if (r.status >= 200 && r.status < 300) ok++;
        else failures.push(`${t.host}${t.path}: ${r.status} ${r.body.trim()}`);
      } catch (err) {
        failures.push(`${t.host}${t.path}: ${(err as Error).message}`);
      }
    }
  });
  return {
    failures,
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** An echo Deployment: POD_NAME in the answer, readiness on /healthz, small requests so 10+ pods fit. */
export function echoDeployment(ns: string, name: string, replicas: number, message = 'v1'): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'web',
            image: 'flotilla/echo:1',
            ports: [{ name: 'http', containerPort: 8080 }],
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'MESSAGE', value: message }],
            readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 3 },
            resources: { requests: { cpu: '10m', memory: '8Mi' } },
          }],
        },
      },
    },
  } as Deployment;
}

/** A ClusterIP Service on port 80 (named `web`) to the pods' 8080 (named `http`). */
export function echoService(ns: string, name: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
  } as Service;
}

/** The IngressClass `flotilla` (controller flotilla.dev/ingress) and `other` (another controller). */
export const classes: IngressClass[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'flotilla' }, spec: { controller: 'flotilla.dev/ingress' } },
  { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'other' }, spec: { controller: 'example.com/other' } },
];

/** Creates a Deployment + Service and waits until `replicas` pods are ready. */
export async function deployEcho(env: IngressEnv, name: string, replicas: number): Promise<Pod[]> {
  const c = env.cluster.client;
  await c.resource<Deployment>('deployments').create(echoDeployment(env.ns, name, replicas));
  await c.resource<Service>('services').create(echoService(env.ns, name));
  return readyPods(env, name, replicas);
}

/** Waits for exactly `count` ready, not-deleted pods of app=name. */
export async function readyPods(env: IngressEnv, name: string, count: number, timeout = 90_000): Promise<Pod[]> {
  return waitFor(
    async () => {
      const pods = (await env.cluster.client.resource<Pod>('pods').list(env.ns, { labelSelector: `app=${name}` })).items.filter(
        (p) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return pods.length === count ? pods : undefined;
    },
    { timeout, interval: 250, message: `${count} ready pods of ${env.ns}/${name}` },
  );
}

/** An Ingress of class `flotilla` (or `className`) with rules. */
export function ingress(ns: string, name: string, spec: Ingress['spec'], className = 'flotilla'): Ingress {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: ns }, spec: { ingressClassName: className, ...spec } };
}

/** A Prefix (or other pathType) path to a Service port. */
export const route = (path: string, service: string, port: { number?: number; name?: string } = { number: 80 }, pathType: 'Prefix' | 'Exact' | 'ImplementationSpecific' = 'Prefix') => ({
  path,
  pathType,
  backend: { service: { name: service, port } },
});
