/**
 * `kubectl exec`, `exec -i`, `exec -it`, `cp`, `port-forward` and their errors with the
 * real kubectl 1.32 against the real processes: a `flotilla apiserver`
 * and one `flotilla agent` on the machine's Docker engine (a unique node
 * name, so its orphan sweep never touches another test's containers). The
 * stream goes kubectl → apiserver (WebSocket v5.channel.k8s.io) → agent
 * (mutual TLS) → Docker's exec API. Also the agent's port seen directly:
 * only the apiserver's client certificate (or an admin's token) gets in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Node, Pod } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { freePort } from '../../src/free-port.js';
import { waitFor } from '../../src/wait-for.js';

const id = randomBytes(3).toString('hex');
const nodeName = `exec-${id}`;
const ns = `exec-${id}`;
const dockerHost = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';

let cluster: TestCluster | undefined;
let dir = '';

/** What a kubectl run gave: exit code, stdout as bytes, stderr as text. */
interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs `cmd args` with `input` on stdin, collecting binary stdout. */
function sh(cmd: string, args: string[], input?: Buffer | string, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

const kubectl = (args: string[], input?: Buffer | string, timeoutMs?: number) =>
  sh('kubectl', ['--kubeconfig', cluster!.api.kubeconfigPath, '--cache-dir', join(dir, 'cache'), '-n', ns, ...args], input, timeoutMs);

/** A pod bound straight to the agent's node (no scheduler needed) that runs until deleted. */
function shellPod(name: string, command = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: { nodeName, restartPolicy: 'Never', containers: [{ name: 'main', image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command }] },
  } as Pod;
}

async function podPhase(name: string, phase: string): Promise<Pod> {
  return waitFor(
    async () => {
      const p = await cluster!.client.resource<Pod>('pods').get(ns, name);
      return p.status?.phase === phase ? p : undefined;
    },
    { timeout: 60_000, message: `pod ${name} ${phase}` },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-exec-'));
  cluster = await startCluster({
    schedulers: 0,
    controllerManagers: 0,
    apiserver: { extraNodes: [nodeName] },
    nodes: [{ name: nodeName, docker: { host: dockerHost, nodeIP: '127.0.0.1' } }],
  });
  await cluster.client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await cluster.client.resource<Pod>('pods').create(shellPod('sh'));
  await cluster.client.resource<Pod>('pods').create(shellPod('done', ['sh', '-c', 'exit 0']));
  await cluster.client.resource<Pod>('pods').create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: ns },
    spec: { nodeName, containers: [{ name: 'web', image: 'flotilla/echo:1', imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }] }] },
  } as Pod);
  await podPhase('sh', 'Running');
  await podPhase('web', 'Running');
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

const forwards: ChildProcess[] = [];

