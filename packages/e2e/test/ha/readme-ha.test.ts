/**
 * The README's "A highly available control plane" subsection, run verbatim:
 * its shell blocks are read from README.md (so they cannot drift) and each
 * runs where its first line says, on three control-plane machines that share
 * nothing but the network (createHosts hosts, each with its own mount
 * namespace: private /var/lib, /etc, /usr/local, /root and working
 * directory; see src/machines.ts). The artifact is built and installed as
 * the "Deploy on real machines" section says; the copies the README asks of
 * the operator (tokens.csv and the first machine's pki/) are made between
 * the machines' directories. Only the variables the README names are set:
 * N, CP_IP, CP1_IP, CP2_IP, CP3_IP and LB_IP (the first machine runs the
 * balancer). Then: the API answers through the balancer, every apiserver
 * serves a certificate of the one CA and decrypts the same Secrets, one
 * scheduler and one controller-manager lead, and with a whole machine
 * powered off (its etcd member, apiserver, scheduler and controller-manager
 * gone) the API keeps answering and writing through the same address.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigMap, Lease, Secret } from '@flotilla/api';
import { loadKubeconfig, RestClient, type ClientConfig } from '@flotilla/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/env.js';
import { createHosts, type HostCluster } from '../../src/hosts.js';
import { buildArtifactOnCheckout, readmeBlocks, startMachine, type Machine, type ReadmeBlock } from '../../src/machines.js';
import { waitFor } from '../../src/wait-for.js';

const SECTION = 'A highly available control plane';

let hosts: HostCluster | undefined;
let dir = '';
const cps: Machine[] = [];
let blocks: ReadmeBlock[] = [];
let install: ReadmeBlock[] = [];
const timings: Record<string, number> = {};

beforeAll(async () => {
  const readme = await readFile(join(repoRoot(), 'README.md'), 'utf8');
  blocks = readmeBlocks(readme, SECTION);
  // How the artifact gets onto a machine is the main section's to say.
  install = readmeBlocks(readme, 'Deploy on real machines').filter((b) => b.where === 'checkout' || b.where === 'every');
  dir = await mkdtemp(join(tmpdir(), 'flotilla-readme-ha-'));
  // Control-plane machines run no containers: no images to load.
  hosts = await createHosts(3, { prefix: 'rha', images: false });
  const ips = hosts.hosts.map((h) => h.ip);
  for (const [i, h] of hosts.hosts.entries()) {
    const n = i + 1;
    cps.push(await startMachine({
      name: `cp${n}`,
      dir: join(dir, `cp${n}`),
      netns: h.netns,
      env: { N: String(n), CP_IP: h.ip, CP1_IP: ips[0]!, CP2_IP: ips[1]!, CP3_IP: ips[2]!, LB_IP: ips[0]! },
    }));
  }
}, 240_000);

afterEach(async ({ task }) => {
  if (task.result?.state === 'fail') for (const m of cps) console.error(`--- ${m.name} (tail)\n${(await m.logs()).slice(-6_000)}`);
});

afterAll(async () => {
  for (const m of cps) await m.stop().catch(() => undefined);
  await hosts?.delete();
  if (dir) await rm(dir, { recursive: true, force: true });
  console.log(`readme-ha timings (s): ${JSON.stringify(timings)}`);
}, 120_000);

/** A client straight to one apiserver (not through the balancer), as the admin. */
const direct = (admin: ClientConfig, ip: string) => new RestClient({ ...admin, server: `https://${ip}:6444` });

