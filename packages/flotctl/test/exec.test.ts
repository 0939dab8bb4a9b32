/**
 * `flotctl exec` (and `flotctl logs`) against the real processes: a
 * `flotilla apiserver` and one `flotilla agent` on the machine's Docker
 * engine (a unique node name, so its orphan sweep never touches another
 * test's containers). The stream goes flotctl → apiserver (WebSocket
 * v5.channel.k8s.io) → agent (mutual TLS) → Docker's exec API, as kubectl's
 * does: stdout and stderr kept apart, stdin with -i, the command's exit
 * code as flotctl's, and errors as kubectl words them.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Deployment, Pod } from '@flotilla/api';
import { repoRoot, startCluster, waitFor, type TestCluster } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const id = randomBytes(3).toString('hex');
const nodeName = `fexec-${id}`;
const ns = `fexec-${id}`;
const dockerHost = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
let cluster: TestCluster | undefined;

/** Runs the built flotctl with `input` on stdin; binary-safe stdout. */
function flotctl(args: string[], input?: Buffer | string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'packages/flotctl/dist/bin/flotctl.js'), '--kubeconfig', cluster!.api.kubeconfigPath, '-n', ns, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

const shellPod = (name: string, labels: Record<string, string> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: {
    nodeName,
    containers: [
      { name: 'main', image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command: ['sh', '-c', 'echo started; trap "exit 0" TERM; while :; do sleep 1; done'] },
      { name: 'side', image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command: ['sh', '-c', 'echo side-car; trap "exit 0" TERM; while :; do sleep 1; done'] },
    ],
  },
} as Pod);

beforeAll(async () => {
  cluster = await startCluster({
    schedulers: 0,
    controllerManagers: 0,
    apiserver: { extraNodes: [nodeName] },
    nodes: [{ name: nodeName, docker: { host: dockerHost, nodeIP: '127.0.0.1' } }],
  });
  await cluster.client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await cluster.client.resource<Pod>('pods').create(shellPod('sh', { app: 'sh' }));
  await waitFor(async () => (await cluster!.client.resource<Pod>('pods').get(ns, 'sh')).status?.phase === 'Running', { timeout: 60_000, message: 'pod sh Running' });
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  await cluster?.stop();
  // The agent is gone: remove what it left of this test's pods.
  await new Promise<void>((resolve) => {
    const ps = spawn('sh', ['-c', `ids=$(docker -H ${dockerHost} ps -aq --filter label=io.flotilla.pod.namespace=${ns}); [ -z "$ids" ] || docker -H ${dockerHost} rm -f $ids`], { stdio: 'ignore' });
    ps.on('close', () => resolve());
  });
}, 60_000);

describe('flotctl exec', () => {
  it('runs a command: stdout and stderr apart, exit code 0; without -c the first container, said as kubectl says it', async () => {
    const r = await flotctl(['exec', 'sh', '--', 'sh', '-c', 'echo out; echo err >&2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr).toBe('Defaulted container "main" out of: main, side\nerr\n');
  });

  it("exits with the command's exit code", async () => {
    const r = await flotctl(['exec', 'sh', '-c', 'main', '--', 'sh', '-c', 'exit 7']);
    expect(r.code).toBe(7);
  });

  it('-i passes stdin (binary, 256 KiB) and the command sees its end', async () => {
    const data = randomBytes(256 * 1024);
    const r = await flotctl(['exec', '-i', 'sh', '-c', 'main', '--', 'sh', '-c', 'cat; echo done >&2'], data);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(r.stdout.equals(data)).toBe(true);
    expect(r.stderr).toBe('done\n');
  });

  it('-c picks the container; pod/NAME works like kubectl', async () => {
    const r = await flotctl(['exec', 'pod/sh', '-c', 'side', '--', 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toContain('echo side-car');
  });

  it('errors: a missing pod (NotFound), a missing container, no command, a missing executable', async () => {
    const missing = await flotctl(['exec', 'nope', '--', 'true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/pods "nope" not found/);
    const noContainer = await flotctl(['exec', 'sh', '-c', 'nope', '--', 'true']);
    expect(noContainer.code).toBe(1);
    expect(noContainer.stderr).toMatch(/nope/);
    const noCommand = await flotctl(['exec', 'sh']);
    expect(noCommand.code).toBe(1);
    expect(noCommand.stderr).toMatch(/at least one command/);
    const noExe = await flotctl(['exec', 'sh', '--', '/no/such/binary']);
    expect(noExe.code).not.toBe(0);
  });

  it('deploy/NAME execs in one of its pods', async () => {
    await cluster!.client.resource<Deployment>('deployments').create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sh', namespace: ns },
      // No controller-manager runs here: the Deployment only lends its selector, as kubectl's exec deploy/x uses it.
      spec: { replicas: 1, selector: { matchLabels: { app: 'sh' } }, template: { metadata: { labels: { app: 'sh' } }, spec: shellPod('x').spec! } },
    } as Deployment);
    const r = await flotctl(['exec', 'deploy/sh', '-c', 'main', '--', 'sh', '-c', 'tr "\\0" " " </proc/1/cmdline']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toContain('echo started');
  });
});

describe('flotctl logs', () => {
  it("prints a container's log through the apiserver (-c for another container)", async () => {
    const main = await flotctl(['logs', 'sh', '-c', 'main']);
    expect(main.code, main.stderr).toBe(0);
    expect(main.stdout.toString()).toBe('started\n');
    const side = await flotctl(['logs', 'sh', '-c', 'side']);
    expect(side.stdout.toString()).toBe('side-car\n');
  });
});
