import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/env.js';
import { createHosts, run, type ExecResult, type Host, type HostCluster } from '../../src/hosts.js';
import { waitFor } from '../../src/wait-for.js';

// docker-compose.yml as the README tells users to run it — `docker-compose
// up -d` in the checkout, then the real kubectl with the kubeconfig it
// writes — on a host of its own (a network namespace with its own dockerd),
// so the containers on the host's network, its routes and netfilter rules
// stay there. The only settings passed are the documented ones that point
// it at that engine and keep its files out of the checkout.
/** GET with a Host header; the body of a 200, else a rejection. */
function getWithHost(url: string, hostHeader: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { host: hostHeader }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timed out'))).on('error', reject);
  });
}

describe('docker-compose.yml', () => {
  const root = repoRoot();
  const project = `flotcompose${randomBytes(3).toString('hex')}`;
  let hosts: HostCluster | undefined;
  let host: Host;
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let upDone = false;

  const compose = (args: string[], timeout = 300_000): Promise<ExecResult> =>
    run('docker-compose', ['-p', project, '-f', join(root, 'docker-compose.yml'), ...args], { timeout, env });
  const kubeconfig = () => join(dir, 'out', 'kubeconfig');
  // The kubeconfig names 127.0.0.1:6443 of the host: kubectl runs there.
  const kubectl = (args: string[], timeout = 60_000) => host.exec(['kubectl', '--kubeconfig', kubeconfig(), '--request-timeout', '20s', ...args], { timeout });
  const ok = async (args: string[], timeout?: number) => {
    const r = await kubectl(args, timeout);
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    const built = await run(join(root, 'scripts/images.sh'), ['--compose'], { timeout: 600_000, env: { ...process.env, DOCKER_HOST: 'unix:///var/run/docker.sock' } });
    expect(built.code, built.stderr).toBe(0);
    hosts = await createHosts(1, { prefix: 'tc' });
    host = hosts.hosts[0]!;
    const version = (await run('node', ['-p', `require(${JSON.stringify(join(root, 'packages/cli/package.json'))}).version`])).stdout.trim();
    const etcdVersion = /etcd Version: (\S+)/.exec((await run('etcd', ['--version'])).stdout)?.[1];
    const images = [`flotilla/flotilla:${version}`, `flotilla/etcd:${etcdVersion}`];
    const load = await run('sh', ['-c', `docker -H unix:///var/run/docker.sock save ${images.join(' ')} | docker -H ${host.dockerHost} load -q`], { timeout: 300_000 });
    expect(load.code, load.stderr).toBe(0);
    dir = await mkdtemp(join(tmpdir(), 'flotilla-compose-'));
    env = {
      ...process.env,
      DOCKER_HOST: host.dockerHost,
      FLOTILLA_DOCKER_SOCK: host.dockerHost.replace(/^unix:\/\//, ''),
      FLOTILLA_DOCKER_ROOT: await host.docker(['info', '-f', '{{.DockerRootDir}}']),
      FLOTILLA_COMPOSE_DIR: join(dir, 'out'),
      FLOTILLA_COMPOSE_STATE: join(dir, 'state'),
    };
  }, 900_000);

  afterAll(async () => {
    if (hosts) {
      // Whatever a failed test left: compose's containers and volumes, then the pods' containers.
      await compose(['down', '--volumes', '--remove-orphans'], 180_000).catch(() => undefined);
      await hosts.delete();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it('`up -d` starts a cluster that the real kubectl drives: the demo answers through its Service, the Ingress and cluster DNS', async () => {
    const up = await compose(['up', '-d']);
    expect(up.code, up.stderr).toBe(0);
    upDone = true;
    await waitFor(() => stat(kubeconfig()).then(() => true, () => false), { timeout: 120_000, message: 'the admin kubeconfig' });
    await waitFor(async () => /\bnode1\s+Ready\b/.test((await kubectl(['get', 'nodes'])).stdout), { timeout: 120_000, message: 'node1 Ready' });

    await ok(['apply', '-f', join(root, 'manifests/demo.yaml'), '-f', join(root, 'manifests/ingress.yaml')]);
    await ok(['rollout', 'status', 'deployment/echo', '--timeout', '150s'], 180_000);

    // Through the ClusterIP, from the host.
    const clusterIP = await ok(['get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}']);
    const viaService = await host.exec(['curl', '-sf', '-m', '5', `http://${clusterIP}/`]);
    expect(viaService.stdout).toContain('hello from flotilla');

    // Through the Ingress on the host's port 80, from outside the host: every replica answers.
    const pods = new Set<string>();
    await waitFor(
      async () => {
        for (let i = 0; i < 30; i++) {
          // fetch() drops a Host header (the Fetch standard forbids it): plain http.
          const body = await getWithHost(`http://${host.ip}/`, 'echo.flotilla.local').catch(() => undefined);
          if (body) pods.add((JSON.parse(body) as { pod: string }).pod);
        }
        if (pods.size < 3) throw new Error(`only ${[...pods].join(', ') || 'no replica'} answered`);
        return true;
      },
      { timeout: 60_000, message: 'all three replicas through the ingress' },
    );

    // By name from inside a pod, through the kube-dns ClusterIP.
    const pod = (await ok(['get', 'pods', '-l', 'app=echo', '-o', 'name'])).split('\n')[0]!;
    const lookup = await kubectl(['exec', pod, '--', 'nslookup', 'echo.default.svc.cluster.local']);
    expect(lookup.stdout, lookup.stderr).toContain(clusterIP);
  }, 600_000);

  it('`down` leaves no container behind, not even the pods the agent ran', async () => {
    expect(upDone, 'the cluster came up').toBe(true);
    const before = (await host.docker(['ps', '-q', '--filter', 'label=io.flotilla.pod.uid'])).split('\n').filter(Boolean);
    expect(before.length).toBeGreaterThan(0);
    const down = await compose(['down'], 180_000);
    expect(down.code, down.stderr).toBe(0);
    expect(await host.docker(['ps', '-aq'])).toBe('');
  }, 240_000);
});