afterAll(async () => {
  for (const f of forwards) f.kill('SIGKILL');
  await cluster?.stop();
  // The agent is gone: remove what it left of this test's pods (only agents may use dockerode).
  const left = (await sh('docker', ['-H', dockerHost, 'ps', '-aq', '--filter', `label=io.flotilla.pod.namespace=${ns}`])).stdout.toString().split('\n').filter(Boolean);
  if (left.length) await sh('docker', ['-H', dockerHost, 'rm', '-f', ...left]);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

/** Every file under `root` with its sha256, by relative path. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(root, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(root);
  return out;
}

describe('kubectl exec through the apiserver and the agent', () => {
  it('exec: stdout and stderr apart, the exit code is kubectl\'s', async () => {
    const r = await kubectl(['exec', 'sh', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.code).toBe(3);
    const ok = await kubectl(['exec', 'sh', '--', 'true']);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
  });

  it('exec -i: 1 MiB of stdin round-trips byte for byte', async () => {
    const data = randomBytes(1024 * 1024);
    const r = await kubectl(['exec', '-i', 'sh', '--', 'cat'], data);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('exec -it under a pseudo-terminal runs an interactive shell with a terminal size', async () => {
    // script(1) gives kubectl a pty; the shell reads our lines from it.
    const r = await sh('script', ['-qec', `stty rows 40 cols 100; kubectl --kubeconfig ${cluster!.api.kubeconfigPath} --cache-dir ${join(dir, 'cache')} -n ${ns} exec -it sh -- sh`, '/dev/null'], 'echo "tty=$(tty)"; i=0; while [ "$(stty size)" != "40 100" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; echo "size=$(stty size)"; echo sum=$((40+2)); exit 7\n', 60_000);
    const text = r.stdout.toString();
    expect(text).toContain('sum=42');
    expect(text).toMatch(/tty=\/dev\/pts\/\d+/);
    // The size kubectl sent on the resize channel reached the container's terminal (it arrives just after the shell starts).
    expect(text).toContain('size=40 100');
    expect(r.code).toBe(7);
  });

  it('cp: a directory into and back out of the container, byte-identical', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'hello\n');
    await writeFile(join(src, 'sub', 'b.bin'), randomBytes(300_000));
    await writeFile(join(src, 'sub', 'deeper', 'c.bin'), randomBytes(7));
    await writeFile(join(src, 'empty'), '');
    const into = await kubectl(['cp', src, `${ns}/sh:/tmp/copied`]);
    expect(into.stderr).toBe('');
    expect(into.code).toBe(0);
    const back = join(dir, 'back');
    const out = await kubectl(['cp', `${ns}/sh:/tmp/copied`, back]);
    expect(out.code).toBe(0);
    expect(await tree(back)).toEqual(await tree(src));
    expect((await stat(join(back, 'sub', 'b.bin'))).size).toBe(300_000);
  });

  it('attach: the main process\'s output arrives live; the session ends with it (Success, as the kubelet\'s attach)', async () => {
    await cluster!.client.resource<Pod>('pods').create(shellPod('talker', ['sh', '-c', 'i=0; while [ $i -lt 25 ]; do echo "tick $i"; i=$((i+1)); sleep 0.2; done; echo bye >&2; exit 5']));
    await podPhase('talker', 'Running');
    const r = await kubectl(['attach', 'talker', '-c', 'main']);
    expect(r.stdout.toString()).toMatch(/tick \d+\n/);
    expect(r.stdout.toString()).toContain('tick 24\n');
    expect(r.stderr).toContain('bye');
    // The exit code is the pod's to tell (kubectl run -i reads it there), not attach's.
    expect(r.code).toBe(0);
    expect((await podPhase('talker', 'Failed')).status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(5);
  });

  it('bad input: a missing container, a missing command, a finished pod, an unknown pod: clear errors and exit codes', async () => {
    const noContainer = await kubectl(['exec', 'sh', '-c', 'nope', '--', 'true']);
    expect(noContainer.code).toBe(1);
    expect(noContainer.stderr).toContain('container "nope" not found in pod "sh"');
    expect(noContainer.stderr).not.toContain('pods/exec ""');

    const noCommand = await kubectl(['exec', 'sh', '--', 'no-such-command']);
    // Docker's own words (the engine writes them on the exec's stdout) and code, as `docker exec` gives them.
    expect(noCommand.stdout.toString() + noCommand.stderr).toMatch(/exec: "no-such-command": executable file not found in \$PATH/);
    expect(noCommand.code).toBe(126);

    await podPhase('done', 'Succeeded');
    const finished = await kubectl(['exec', 'done', '--', 'true']);
    expect(finished.code).toBe(1);
    // kubectl checks the phase itself before it connects; the apiserver would answer 'pod "done" is not running (phase Succeeded)'.
    expect(finished.stderr).toContain('cannot exec into a container in a completed pod; current phase is Succeeded');

    const noPod = await kubectl(['exec', 'ghost', '--', 'true']);
    expect(noPod.code).toBe(1);
    expect(noPod.stderr).toContain('pods "ghost" not found');
  });
});

describe('the agent\'s port reached directly', () => {
  /** GET a container log path on the agent with optional client certificate and token; the HTTP status, or the TLS error. */
  async function direct(opts: { cert?: string; key?: string; token?: string }): Promise<number | string> {
    const node = await cluster!.client.resource<Node>('nodes').get(undefined, nodeName);
    const port = node.status!.daemonEndpoints!.kubeletEndpoint!.Port;
    return new Promise((resolve) => {
      const r = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path: `/containerLogs/${ns}/sh/main`,
          ca: cluster!.api.caPem,
          ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
          headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
          checkServerIdentity: () => undefined,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      r.on('error', (err) => resolve(err.message));
      r.end();
    });
  }

  it('serves a CA-signed certificate for its node; refuses callers without the apiserver\'s client certificate', async () => {
    const node = await cluster!.client.resource<Node>('nodes').get(undefined, nodeName);
    const { connect } = await import('node:tls');
    const peer = await new Promise<{ cn: string; authorized: boolean }>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: node.status!.daemonEndpoints!.kubeletEndpoint!.Port, ca: cluster!.api.caPem, checkServerIdentity: () => undefined }, () => {
        resolve({ cn: String(s.getPeerCertificate().subject.CN), authorized: s.authorized });
        s.end();
      });
      s.on('error', reject);
    });
    expect(peer).toEqual({ cn: `system:node:${nodeName}`, authorized: true });

    expect(await direct({})).toBe(401);
    expect(await direct({ token: cluster!.api.nodeToken(nodeName) })).toBe(403);
    expect(await direct({ token: 'not-a-token' })).toBe(401);
    // The apiserver's own name on a certificate from another CA does not pass.
    const forged = await sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/O=system:masters/CN=kube-apiserver-kubelet-client',
      '-keyout', join(dir, 'forged.key'), '-out', join(dir, 'forged.crt')]);
    expect(forged.code).toBe(0);
    expect(await direct({ cert: await readFile(join(dir, 'forged.crt'), 'utf8'), key: await readFile(join(dir, 'forged.key'), 'utf8') })).toBe(401);
    // The real thing: the apiserver's client pair from its cert dir.
    const cert = await readFile(join(cluster!.api.certDir, 'apiserver-kubelet-client.crt'), 'utf8');
    const key = await readFile(join(cluster!.api.certDir, 'apiserver-kubelet-client.key'), 'utf8');
    expect(await direct({ cert, key })).toBe(200);
    // An administrator's token, reviewed by the apiserver, also passes.
    expect(await direct({ token: cluster!.api.adminToken })).toBe(200);
  });
});

