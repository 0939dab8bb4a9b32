import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHosts, run, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';

// Three worker hosts (network namespaces, one dockerd each) made by
// scripts/hosts.sh, without any Flotilla process: what the script alone
// guarantees. The pod network itself is the cluster's (pod-network.test.ts).
describe('worker hosts of scripts/hosts.sh', () => {
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

  it('gives every host its own address and engine, with the images', async () => {
    expect(new Set(hosts().map((h) => h.ip)).size).toBe(3);
    for (const h of hosts()) {
      const addr = await h.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(addr.stdout).toContain(`${h.ip}/24`);
      expect(await h.docker(['image', 'inspect', '-f', '{{.Id}}', 'flotilla/echo:1', 'flotilla/busybox:1', 'flotilla/pause:1'])).toMatch(/sha256/);
    }
  });

  it('routes unused cluster addresses (services, pods, hosts) to the local sink, in the root namespace and in every host', async () => {
    // An unused Service address, an unused pod address, an unused host address.
    const probes = ['10.96.255.254', '10.244.255.254', '10.250.255.254'];
    for (const addr of probes) {
      const root = await run('ip', ['-4', 'route', 'get', addr]);
      expect(root.stdout, `root: ip route get ${addr}`).toMatch(/dev flotsink/);
      for (const h of hosts()) {
        const inHost = await h.exec(['ip', '-4', 'route', 'get', addr]);
        expect(inHost.stdout, `${h.name}: ip route get ${addr}`).toMatch(/dev flotsink/);
      }
    }
    // The host's own bridge and the default route still win where they should.
    const h1 = hosts()[0]!;
    expect((await h1.exec(['ip', '-4', 'route', 'get', hosts()[1]!.ip])).stdout).toMatch(/dev eth0/);
    expect((await run('ip', ['-4', 'route', 'get', hosts()[1]!.ip])).stdout).toContain(`dev ${cluster!.bridge}`);
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
    const id = await h2.docker(['run', '-d', '--label', 'flotilla.test=hosts', 'flotilla/busybox:1', 'sleep', '600']);
    expect(id).toMatch(/^[0-9a-f]+$/);
    await h2.kill();
    await expect(h2.docker(['version'], { timeout: 5_000 })).rejects.toThrow();
    // Asked from the root namespace: run inside the host, `ip` would list itself.
    expect((await run('ip', ['netns', 'pids', h2.netns])).stdout.trim()).toBe('');
  });
});