describe('README: A highly available control plane', () => {
  it('has blocks for each, the first and the other control-plane machines and the balancer, with only documented variables', () => {
    expect(blocks.map((b) => b.where)).toEqual(['each-control-plane', 'first-control-plane', 'other-control-planes', 'balancer', 'each-control-plane']);
    // Nothing to edit by hand: addresses are variables ($CP1_IP), not placeholders (CP1_IP, CPN_IP).
    for (const b of blocks) expect(b.text.replace(/(^|\s)#.*$/gm, '').replace(/\$[A-Z0-9_]+/g, '')).not.toMatch(/\bCP[N\d]?_IP\b|\bLB_IP\b/);
    expect(install.map((b) => b.where)).toEqual(['checkout', 'every']);
  });

  it('runs verbatim on three machines: one API behind the balancer, one CA and one encryption key, one leader each; a machine lost, the API still writes', async () => {
    const [cp1, ...others] = cps;
    const step = async (name: string, fn: () => Promise<void>) => {
      const started = Date.now();
      await fn();
      timings[name] = Math.round((Date.now() - started) / 100) / 10;
    };
    await step('install', async () => {
      await buildArtifactOnCheckout(install[0]!.text, cps);
      await Promise.all(cps.map((m) => m.run(install[1]!.text, 120_000)));
    });

    let eachSeen = 0;
    for (const [i, block] of blocks.entries()) {
      await step(`block ${i + 1} (${block.where})`, async () => {
        if (block.where === 'each-control-plane') {
          eachSeen++;
          await Promise.all(cps.map((m) => m.run(block.text, 180_000)));
        } else if (block.where === 'first-control-plane') {
          await cp1!.run(block.text, 180_000);
          // What the README asks of the operator next: tokens.csv and pki/ from the first machine to the others.
          for (const m of others) {
            await cp(join(cp1!.workDir, 'tokens.csv'), join(m.workDir, 'tokens.csv'));
            await cp(join(cp1!.varLib, 'flotilla', 'pki'), join(m.varLib, 'flotilla', 'pki'), { recursive: true });
          }
        } else if (block.where === 'other-control-planes') {
          await Promise.all(others.map((m) => m.run(block.text, 180_000)));
        } else if (block.where === 'balancer') {
          await cp1!.run(block.text, 60_000);
        } else throw new Error(`a block for ${block.where} in the HA subsection`);
      });
    }
    expect(eachSeen).toBe(2);

    // The operator's view, from outside the machines: the admin kubeconfig the README made names the balancer.
    const adminConfig = loadKubeconfig(join(cp1!.workDir, 'admin.kubeconfig'));
    expect(adminConfig.server).toBe(`https://${hosts!.hosts[0]!.ip}:6443`);
    const admin = new RestClient(adminConfig);
    const clients: RestClient[] = [admin];
    try {
      await waitFor(async () => (await admin.requestText({ method: 'GET', path: '/readyz' })).length > 0, { timeout: 60_000, interval: 500, message: 'the API through the balancer' });
      // One leader each among three candidates.
      const holder = async (name: string) => (await admin.resource<Lease>('leases').get('kube-system', name)).spec?.holderIdentity;
      for (const lease of ['flotilla-scheduler', 'flotilla-controller-manager']) {
        await waitFor(async () => Boolean(await holder(lease)), { timeout: 60_000, interval: 500, message: `a holder of ${lease}` });
      }

      // Every apiserver directly: a certificate of the one CA covering its own address, the same Secrets readable (one encryption key).
      const secret = await admin.resource<Secret>('secrets').create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ha-check', namespace: 'default' }, stringData: { word: 'shared' } } as Secret);
      for (const h of hosts!.hosts) {
        const c = direct(adminConfig, h.ip);
        clients.push(c);
        const read = await waitFor(() => c.resource<Secret>('secrets').get('default', 'ha-check'), { timeout: 30_000, interval: 500, message: `the Secret through the apiserver of ${h.name}` });
        expect(Buffer.from(read.data!.word!, 'base64').toString('utf8'), h.name).toBe('shared');
        expect(read.metadata.uid).toBe(secret.metadata.uid);
      }

      // A machine lost: the third one powered off (its etcd member, apiserver, scheduler and controller-manager).
      const lostAt = Date.now();
      await cps[2]!.stop();
      await waitFor(
        () => admin.resource<ConfigMap>('configmaps').create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'after-loss-', namespace: 'default' }, data: { at: String(lostAt) } }),
        { timeout: 60_000, interval: 500, message: 'a write through the balancer with a machine lost' },
      );
      console.log(`readme-ha: a write went through the balancer ${Date.now() - lostAt} ms after a control-plane machine was lost`);
      expect(Buffer.from((await admin.resource<Secret>('secrets').get('default', 'ha-check')).data!.word!, 'base64').toString('utf8')).toBe('shared');
      for (const lease of ['flotilla-scheduler', 'flotilla-controller-manager']) {
        await waitFor(async () => {
          const l = await admin.resource<Lease>('leases').get('kube-system', lease);
          // Held and renewed since the loss: by a survivor.
          return Boolean(l.spec?.holderIdentity) && Date.parse(l.spec?.renewTime ?? '') > lostAt;
        }, { timeout: 60_000, interval: 500, message: `${lease} held and renewed after the loss` });
      }
    } finally {
      for (const c of clients) await c.close().catch(() => undefined);
    }
  }, 1_200_000);
});