/** A running `kubectl port-forward pod/<pod> <local>:<remote>`, ready once it printed its "Forwarding from" line. */
async function portForward(pod: string, remote: number, env: Record<string, string> = {}): Promise<{ port: number; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const child = spawn('kubectl', ['--kubeconfig', cluster!.api.kubeconfigPath, '--cache-dir', join(dir, 'cache'), '-n', ns, 'port-forward', `pod/${pod}`, `${port}:${remote}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  forwards.push(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  await waitFor(() => text.includes('Forwarding from') || child.exitCode !== null, { timeout: 20_000, message: 'kubectl port-forward to listen' });
  if (child.exitCode !== null) throw new Error(`kubectl port-forward exited: ${text}`);
  return { port, child, output: () => text };
}

/** GET / on a local port: the body, or the error. */
async function get(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/hello`, { signal: AbortSignal.timeout(15_000) });
    return `${res.status} ${await res.text()}`;
  } catch (err) {
    return `error: ${(err as Error).message}: ${String((err as Error & { cause?: Error }).cause?.message ?? '')}`;
  }
}

describe('kubectl port-forward through the apiserver and the agent', () => {
  // kubectl 1.32 tunnels SPDY in a WebSocket by default; KUBECTL_PORT_FORWARD_WEBSOCKETS=false makes it speak SPDY/3.1 directly (its fallback).
  it.each([
    ['WebSocket (SPDY/3.1+portforward.k8s.io)', 'websocket', {}],
    ['SPDY/3.1', 'spdy', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
  ])('20 concurrent requests through one port-forward over %s are all answered by the pod', async (_name, transport, env) => {
    const sessions = () => cluster!.process(nodeName).logs().split('\n').filter((l) => l.includes('port-forward session opened') && l.includes(`"transport":"${transport}"`)).length;
    const before = sessions();
    const pf = await portForward('web', 8080, env);
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(pf.port)));
    for (const a of answers) expect(a).toMatch(/^200 \{"pod":"web".*"path":"\/hello"/);
    // And again on the same session (new streams on one SPDY connection).
    const again = await Promise.all(Array.from({ length: 20 }, () => get(pf.port)));
    expect(again.filter((a) => a.startsWith('200 '))).toHaveLength(20);
    expect(pf.child.exitCode).toBeNull();
    pf.child.kill('SIGTERM');
    // The agent served it over the transport asked for (kubectl would silently fall back to SPDY if the WebSocket were refused).
    expect(sessions()).toBeGreaterThan(before);
    expect(cluster!.api.logs()).not.toContain('Invalid Sec-WebSocket-Protocol');
  });

  it('a closed port: that connection is closed with an error message; another forward keeps working', async () => {
    const good = await portForward('web', 8080);
    const closed = await portForward('web', 9999);
    const failed = await get(closed.port);
    expect(failed).toMatch(/^error/);
    await waitFor(() => closed.output().includes('error forwarding port 9999'), { timeout: 10_000, message: 'kubectl to print the error' });
    expect(closed.output()).toContain('connection refused');
    // The other session is untouched.
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(good.port)));
    expect(answers.filter((a) => a.startsWith('200 '))).toHaveLength(10);
    good.child.kill('SIGTERM');
    closed.child.kill('SIGTERM');
  });
});

