/**
 * The pod network as the cluster makes it, on three hosts of scripts/hosts.sh:
 * the controller-manager gives each Node a podCIDR (node IPAM), each agent —
 * running inside its host's network namespace — turns that range into the
 * `flotilla` Docker network (masquerading off) and keeps host-gw routes to
 * the other nodes' ranges; the test process keeps the root namespace's
 * routes (what `flotilla proxy` does on the control plane's machine). No
 * script sets a pod route.
 */
import type { Node, Pod } from '@flotilla/api';
import { cidrContains, formatCidr, mustParseCidr, subnets } from '@flotilla/network';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { createHosts, removePodContainers, run, type Host, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';
import { createNamespace } from '../control-loops/helpers.js';

let hosts: HostCluster | undefined;
let cluster: TestCluster | undefined;
let ns = '';

const agentSpec = (h: Host, i: number) => ({ name: `node-${i + 1}`, docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } });

beforeAll(async () => {
  hosts = await createHosts(3, { prefix: 'pn' });
  cluster = await startCluster({
    apiserver: { bindAddress: hosts.gateway },
    clusterCIDR: hosts.podCIDR,
    nodes: hosts.hosts.map(agentSpec),
    agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
  });
  ns = await createNamespace(cluster.client, 'podnet');
}, 240_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  await cluster?.stop();
  await removePodContainers(hosts);
  await hosts?.delete();
}, 120_000);

const nodesApi = () => cluster!.client.resource<Node>('nodes');
const podsApi = () => cluster!.client.resource<Pod>('pods');

/** spec.podCIDR of every node, by node name, once all `names` have one. */
async function podCIDRs(names: string[]): Promise<Map<string, string>> {
  return waitFor(async () => {
    const m = new Map<string, string>();
    for (const n of (await nodesApi().list()).items) if (n.spec?.podCIDR) m.set(n.metadata.name!, n.spec.podCIDR);
    return names.every((n) => m.has(n)) ? m : undefined;
  }, { timeout: 30_000, message: `podCIDRs of ${names.join(', ')}` });
}

/** The host-gw routes (proto 77) of a host, as `dst>via`. */
async function routesOf(h: Host | 'root'): Promise<string[]> {
  const args = ['-4', '-j', 'route', 'show', 'proto', '77'];
  const out = h === 'root' ? await run('ip', args) : await h.exec(['ip', ...args]);
  const within = mustParseCidr(hosts!.podCIDR);
  return (JSON.parse(out.stdout || '[]') as Array<{ dst: string; gateway: string }>)
    .filter((r) => cidrContains(within, r.dst.split('/')[0]!))
    .map((r) => `${r.dst}>${r.gateway}`)
    .sort();
}

/** A pod bound straight to `node` (no scheduler decision to wait for). */
function pod(name: string, node: string, image: string, command?: string[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image, ...(command ? { command } : {}) }] },
  };
}

async function runningIP(name: string): Promise<string> {
  return waitFor(async () => {
    const p = await podsApi().get(ns, name);
    return p.status?.phase === 'Running' && p.status.podIP ? p.status.podIP : undefined;
  }, { timeout: 60_000, message: `pod ${name} Running with an IP` });
}

