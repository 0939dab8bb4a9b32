/**
 * The README's "Deploy on real machines" section, run verbatim: its shell
 * blocks are read from README.md (so they cannot drift) and each runs where
 * its first line says — the checkout, every machine, the control plane, each
 * worker — on three machines that share nothing but the network (a
 * createHosts host each, with its own mount namespace: private /var/lib,
 * /etc, /usr/local, /root and working directory; see src/machines.ts). Only
 * the variables the README names are set: CONTROL_PLANE_IP everywhere,
 * NODE_NAME and NODE_IP on workers, and TOKEN and CA_HASH carried from the
 * control plane to the workers as the README says. The demo it applies must
 * then answer through its Service from a worker.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployment, Node, Pod, Service } from '@flotilla/api';
import { loadKubeconfig, RestClient } from '@flotilla/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/env.js';
import { createHosts, type HostCluster } from '../../src/hosts.js';
import { buildArtifactOnCheckout, readmeBlocks, startMachine, stopHostDockerd, type Machine, type ReadmeBlock } from '../../src/machines.js';
import { waitFor } from '../../src/wait-for.js';

const SECTION = 'Deploy on real machines';
/** Variables a worker takes from the control plane (the README says so in its worker block). */
const CARRIED = ['TOKEN', 'CA_HASH'];

let hosts: HostCluster | undefined;
let dir = '';
let controlPlane: Machine | undefined;
const workers: Machine[] = [];
let blocks: ReadmeBlock[] = [];
const timings: Record<string, number> = {};

beforeAll(async () => {
  blocks = readmeBlocks(await readFile(join(repoRoot(), 'README.md'), 'utf8'), SECTION);
  dir = await mkdtemp(join(tmpdir(), 'flotilla-readme-'));
  hosts = await createHosts(3, { prefix: 'rm' });
  const [cpHost, ...workerHosts] = hosts.hosts;
  const env = { CONTROL_PLANE_IP: cpHost!.ip };
  controlPlane = await startMachine({ name: 'control-plane', dir: join(dir, 'control-plane'), netns: cpHost!.netns, dockerHost: cpHost!.dockerHost, env });
  for (const [i, h] of workerHosts.entries()) {
    const name = `worker-${i + 1}`;
    // A worker's engine must see its filesystem (the agent bind-mounts files from /var/lib/flotilla/agent): it runs inside the machine.
    await stopHostDockerd(h.dockerHost);
    workers.push(await startMachine({ name, dir: join(dir, name), netns: h.netns, dockerHost: h.dockerHost, ownDockerd: true, env: { ...env, NODE_NAME: name, NODE_IP: h.ip } }));
  }
}, 240_000);

afterAll(async () => {
  for (const m of [...workers, controlPlane]) await m?.stop().catch(() => undefined);
  await hosts?.delete();
  if (dir) await rm(dir, { recursive: true, force: true });
  console.log(`readme-multi-machine timings (s): ${JSON.stringify(timings)}`);
}, 120_000);

describe('README: Deploy on real machines', () => {
  it('has blocks for the checkout, every machine, the control plane and the workers', () => {
    expect(blocks.map((b) => b.where)).toEqual(['checkout', 'every', 'control-plane', 'worker', 'control-plane']);
    // Only documented variables: nothing to edit by hand before running a block.
    for (const b of blocks) expect(b.text).not.toMatch(/(?<!\$)\bCONTROL_PLANE_IP\b|WORKER\d_IP|ADMIN_TOKEN/);
  });

  it('runs verbatim on three machines and the demo answers through its Service from a worker', async () => {
    const machines = [controlPlane!, ...workers];
    let carried: Record<string, string> = {};
    for (const [i, block] of blocks.entries()) {
      const started = Date.now();
      if (block.where === 'checkout') {
        // What the operator copies to every machine: the artifact and manifests/.
        await buildArtifactOnCheckout(block.text, machines);
        for (const m of machines) await cp(join(repoRoot(), 'manifests'), join(m.workDir, 'manifests'), { recursive: true });
      } else if (block.where === 'every') {
        await Promise.all(machines.map((m) => m.run(block.text, 120_000)));
      } else if (block.where === 'control-plane') {
        await controlPlane!.run(block.text, 300_000);
        carried = { ...carried, ...(await controlPlane!.vars(CARRIED)) };
      } else {
        expect(Object.keys(carried).sort(), 'the control plane made TOKEN and CA_HASH').toEqual([...CARRIED].sort());
        const exports = Object.entries(carried).map(([k, v]) => `export ${k}='${v}'`).join('\n');
        await Promise.all(workers.map(async (w) => {
          await w.run(exports, 10_000);
          await w.run(block.text, 300_000);
        }));
      }
      timings[`block ${i + 1} (${block.where})`] = Math.round((Date.now() - started) / 100) / 10;
    }

    // The operator's view: the admin kubeconfig the README made, from outside the machines.
    const admin = new RestClient(loadKubeconfig(join(controlPlane!.workDir, 'admin.kubeconfig')));
    try {
      const nodes = await admin.resource<Node>('nodes').list();
      expect(nodes.items.map((n) => n.metadata.name).sort()).toEqual(['worker-1', 'worker-2']);
      for (const n of nodes.items) expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, n.metadata.name).toBe('True');
      const dep = await admin.resource<Deployment>('deployments').get('default', 'echo');
      expect(dep.status?.availableReplicas).toBe(3);
      const pods = (await admin.resource<Pod>('pods').list('default', { labelSelector: 'app=echo' })).items;
      expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(['worker-1', 'worker-2']));

      // Each worker's credential is its own certificate, not a token.
      for (const w of workers) {
        const cfg = loadKubeconfig(join(w.varLib, 'flotilla', 'agent', 'kubeconfig'));
        expect(cfg.token).toBeUndefined();
        expect(cfg.clientCert).toContain('BEGIN CERTIFICATE');
      }

      // The Service, from a worker: its proxy carries the ClusterIP to the pods on both workers.
      const svc = await admin.resource<Service>('services').get('default', 'echo');
      const url = `http://${svc.spec!.clusterIP}:${svc.spec!.ports![0]!.port}/`;
      const seen = new Set<string>();
      await waitFor(async () => {
        const res = await hosts!.hosts[1]!.exec(['curl', '-s', '--max-time', '3', url], { timeout: 10_000 });
        if (res.code !== 0) throw new Error(`curl ${url} from worker-1: exit ${res.code} ${res.stderr}`);
        for (const p of pods) if (res.stdout.includes(p.metadata.name!)) seen.add(p.spec!.nodeName!);
        return res.stdout.length > 0 && seen.size === 2;
      }, { timeout: 60_000, interval: 200, message: `${url} to answer from pods on both workers, from worker-1` });
    } finally {
      await admin.close();
    }
  }, 1_200_000);
});