describe('kubectl top through metrics.k8s.io', () => {
  it('top pods shows a CPU burner\'s usage as Docker measures it, and plausible memory; top nodes shows the node', async () => {
    await cluster!.client.resource<Pod>('pods').create(shellPod('burner', ['sh', '-c', 'trap "exit 0" TERM; while :; do :; done']));
    await podPhase('burner', 'Running');
    const millicores = await waitFor(
      async () => {
        const r = await kubectl(['top', 'pod', 'burner', '--no-headers']);
        const m = /^burner\s+(\d+)m\s+(\d+)Mi/m.exec(r.stdout.toString());
        return m && Number(m[1]) > 0 ? { cpu: Number(m[1]), mem: Number(m[2]) } : undefined;
      },
      { timeout: 30_000, message: 'kubectl top pod burner to show usage' },
    );
    // The engine's own view of the same container, for comparison: a busy loop gets close to a core on an idle
    // machine, but this one is shared (load average well above its two cores), so both only have to agree it is busy.
    const id = (await sh('docker', ['-H', dockerHost, 'ps', '-q', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--filter', 'label=io.flotilla.pod.name=burner', '--filter', 'label=io.flotilla.type=container'])).stdout.toString().trim();
    const dockerPct = Number.parseFloat((await sh('docker', ['-H', dockerHost, 'stats', '--no-stream', '--format', '{{.CPUPerc}}', id])).stdout.toString());
    console.info(`kubectl top pod burner: ${millicores.cpu}m ${millicores.mem}Mi; docker stats: ${dockerPct}% of one core`);
    expect(millicores.cpu).toBeGreaterThan(50);
    expect(millicores.cpu).toBeLessThan(1200);
    expect(dockerPct).toBeGreaterThan(5);
    expect(millicores.mem).toBeLessThan(64);
    const all = await kubectl(['top', 'pods']);
    expect(all.stdout.toString()).toMatch(/^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);
    expect(all.stdout.toString()).toContain('burner');
    const nodes = await kubectl(['top', 'nodes']);
    expect(nodes.code).toBe(0);
    expect(nodes.stdout.toString()).toMatch(new RegExp(`^${nodeName}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`, 'm'));
    await cluster!.client.resource<Pod>('pods').delete(ns, 'burner');
  });
});

/** Median of numbers. */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('benchmark (printed, not asserted beyond sanity)', () => {
  it('kubectl exec -- true vs docker exec; port-forward download vs the pod IP directly', async () => {
    const n = 10;
    const container = (await sh('docker', ['-H', dockerHost, 'ps', '-q', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--filter', 'label=io.flotilla.pod.name=sh', '--filter', 'label=io.flotilla.type=container'])).stdout.toString().trim();
    expect(container).not.toBe('');
    const kubectlMs: number[] = [];
    const dockerMs: number[] = [];
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      expect((await kubectl(['exec', 'sh', '--', 'true'])).code).toBe(0);
      kubectlMs.push(performance.now() - t);
      t = performance.now();
      expect((await sh('docker', ['-H', dockerHost, 'exec', container, 'true'])).code).toBe(0);
      dockerMs.push(performance.now() - t);
    }

    // 64 MiB sent raw by busybox nc in the pod (httpd caps out below the transport), read over TCP through port-forward and straight from the pod IP.
    const size = 64 * 1024 * 1024;
    const setup = await kubectl(['exec', 'sh', '--', 'sh', '-c', 'dd if=/dev/urandom of=/tmp/big bs=1M count=64 2>/dev/null; nc -ll -p 8082 -e cat /tmp/big >/dev/null 2>&1 & echo ok']);
    expect(setup.stdout.toString()).toContain('ok');
    const pod = await cluster!.client.resource<Pod>('pods').get(ns, 'sh');
    const { connect } = await import('node:net');
    const download = (host: string, port: number) =>
      new Promise<number>((resolve, reject) => {
        const t = performance.now();
        let got = 0;
        const s = connect({ host, port });
        s.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= size) s.destroy();
        });
        s.on('close', () => (got >= size ? resolve(size / 1024 / 1024 / ((performance.now() - t) / 1000)) : reject(new Error(`only ${got} bytes from ${host}:${port}`))));
        s.on('error', reject);
      });
    await waitFor(() => download(pod.status!.podIP!, 8082).then(() => true, () => false), { timeout: 20_000, message: 'nc in the pod serving' });
    const pf = await portForward('sh', 8082);
    const direct = [await download(pod.status!.podIP!, 8082), await download(pod.status!.podIP!, 8082)];
    const forwarded = [await download('127.0.0.1', pf.port), await download('127.0.0.1', pf.port)];
    pf.child.kill('SIGTERM');
    const report = {
      kubectlExecMedianMs: Math.round(median(kubectlMs)),
      dockerExecMedianMs: Math.round(median(dockerMs)),
      execRatio: +(median(kubectlMs) / median(dockerMs)).toFixed(2),
      directMiBps: direct.map((x) => Math.round(x)),
      portForwardMiBps: forwarded.map((x) => Math.round(x)),
      portForwardRatio: +(Math.max(...forwarded) / Math.max(...direct)).toFixed(3),
    };
    console.info(`streams benchmark: ${JSON.stringify(report)}`);
    expect(report.portForwardRatio).toBeGreaterThan(0);
  }, 240_000);
});
