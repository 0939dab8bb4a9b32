/**
 * Services carry traffic, end to end: real Docker engines on worker hosts
 * (network namespaces), the real control plane and agents, a `flotilla
 * proxy` in every host and one in the root namespace. A Deployment of 6
 * echo replicas over 3 hosts behind a NodePort Service is reached through
 * its ClusterIP from a pod and from the root namespace and through every
 * host's NodePort; then hairpin, a not-ready pod, a Service without
 * endpoints, a client port whose SYN left before the Service was
 * programmed, proxies killed and restarted under an open connection, a host
 * whose proxy starts late, and a deleted Service.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SERVICE_NAME_LABEL, type Deployment, type EndpointSlice, type Pod, type Service } from '@flotilla/api';
import { run, runKubectl, waitFor } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chainName } from '../src/rules.js';
import { httpGet, startServiceEnv, type EchoAnswer, type ServiceEnv } from './harness.js';

let env: ServiceEnv;
let ns = '';
let web: Service;
const replicas = new Set<string>();

const api = () => env.cluster.client;
const pods = () => api().resource<Pod>('pods');
const services = () => api().resource<Service>('services');

function echoDeployment(name: string, count: number): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: count,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'web',
              image: 'flotilla/echo:1',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 3 },
              resources: { requests: { cpu: '10m', memory: '16Mi' } },
            },
          ],
        },
      },
    },
  } as Deployment;
}

/** A busybox pod pinned to a node, doing nothing until exec'd into. */
function clientPod(name: string, node: string, command = ['sleep', '3600']): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { role: name } }, spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'flotilla/busybox:1', command }] } };
}

const running = async (name: string) =>
  waitFor(async () => {
    const p = await pods().get(ns, name);
    return p.status?.podIP && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  }, { timeout: 90_000, message: `pod ${name} ready` });

/** `count` GETs of `url` from the root namespace, `concurrency` at a time; which pods answered, and how many requests failed. */
async function spray(url: string, count = 300, concurrency = 6): Promise<{ pods: Map<string, number>; failures: number; errors: string[] }> {
  const seen = new Map<string, number>();
  let failures = 0;
  const errors: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        try {
          const r = await httpGet(url, 5_000);
          const a = JSON.parse(r.body) as EchoAnswer;
          seen.set(a.pod, (seen.get(a.pod) ?? 0) + 1);
        } catch (err) {
          failures += 1;
          if (errors.length < 5) errors.push((err as Error).message);
        }
      }
    }),
  );
  return { pods: seen, failures, errors };
}

/** The nat chains of a host (or of the root namespace, with its prefix). */
/** Opens a TCP connection from a fixed local port: 'connected', 'timeout' or the error code. */
function connectFrom(localPort: number, host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, localPort });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('timeout');
    }, timeoutMs);
    sock.on('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve('connected');
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

async function natChains(where: 'root' | number, prefix = 'KUBE'): Promise<string[]> {
  const out = where === 'root' ? run('iptables-save', ['-t', 'nat']) : env.hosts.hosts[where - 1]!.exec(['iptables-save', '-t', 'nat']);
  return (await out).stdout.split('\n').filter((l) => l.startsWith(`:${prefix}-`)).map((l) => l.slice(1).split(' ')[0]!).sort();
}

beforeAll(async () => {
  env = await startServiceEnv({ hosts: 4, withAgents: 3, prefix: 'sv', dns: true });
  ns = `svc-${randomBytes(3).toString('hex')}`;
  await api().resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await api().resource<Deployment>('deployments').create(echoDeployment('web', 6));
  web = await services().create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: ns },
    spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });
  await pods().create(clientPod('client', 'node-1'));
  // A client with the C library's resolver (busybox's static wget has none that reads the search path).
  await pods().create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'resolver', namespace: ns }, spec: { nodeName: 'node-1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'flotilla/httpd:1' }] } });
  await waitFor(async () => {
    const list = (await pods().list(ns, { labelSelector: 'app=web' })).items;
    const ready = list.filter((p) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
    if (ready.length !== 6) return false;
    ready.forEach((p) => replicas.add(p.metadata.name!));
    return true;
  }, { timeout: 150_000, message: '6 web replicas ready' });
  expect(new Set([...(await pods().list(ns, { labelSelector: 'app=web' })).items.map((p) => p.spec?.nodeName)]).size).toBe(3);
  await running('client');
  await running('resolver');
}, 400_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && env) console.error(`--- logs after "${task.name}" failed\n${env.dumpLogs()}`);
});

