import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHosts, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';

// Three worker hosts (network namespaces, one dockerd each) made by
// scripts/hosts.sh: a pod on host 1 must reach a pod on host 3 by its pod IP,
// and the far pod must see the client pod's own address (no masquerading).
describe('worker hosts: flat pod network', () => {
  let cluster: HostCluster | undefined;

  beforeAll(async () => {
    cluster = await createHosts(3, { prefix: 'tn' });
  }, 180_000);

  afterAll(async () => {
    await cluster?.delete();
  }, 120_000);

  const hosts = () => {
    if (!cluster) throw new Error('hosts were not created');
    return cluster.hosts;
  };

  /** The pod (bridge) IP of a container on a host. */
  const podIP = (host: ReturnType<typeof hosts>[number], id: string) => host.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id]);

  it('gives every host its own address, engine and pod range', async () => {
    const [h1, h2, h3] = hosts();
    expect(new Set(hosts().map((h) => h.ip)).size).toBe(3);
    expect(new Set(hosts().map((h) => h.podCIDR)).size).toBe(3);
    for (const h of [h1!, h2!, h3!]) {
      const addr = await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(addr.stdout).toContain(`${h.ip}/24`);
      expect(await h.docker(['image', 'inspect', '-f', '{{.Id}}', 'flotilla/echo:1', 'flotilla/busybox:1', 'flotilla/pause:1'])).toMatch(/sha256/);
    }
  });

  it('lets a pod on host 1 reach a pod on host 3 by pod IP, keeping the source pod IP', async () => {
    const [h1, , h3] = hosts() as [ReturnType<typeof hosts>[number], unknown, ReturnType<typeof hosts>[number]];
    const echo = await h3.docker(['run', '-d', '--label', 'flotilla.test=hosts', 'flotilla/echo:1']);
    const echoIP = await podIP(h3, echo);
    expect(inCidr(echoIP, h3.podCIDR)).toBe(true);

    // HTTP through the pod network, polled: the server needs a moment to listen.
    const body = await waitFor(async () => {
      const out = await h1.docker(['run', '--rm', 'flotilla/busybox:1', 'timeout', '5', 'wget', '-qO-', `http://${echoIP}:8080/from-h1`], { timeout: 20_000 });
      return out.includes('/from-h1') ? out : undefined;
    }, { timeout: 30_000, interval: 500, message: `an answer from the echo pod ${echoIP}` });
    expect(JSON.parse(body)).toMatchObject({ method: 'GET', path: '/from-h1' });

    // A client pod holds a connection open; the echo pod's own socket table
    // says which address it came from.
    const client = await h1.docker(['run', '-d', '--label', 'flotilla.test=hosts', 'flotilla/busybox:1', 'sh', '-c', `sleep 60 | nc ${echoIP} 8080`]);
    const clientIP = await podIP(h1, client);
    expect(inCidr(clientIP, h1.podCIDR)).toBe(true);
    const peers = await waitFor(async () => {
      const out = await h3.docker(['exec', echo, 'netstat', '-tn']);
      const remote = out
        .split('\n')
        .filter((l) => l.includes(`${echoIP}:8080`) && l.includes('ESTABLISHED'))
        .map((l) => (l.trim().split(/\s+/)[4] ?? '').replace(/:\d+$/, '').replace(/^::ffff:/, ''));
      return remote.length > 0 ? remote : undefined;
    }, { timeout: 15_000, interval: 200, message: 'the client connection in the echo pod' });
    expect(peers).toContain(clientIP);
    expect(peers).not.toContain(h1.ip);
  });

  it('lets the root namespace (the control plane) reach pods on every host', async () => {
    const h2 = hosts()[1]!;
    const echo = await h2.docker(['run', '-d', '--label', 'flotilla.test=hosts', 'flotilla/echo:1']);
    const ip = await podIP(h2, echo);
    const json = await waitFor(async () => {
      const res = await fetch(`http://${ip}:8080/from-root`, { signal: AbortSignal.timeout(2_000) });
      return (await res.json()) as { path: string };
    }, { timeout: 15_000, interval: 200, message: `the echo pod ${ip} from the root namespace` });
    expect(json.path).toBe('/from-root');
  });

  it('cuts a host off the network and plugs it back', async () => {
    const [h1, h2] = hosts() as [ReturnType<typeof hosts>[number], ReturnType<typeof hosts>[number]];
    // Debian's busybox-static (scripts/setup.sh) brings ping; iputils may be absent.
    const ping = () => h1.exec(['busybox', 'ping', '-c', '1', '-W', '1', h2.ip]);
    expect((await ping()).code).toBe(0);
    await h2.disconnect();
    expect((await ping()).code).not.toBe(0);
    await h2.connect();
    await waitFor(async () => (await ping()).code === 0, { timeout: 10_000, message: `${h2.ip} to answer again` });
  });

  it('kills a host: its engine and its containers die', async () => {
    const h2 = hosts()[1]!;
    const echo = await h2.docker(['run', '-d', '--label', 'flotilla.test=hosts', 'flotilla/echo:1']);
    const ip = await podIP(h2, echo);
    await waitFor(async () => (await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2_000) })).ok, { timeout: 15_000, message: 'the echo pod' });
    await h2.kill();
    await expect(h2.docker(['version'], { timeout: 5_000 })).rejects.toThrow();
    await expect(fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
  });
});

/** Whether an IPv4 address lies in a CIDR range. */
function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}