describe('the pod network of the cluster', () => {
  it('gives every node its own range of the cluster range, realised as the flotilla network, with routes to the other nodes everywhere', async () => {
    const ranges = await podCIDRs(['node-1', 'node-2', 'node-3']);
    const cluster3 = mustParseCidr(hosts!.podCIDR);
    expect(new Set(ranges.values()).size).toBe(3);
    for (const r of ranges.values()) expect(cidrContains(cluster3, r.split('/')[0]!)).toBe(true);
    const hs = hosts!.hosts;
    for (const [i, h] of hs.entries()) {
      const own = ranges.get(`node-${i + 1}`)!;
      const subnet = await waitFor(async () => (await h.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Options "com.docker.network.bridge.enable_ip_masquerade"}}', 'flotilla']).catch(() => '')) || undefined, {
        timeout: 30_000,
        message: `the flotilla network on ${h.name}`,
      });
      expect(subnet).toBe(`${own} false`);
      // Pod traffic from other hosts is let into the bridge, whatever the FORWARD policy. The agent
      // inserts that rule just after it makes the network, so it may not be there yet.
      await waitFor(async () => (await h.exec(['iptables', '-w', '10', '-S', 'DOCKER-USER'])).stdout.includes('-o flotilla0'), {
        timeout: 30_000,
        message: `the DOCKER-USER rule letting pod traffic into flotilla0 on ${h.name}`,
      });
      const want = hs.filter((o) => o !== h).map((o) => `${ranges.get(`node-${o.index}`)}>${o.ip}`).sort();
      await waitFor(async () => JSON.stringify(await routesOf(h)) === JSON.stringify(want), { timeout: 30_000, message: `routes of ${h.name}: ${want.join(', ')}` });
    }
    const all = hs.map((o) => `${ranges.get(`node-${o.index}`)}>${o.ip}`).sort();
    await waitFor(async () => JSON.stringify(await routesOf('root')) === JSON.stringify(all), { timeout: 30_000, message: 'root namespace routes to every node range' });
  });

  it('lets a pod on host 1 reach a pod on host 3 by pod IP, keeping its own address as the source; the root namespace reaches both', async () => {
    await podsApi().create(pod('echo', 'node-3', 'flotilla/echo:1'));
    const echoIP = await runningIP('echo');
    const ranges = await podCIDRs(['node-1', 'node-3']);
    expect(cidrContains(mustParseCidr(ranges.get('node-3')!), echoIP)).toBe(true);
    // From the root namespace (the control plane's place), over the routes the test process keeps.
    const json = await waitFor(async () => {
      const res = await fetch(`http://${echoIP}:8080/from-root`, { signal: AbortSignal.timeout(2_000) });
      return (await res.json()) as { path: string };
    }, { timeout: 20_000, interval: 300, message: `the echo pod ${echoIP} from the root namespace` });
    expect(json.path).toBe('/from-root');

    // A client pod on host 1 holds a connection open; the echo pod's socket table says where it came from.
    await podsApi().create(pod('client', 'node-1', 'flotilla/busybox:1', ['sh', '-c', `while true; do sleep 60 | nc ${echoIP} 8080; sleep 1; done`]));
    const clientIP = await runningIP('client');
    expect(cidrContains(mustParseCidr(ranges.get('node-1')!), clientIP)).toBe(true);
    const h3 = hosts!.hosts[2]!;
    const [echoContainer] = (await h3.docker(['ps', '-q', '--filter', 'label=io.flotilla.pod.name=echo', '--filter', 'label=io.flotilla.type=container'])).split('\n');
    const peers = await waitFor(async () => {
      const out = await h3.docker(['exec', echoContainer!, 'netstat', '-tn']);
      const remote = out
        .split('\n')
        .filter((l) => l.includes(`${echoIP}:8080`) && l.includes('ESTABLISHED'))
        .map((l) => (l.trim().split(/\s+/)[4] ?? '').replace(/:\d+$/, '').replace(/^::ffff:/, ''));
      return remote.length > 0 ? remote : undefined;
    }, { timeout: 30_000, interval: 300, message: 'the client connection in the echo pod' });
    expect(peers).toContain(clientIP);
    expect(peers).not.toContain(hosts!.hosts[0]!.ip);
  });

  it('keeps cluster addresses on the machine: an unused Service address and an unused pod address go to the sink, in the root namespace and in a host', async () => {
    const ranges = await podCIDRs(['node-1', 'node-2', 'node-3']);
    // A node range of this cluster that no node holds — and, since the root namespace is
    // shared with other test clusters of the machine, that no route of theirs covers either.
    const used = new Set(ranges.values());
    const rootRoutes = (JSON.parse((await run('ip', ['-4', '-j', 'route', 'show'])).stdout || '[]') as Array<{ dst: string }>).map((r) => r.dst);
    const free = subnets(mustParseCidr(hosts!.podCIDR), 24)
      .map(formatCidr)
      .reverse()
      .find((c) => !used.has(c) && !rootRoutes.some((d) => d.includes('/') && Number(d.split('/')[1]) > 16 && cidrContains(mustParseCidr(d), c.replace(/0\/24$/, '254'))));
    expect(free, 'a free node range in this cluster\'s range').toBeDefined();
    const unusedPod = free!.replace(/0\/24$/, '254');
    for (const addr of ['10.96.255.254', unusedPod]) {
      expect((await run('ip', ['-4', 'route', 'get', addr])).stdout, `root: ${addr}`).toMatch(/dev flotsink/);
      expect((await hosts!.hosts[0]!.exec(['ip', '-4', 'route', 'get', addr])).stdout, `h1: ${addr}`).toMatch(/dev flotsink/);
    }
    // A pod address of another node goes to that node's host.
    const other = ranges.get('node-2')!.replace(/0\/24$/, '9');
    expect((await hosts!.hosts[0]!.exec(['ip', '-4', 'route', 'get', other])).stdout).toContain(`via ${hosts!.hosts[1]!.ip}`);
  });

  it('a host added later gets routes to every node, and every host gets a route to it; deleting its Node takes the routes away again', async () => {
    const h4 = await hosts!.addHost();
    await cluster!.addNode(agentSpec(h4, 3));
    const ranges = await podCIDRs(['node-1', 'node-2', 'node-3', 'node-4']);
    const r4 = `${ranges.get('node-4')}>${h4.ip}`;
    const hs = hosts!.hosts;
    const want4 = hs.filter((o) => o !== h4).map((o) => `${ranges.get(`node-${o.index}`)}>${o.ip}`).sort();
    await waitFor(async () => JSON.stringify(await routesOf(h4)) === JSON.stringify(want4), { timeout: 30_000, message: `routes of h4: ${want4.join(', ')}` });
    for (const h of [...hs.slice(0, 3), 'root' as const]) {
      await waitFor(async () => (await routesOf(h)).includes(r4), { timeout: 30_000, message: `a route to node-4 on ${h === 'root' ? 'root' : h.name}` });
    }
    // A pod on the new host answers the root namespace and pods elsewhere.
    await podsApi().create(pod('late', 'node-4', 'flotilla/echo:1'));
    const lateIP = await runningIP('late');
    await waitFor(async () => (await fetch(`http://${lateIP}:8080/`, { signal: AbortSignal.timeout(2_000) })).ok, { timeout: 20_000, interval: 300, message: 'the pod on the late host' });

    // The node goes (its agent stopped first, so it does not register again): its route goes everywhere.
    await podsApi().delete(ns, 'late', { gracePeriodSeconds: 0 });
    await cluster!.kill('node-4');
    await nodesApi().delete(undefined, 'node-4');
    for (const h of [...hs.slice(0, 3), 'root' as const]) {
      await waitFor(async () => !(await routesOf(h)).includes(r4), { timeout: 30_000, message: `the route to node-4 gone from ${h === 'root' ? 'root' : h.name}` });
    }
  });
});