afterAll(async () => {
  await env?.stop();
}, 180_000);

describe('Services carry traffic', () => {
  it('service addresses are contained: an unused ClusterIP routes to the local sink in the root namespace and in every host', async () => {
    const unused = env.serviceCIDR.replace(/0\/24$/, '254');
    const root = await run('ip', ['route', 'get', unused]);
    expect(root.stdout).toMatch(/dev ks[0-9a-f]+/);
    // A sink: a local bridge, never the way out (the agent keeps its own sink route too).
    for (const h of env.hosts.hosts) {
      const out = (await h.exec(['ip', 'route', 'get', '10.100.1.1'])).stdout;
      expect(out).not.toMatch(/ via |dev eth0/);
      expect(out).toMatch(/dev \S*sink/);
    }
  }, 300_000);

  it('the EndpointSlices list every ready replica, and the real kubectl describe shows them', async () => {
    const slices = await waitFor(async () => {
      const l = (await api().resource<EndpointSlice>('endpointslices').list(ns, { labelSelector: `${SERVICE_NAME_LABEL}=web` })).items;
      return l.flatMap((s) => s.endpoints).filter((e) => e.conditions?.ready).length === 6 ? l : undefined;
    }, { timeout: 30_000, message: 'six ready endpoints in the slices' });
    expect(slices[0]!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Service', name: 'web' });
    expect(slices[0]!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const out = await runKubectl(env.cluster.api.kubeconfigPath, ['describe', 'svc', 'web', '-n', ns]);
    expect(out.code, out.stderr).toBe(0);
    const line = out.stdout.split('\n').find((l) => l.startsWith('Endpoints:'));
    expect(line).toMatch(/10\.244\.\d+\.\d+:8080/);
  }, 300_000);

  it('clusterIP:port from a pod on host 1: over 300 requests every replica answers', async () => {
    const script = `for i in $(seq 300); do timeout 5 wget -q -O - http://${web.spec!.clusterIP}:80/ || echo FAILED; done`;
    const r = await env.execInPod(await pods().get(ns, 'client'), ['sh', '-c', script], 180_000);
    const answered = new Set(r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as EchoAnswer).pod));
    // busybox wget under `timeout 5` inside a container on a machine at load 40 has been seen to time
    // out once in a run: report failures, tolerate at most 1%.
    const failed = r.stdout.split('\n').filter((l) => l === 'FAILED').length;
    if (failed) console.info(`in-pod requests through the ClusterIP: ${failed} of 300 failed; stderr: ${r.stderr.slice(0, 500)}`);
    expect(failed).toBeLessThanOrEqual(3);
    expect([...answered].sort()).toEqual([...replicas].sort());
  }, 300_000);

  it('by name from a pod on host 1: web.<ns>.svc.cluster.local and the short name web answer through the kube-dns ClusterIP, every replica in turn; a missing name is NXDOMAIN', async () => {
    const resolver = await pods().get(ns, 'resolver');
    // The pod's resolv.conf names the kube-dns ClusterIP, which only the proxies make answer.
    const conf = await env.execInPod(resolver, ['cat', '/etc/resolv.conf']);
    expect(conf.stdout).toContain(`nameserver ${env.clusterDNS}`);
    expect(conf.stdout).toContain(`search ${ns}.svc.cluster.local svc.cluster.local cluster.local`);
    const script = `
      const http = require('node:http');
      const dns = require('node:dns');
      const get = (url) => new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: 5000 }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b.trim())); });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (e) => resolve('FAILED ' + e.code));
      });
      (async () => {
        for (const name of process.argv.slice(1)) for (let i = 0; i < 40; i++) console.log(name + ' ' + (await get('http://' + name + '/')));
        dns.lookup('nothing-here.${ns}.svc.cluster.local', (err) => console.log('missing ' + (err ? err.code : 'resolved')));
      })();`;
    const r = await env.execInPod(resolver, ['/usr/local/bin/node', '-e', script, `web.${ns}.svc.cluster.local`, 'web'], 180_000);
    for (const name of [`web.${ns}.svc.cluster.local`, 'web']) {
      const lines = r.stdout.split('\n').filter((l) => l.startsWith(`${name} `));
      const failed = lines.filter((l) => l.includes(' FAILED'));
      expect(failed, `${name}: ${failed.slice(0, 3).join('; ')} ${r.stderr.slice(0, 300)}`).toEqual([]);
      expect(lines).toHaveLength(40);
      const answered = new Set(lines.map((l) => (JSON.parse(l.slice(name.length + 1)) as EchoAnswer).pod));
      // 40 requests spread over 6 replicas: more than one answers (all six in 300, the test above).
      expect(answered.size).toBeGreaterThan(1);
      for (const pod of answered) expect(replicas.has(pod)).toBe(true);
    }
    expect(r.stdout).toMatch(/^missing ENOTFOUND$/m);
  }, 300_000);

  it('clusterIP:port from the root namespace and nodeIP:nodePort of every host: every replica answers', async () => {
    const viaCluster = await spray(`http://${web.spec!.clusterIP}:80/`);
    expect(viaCluster.failures, viaCluster.errors.join('; ')).toBe(0);
    expect([...viaCluster.pods.keys()].sort()).toEqual([...replicas].sort());
    const nodePort = web.spec!.ports![0]!.nodePort!;
    for (const h of env.hosts.hosts.slice(0, 3)) {
      const r = await spray(`http://${h.ip}:${nodePort}/`);
      expect(r.failures, `${h.name}: ${r.errors.join('; ')}`).toBe(0);
      expect([...r.pods.keys()].sort(), `NodePort of ${h.name}`).toEqual([...replicas].sort());
    }
  }, 300_000);

  it('hairpin: a pod reaches itself through its own Service', async () => {
    const me = (await pods().list(ns, { labelSelector: 'app=web' })).items.find((p) => p.spec?.nodeName === 'node-2')!;
    // A packet DNATed back to the port it came from must be bridged out of that port again: the agent
    // turns on hairpin mode on its pods' bridge ports (as kubelet's hairpin-veth does).
    const host = env.hostOf(me);
    const ports = (await host.exec(['ip', '-d', '-o', 'link', 'show', 'master', 'flotilla0'])).stdout;
    expect(ports).toMatch(/hairpin on/);
    expect(ports).not.toMatch(/hairpin off/);
    const script = `for i in $(seq 200); do a=$(timeout 5 wget -q -O - http://${web.spec!.clusterIP}/); case "$a" in *'"pod":"${me.metadata.name}"'*) echo SELF; exit 0;; esac; done; echo NEVER`;
    const r = await env.execInPod(me, ['sh', '-c', script], 120_000);
    expect(r.stdout.trim()).toBe('SELF');
  }, 300_000);

  it('a pod that is not Ready gets no traffic', async () => {
    const unready = clientPod('web-unready', 'node-3', ['/server.sh']);
    unready.metadata.labels = { app: 'web' };
    const c = unready.spec!.containers[0]!;
    c.image = 'flotilla/echo:1';
    delete c.command;
    c.ports = [{ name: 'http', containerPort: 8080 }];
    c.env = [{ name: 'POD_NAME', value: 'web-unready' }];
    c.readinessProbe = { httpGet: { path: '/', port: 9999 }, periodSeconds: 1 };
    await pods().create(unready);
    await waitFor(async () => {
      const l = (await api().resource<EndpointSlice>('endpointslices').list(ns, { labelSelector: `${SERVICE_NAME_LABEL}=web` })).items;
      return l.flatMap((s) => s.endpoints).some((e) => e.targetRef?.name === 'web-unready' && e.conditions?.ready === false);
    }, { timeout: 60_000, message: 'web-unready in the slices, not ready' });
    // It does answer on its pod IP…
    const ip = (await pods().get(ns, 'web-unready')).status!.podIP!;
    expect(JSON.parse((await httpGet(`http://${ip}:8080/`)).body).pod).toBe('web-unready');
    // …but never through the Service.
    const r = await spray(`http://${web.spec!.clusterIP}/`, 300);
    expect(r.failures).toBe(0);
    expect(r.pods.has('web-unready')).toBe(false);
    await pods().delete(ns, 'web-unready', { gracePeriodSeconds: 0 });
  }, 300_000);

  it('a Service with no ready endpoints refuses connections at once, from the root namespace and from a pod', async () => {
    const none = await services().create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'nobody', namespace: ns }, spec: { type: 'NodePort', selector: { app: 'nothing' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const ip = none.spec!.clusterIP!;
    await waitFor(async () => (await env.hosts.hosts[0]!.exec(['iptables-save', '-t', 'filter'])).stdout.includes(`-d ${ip}/32`), { timeout: 20_000, message: 'REJECT rule on host 1' });
    await waitFor(async () => (await run('iptables-save', ['-t', 'filter'])).stdout.includes(`-d ${ip}/32`), { timeout: 20_000, message: 'REJECT rule in the root namespace' });
    const started = Date.now();
    const err = await httpGet(`http://${ip}/`, 5_000).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err?.code ?? err?.message).toBe('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(1_500);
    const r = await env.execInPod(await pods().get(ns, 'client'), ['sh', '-c', `timeout 5 wget -q -O - http://${ip}/; echo rc=$?`]);
    expect(r.stdout + r.stderr).toMatch(/refused/i);
    const np = await httpGet(`http://${env.hosts.hosts[1]!.ip}:${none.spec!.ports![0]!.nodePort}/`, 5_000).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(np?.code).toBe('ECONNREFUSED');
  }, 300_000);

  it('a client port whose SYN went out before the proxy knew the Service is not blackholed once it does', async () => {
    // A SYN to a ClusterIP nothing programs yet goes un-NATed to the sink; its conntrack entry would
    // hold that source port for 2 minutes. Send it first (the address chosen, so it exists before the Service).
    const ip = env.serviceCIDR.replace(/0\/24$/, '250');
    const localPort = 20_000 + Math.floor(Math.random() * 10_000); // outside the ephemeral range: no other connection takes it
    expect(await connectFrom(localPort, ip, 80, 1_500)).toBe('timeout');
    const early = await services().create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'early', namespace: ns }, spec: { clusterIP: ip, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } });
    expect(early.spec!.clusterIP).toBe(ip);
    // Served from other ports once the root proxy has it.
    const deletedBefore = await env.proxies.get('root')!.metric('kubeproxy_conntrack_stale_flows_deleted_total');
    await waitFor(async () => (await httpGet(`http://${ip}/`, 1_000).catch(() => ({ status: 0 }))).status === 200, { timeout: 30_000, interval: 100, message: 'the new Service answering' });
    // The early port too, once the proxy has deleted the flow it never NATed: it runs conntrack(8) after
    // applying the rules, so other ports can be answered a moment before.
    await waitFor(async () => (await env.proxies.get('root')!.metric('kubeproxy_conntrack_stale_flows_deleted_total')) > deletedBefore, { timeout: 10_000, message: 'the root proxy deleting the early flow' });
    expect(await connectFrom(localPort, ip, 80, 5_000)).toBe('connected');
    await services().delete(ns, 'early');
  }, 120_000);

  it('proxies killed and restarted: an open connection survives, and the restarted proxies converge on what changed meanwhile', async () => {
    const echoSvc = await services().create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'tcp', namespace: ns }, spec: { selector: { role: 'tcp' }, ports: [{ port: 9000, targetPort: 9000 }] } });
    await pods().create({ ...clientPod('tcp', 'node-2', ['nc', '-ll', '-p', '9000', '-e', 'cat']), metadata: { name: 'tcp', namespace: ns, labels: { role: 'tcp' } } });
    await running('tcp');
    const ip = echoSvc.spec!.clusterIP!;
    await waitFor(async () => (await run('iptables-save', ['-t', 'nat'])).stdout.includes(`-d ${ip}/32`), { timeout: 20_000, message: 'root rules for tcp' });
    const sock: Socket = await new Promise((resolve, reject) => {
      const s = connect({ host: ip, port: 9000 }, () => resolve(s));
      s.once('error', reject);
    });
    const lines: string[] = [];
    sock.setEncoding('utf8');
    sock.on('data', (d) => lines.push(...String(d).split('\n').filter(Boolean)));
    const roundTrip = async (word: string) => {
      sock.write(`${word}\n`);
      await waitFor(() => lines.includes(word), { timeout: 5_000, message: `echo of ${word}` });
    };
    await roundTrip('before');
    await env.proxies.get('root')!.kill('SIGKILL');
    await env.proxies.get('h1')!.kill('SIGKILL');
    await roundTrip('while-down');
    // Change something while they are down: the web Service loses two replicas.
    await api().resource<Deployment>('deployments').patch(ns, 'web', { spec: { replicas: 4 } }, 'merge');
    await waitFor(async () => {
      const l = (await api().resource<EndpointSlice>('endpointslices').list(ns, { labelSelector: `${SERVICE_NAME_LABEL}=web` })).items;
      return l.flatMap((s) => s.endpoints).length === 4;
    }, { timeout: 60_000, message: 'four web endpoints' });
    await env.proxies.get('root')!.start();
    await env.proxies.get('h1')!.start();
    await roundTrip('after');
    sock.destroy();
    const svcChain = (prefix: string) => chainName(prefix, 'SVC', `${ns}/web:http`, 'TCP');
    const sepJumps = async (where: 'root' | number, prefix: string) => {
      const save = where === 'root' ? await run('iptables-save', ['-t', 'nat']) : await env.hosts.hosts[where - 1]!.exec(['iptables-save', '-t', 'nat']);
      return save.stdout.split('\n').filter((l) => l.startsWith(`-A ${svcChain(prefix)} `) && l.includes('-SEP-')).length;
    };
    // A restarted proxy converges with a full sync of its own, which one answered round trip does not prove.
    await waitFor(async () => (await sepJumps('root', env.rootPrefix)) === 4, { timeout: 30_000, message: 'four endpoint jumps in the root namespace' });
    await waitFor(async () => (await sepJumps(1, 'KUBE')) === 4, { timeout: 30_000, message: 'four endpoint jumps on host 1' });
    const r = await spray(`http://${web.spec!.clusterIP}/`, 100);
    expect(r.failures).toBe(0);
    expect(r.pods.size).toBe(4);
  }, 300_000);

  it('a host whose proxy starts later gets every rule', async () => {
    const h4 = env.hosts.hosts[3]!;
    // A host joins as in the real cluster: its agent (which sets up its pod network and routes), then its proxy.
    await env.cluster.addNode({ name: 'node-4', docker: { host: h4.dockerHost, nodeIP: h4.ip, netns: h4.netns } });
    await env.startProxy(h4);
    const service = (c: string) => /-(SVC|SEP|EXT)-/.test(c);
    await waitFor(async () => JSON.stringify((await natChains(4)).filter(service)) === JSON.stringify((await natChains(1)).filter(service)), { timeout: 20_000, message: 'host 4 has the chains host 1 has' });
    const r = await spray(`http://${h4.ip}:${web.spec!.ports![0]!.nodePort}/`, 200);
    expect(r.failures).toBe(0);
    expect(r.pods.size).toBe(4);
  }, 300_000);

  it('a deleted Service stops answering on its ClusterIP and NodePort on every host, and its chains are gone', async () => {
    const nodePort = web.spec!.ports![0]!.nodePort!;
    const mine = chainName('KUBE', 'SVC', `${ns}/web:http`, 'TCP');
    expect(await natChains(1)).toContain(mine);
    await services().delete(ns, 'web');
    for (const i of [1, 2, 3, 4]) await waitFor(async () => !(await natChains(i)).some((c) => c === mine || c === mine.replace('-SVC-', '-EXT-')), { timeout: 20_000, message: `web chains gone on host ${i}` });
    await waitFor(async () => !(await natChains('root', env.rootPrefix)).includes(chainName(env.rootPrefix, 'SVC', `${ns}/web:http`, 'TCP')), { timeout: 20_000, message: 'web chains gone in the root namespace' });
    await expect(httpGet(`http://${web.spec!.clusterIP}/`, 1_500)).rejects.toThrow();
    for (const h of env.hosts.hosts) await expect(httpGet(`http://${h.ip}:${nodePort}/`, 1_500)).rejects.toThrow();
    const fromPod = await env.execInPod(await pods().get(ns, 'client'), ['sh', '-c', `timeout 2 wget -q -O - http://${web.spec!.clusterIP}/ && echo ANSWERED || echo NO`]);
    expect(fromPod.stdout.trim()).toBe('NO');
  }, 300_000);
});
