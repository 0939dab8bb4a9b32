/**
 * `kubectl run -it --rm`, `kubectl attach -it` and `kubectl debug` (ephemeral
 * containers) with the real kubectl 1.32 against the real processes: a
 * `flotilla apiserver` and one `flotilla agent` on the machine's Docker
 * engine, interactive sessions under a pseudo-terminal (script(1)).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container, Node, Pod } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { apiRequest } from '../../src/https.js';
import { waitFor } from '../../src/wait-for.js';

const id = randomBytes(3).toString('hex');
const nodeName = `debug-${id}`;
const ns = `debug-${id}`;
const dockerHost = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';

let cluster: TestCluster | undefined;
let dir = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], input = '', timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: out, stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const kubectlArgs = () => ['--kubeconfig', cluster!.api.kubeconfigPath, '--cache-dir', join(dir, 'cache'), '-n', ns];
const kubectl = (args: string[], input?: string) => sh('kubectl', [...kubectlArgs(), ...args], input);
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * kubectl under a pty (script(1)): each line is typed once the output shows
 * what it waits for (the first: kubectl's attach notice), then stdin ends;
 * script keeps the session until kubectl exits and returns its exit code.
 */
async function interactive(args: string[], steps: Array<{ after: string; line: string }>): Promise<Run & { firstMs: number }> {
  const t0 = performance.now();
  let firstMs = -1;
  const cmd = ['kubectl', ...kubectlArgs(), ...args].map(quote).join(' ');
  const child = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
  try {
    for (const step of steps) {
      await waitFor(() => out.includes(step.after) || child.exitCode !== null, { timeout: 60_000, message: `"${step.after}" in the session's output (so far: ${JSON.stringify(out.slice(-300))})` });
      if (firstMs < 0) firstMs = Math.round(performance.now() - t0);
      child.stdin.write(`${step.line}\n`);
    }
    child.stdin.end();
    return { code: await exited, stdout: out, stderr: err, firstMs };
  } finally {
    clearTimeout(timer);
  }
}

/** kubectl's notice once it attaches to a TTY session. */
const ATTACHED = 'If you don\'t see a command prompt, try pressing enter.';

async function podWhere(name: string, ok: (p: Pod) => boolean, what: string): Promise<Pod> {
  return waitFor(
    async () => {
      const p = await cluster!.client.resource<Pod>('pods').get(ns, name).catch(() => undefined);
      return p && ok(p) ? p : undefined;
    },
    { timeout: 60_000, message: `pod ${name} ${what}` },
  );
}

function pod(name: string, containers: Container[]): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { nodeName, restartPolicy: 'Never', terminationGracePeriodSeconds: 1, containers } } as Pod;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-debug-'));
  cluster = await startCluster({
    schedulers: 0,
    controllerManagers: 0,
    apiserver: { extraNodes: [nodeName] },
    nodes: [{ name: nodeName, docker: { host: dockerHost, nodeIP: '127.0.0.1' } }],
  });
  await cluster.client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await cluster.client.resource<Pod>('pods').create(pod('app', [{ name: 'app', image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '31337'] }]));
  await podWhere('app', (p) => p.status?.phase === 'Running', 'Running');
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  await cluster?.stop();
  const left = (await sh('docker', ['-H', dockerHost, 'ps', '-aq', '--filter', `label=io.flotilla.pod.namespace=${ns}`])).stdout.split('\n').filter(Boolean);
  if (left.length) await sh('docker', ['-H', dockerHost, 'rm', '-f', ...left]);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('kubectl run -it --rm and kubectl attach -it', () => {
  it('run -it --rm: an interactive shell in a new pod, its exit code is kubectl\'s, the pod is deleted', async () => {
    const overrides = JSON.stringify({ apiVersion: 'v1', spec: { nodeName, terminationGracePeriodSeconds: 1 } });
    const r = await interactive(
      ['run', '-it', '--rm', 'x', '--image=flotilla/busybox:1', '--image-pull-policy=Never', '--restart=Never', `--overrides=${overrides}`, '--', 'sh'],
      [{ after: ATTACHED, line: 'echo "tty=$(tty) sum=$((40+2))"' }, { after: 'sum=42', line: 'exit 4' }],
    );
    expect(r.stdout).toContain('sum=42');
    // Once: an attach that ended well is not followed by kubectl's fall-back to the logs. (After the deletion kubectl
    // prints the container's termination message, which the agent fills with the output's tail.)
    expect(r.stdout.split('pod "x" deleted')[0]!.split('sum=42').length - 1, JSON.stringify(r.stdout)).toBe(1);
    expect(r.stdout + r.stderr).not.toContain('falling back');
    expect(r.stdout).toMatch(/tty=\/dev\/pts\/\d+/);
    expect(r.stdout).toContain('pod "x" deleted');
    console.info(`kubectl run -it: ${r.firstMs} ms from the command to the attached session`);
    expect(r.code).toBe(4);
    await waitFor(async () => (await cluster!.client.resource<Pod>('pods').get(ns, 'x').catch(() => undefined)) === undefined, { timeout: 30_000, message: 'pod x gone' });
  }, 120_000);

  it('run -i --rm without a terminal: piped stdin reaches the shell, closing it ends the pod; the exit code is kubectl\'s', async () => {
    const overrides = JSON.stringify({ apiVersion: 'v1', spec: { nodeName, terminationGracePeriodSeconds: 1 } });
    const r = await kubectl(
      ['run', '-i', '--rm', 'piped', '--image=flotilla/busybox:1', '--image-pull-policy=Never', '--restart=Never', `--overrides=${overrides}`, '--', 'sh'],
      'echo "piped $((1+1))"\necho "to stderr" >&2\nexit 5\n',
    );
    expect(r.stdout.split('piped 2').length - 1, r.stdout).toBe(1);
    expect(r.stderr).toContain('to stderr');
    expect(r.stderr).not.toContain('falling back');
    expect(r.code, r.stderr).toBe(5);
    await waitFor(async () => (await cluster!.client.resource<Pod>('pods').get(ns, 'piped').catch(() => undefined)) === undefined, { timeout: 30_000, message: 'pod piped gone' });
  }, 120_000);

  it('the container gets stdin, stdinOnce and tty as the pod spec says', async () => {
    await cluster!.client.resource<Pod>('pods').create(pod('stdin', [{ name: 'main', image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command: ['sh'], stdin: true, stdinOnce: true, tty: true }]));
    await podWhere('stdin', (p) => p.status?.phase === 'Running', 'Running');
    const cid = (await sh('docker', ['-H', dockerHost, 'ps', '-q', '--filter', `label=io.flotilla.pod.namespace=${ns}`, '--filter', 'label=io.flotilla.pod.name=stdin', '--filter', 'label=io.flotilla.type=container'])).stdout.trim();
    const cfg = JSON.parse((await sh('docker', ['-H', dockerHost, 'inspect', '--format', '{{json .Config}}', cid])).stdout) as Record<string, unknown>;
    expect(cfg).toMatchObject({ Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: true });
  });

  it('attach -it to a stdin pod: the main process reads what is typed; its exit code lands in the pod\'s status', async () => {
    const r = await interactive(['attach', '-it', 'stdin', '-c', 'main'], [{ after: ATTACHED, line: 'echo "attached $((6*7))"' }, { after: 'attached 42', line: 'exit 3' }]);
    expect(r.stdout).toContain('attached 42');
    // As against the kubelet: attach itself ends in Success.
    expect(r.code).toBe(0);
    const p = await podWhere('stdin', (x) => x.status?.phase === 'Failed', 'Failed');
    expect(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
    // A TTY container's log is its terminal output as is (no multiplexing frames to strip).
    const logs = await kubectl(['logs', 'stdin']);
    expect(logs.stdout).toContain('attached 42');
  }, 120_000);
});

describe('kubectl debug with ephemeral containers', () => {
  it('debug --target -- ps: the ephemeral container sees the target\'s processes, runs once and reports its status', async () => {
    // No pull policy given: the server defaults it (IfNotPresent for a tagged image), which finds the local image.
    const r = await kubectl(['debug', 'pod/app', '--image=flotilla/busybox:1', '--target=app', '--', 'ps']);
    expect(r.code, r.stderr).toBe(0);
    const name = /debug container name to (\S+?)\.?$/m.exec(r.stdout + r.stderr)?.[1];
    expect(name, r.stdout + r.stderr).toMatch(/^debugger-/);
    const p = await podWhere('app', (x) => !!x.status?.ephemeralContainerStatuses?.find((s) => s.name === name)?.state?.terminated, 'ephemeral container terminated');
    const st = p.status!.ephemeralContainerStatuses!.find((s) => s.name === name)!;
    expect(st).toMatchObject({ ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    const logs = await kubectl(['logs', 'app', '-c', name!]);
    // The target's PID namespace: its sleep is PID 1 there.
    expect(logs.stdout).toMatch(/^\s*1\s+\S+\s+.*sleep 31337/m);
    // Never restarted: still the same terminated instance after more syncs.
    await cluster!.client.resource<Pod>('pods').patch(ns, 'app', { metadata: { labels: { poke: '1' } } }, 'merge');
    await new Promise((r2) => setTimeout(r2, 2000));
    const again = (await cluster!.client.resource<Pod>('pods').get(ns, 'app')).status!.ephemeralContainerStatuses!.find((s) => s.name === name)!;
    expect(again.state?.terminated?.containerID).toBe(st.state?.terminated?.containerID);
    const spec = (await cluster!.client.resource<Pod>('pods').get(ns, 'app')).spec!.ephemeralContainers!.find((c) => c.name === name)!;
    expect(spec).toMatchObject({ targetContainerName: 'app', image: 'flotilla/busybox:1' });
  }, 120_000);

  it('debug -it --target: an interactive shell in the pod\'s network and the target\'s processes', async () => {
    const podIP = (await cluster!.client.resource<Pod>('pods').get(ns, 'app')).status!.podIP!;
    const r = await interactive(
      ['debug', '-it', 'pod/app', '--image=flotilla/busybox:1', '--image-pull-policy=Never', '--target=app', '--', 'sh'],
      [{ after: ATTACHED, line: 'echo "pid1: $(tr "\\0" " " </proc/1/cmdline)"; echo "ip: $(ip -4 addr show eth0 | grep -o "inet [0-9.]*")"' }, { after: 'ip: inet', line: 'exit 0' }],
    );
    // The target's PID namespace: PID 1 is its process.
    expect(r.stdout).toContain('pid1: sleep 31337');
    expect(r.stdout).toContain(`ip: inet ${podIP}`);
    console.info(`kubectl debug -it: ${r.firstMs} ms from the command to the attached session`);
    expect(r.code).toBe(0);
  }, 120_000);

  it('pods/ephemeralcontainers: only additions, unique names, no ports or probes, an existing target', async () => {
    const ep = cluster!.api.endpoint();
    const path = `/api/v1/namespaces/${ns}/pods/app/ephemeralcontainers`;
    const get = await apiRequest(ep, 'GET', path);
    expect(get.status).toBe(200);
    expect(get.json()).toMatchObject({ kind: 'Pod', metadata: { name: 'app' } });
    const existing = (get.json() as Pod).spec!.ephemeralContainers ?? [];
    const smp = (c: Record<string, unknown>) => apiRequest(ep, 'PATCH', path, { spec: { ephemeralContainers: [c] } }, { 'content-type': 'application/strategic-merge-patch+json' });
    const base = { image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command: ['true'] };
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ name: 'app', ...base }, 'spec.ephemeralContainers[', 'Duplicate value'],
      [{ name: 'e1', ...base, ports: [{ containerPort: 80 }] }, '.ports', 'cannot be set for an Ephemeral Container'],
      [{ name: 'e2', ...base, readinessProbe: { exec: { command: ['true'] } } }, '.readinessProbe', 'cannot be set for an Ephemeral Container'],
      [{ name: 'e3', ...base, resources: { limits: { cpu: '1' } } }, '.resources', 'cannot be set for an Ephemeral Container'],
      [{ name: 'e4', ...base, targetContainerName: 'ghost' }, '.targetContainerName', 'Not found'],
    ];
    for (const [c, field, msg] of cases) {
      const res = await smp(c);
      expect(res.status, res.text).toBe(422);
      const causes = (res.json() as { details: { causes: Array<{ field: string; message: string }> } }).details.causes;
      expect(causes.some((x) => x.field.includes(field) && x.message.includes(msg)), JSON.stringify(causes)).toBe(true);
    }
    // Removing or changing one that exists is refused (a PUT of the whole list).
    if (existing.length) {
      const cur = get.json() as Pod;
      const removed = await apiRequest(ep, 'PUT', path, { ...cur, spec: { ...cur.spec, ephemeralContainers: existing.slice(1) } });
      expect(removed.status, removed.text).toBe(422);
      expect(removed.text).toContain('may not be removed');
      const changed = await apiRequest(ep, 'PUT', path, { ...cur, spec: { ...cur.spec, ephemeralContainers: [{ ...existing[0]!, image: 'flotilla/echo:1' }, ...existing.slice(1)] } });
      expect(changed.status, changed.text).toBe(422);
      expect(changed.text).toContain('may not be changed');
    }
    // Not through the pod itself: on create, or on an update of the pod.
    const created = await apiRequest(ep, 'POST', `/api/v1/namespaces/${ns}/pods`, { ...pod('eph', [{ name: 'a', image: 'flotilla/busybox:1' }]), spec: { ...pod('eph', [{ name: 'a', image: 'flotilla/busybox:1' }]).spec, ephemeralContainers: [{ name: 'e', image: 'flotilla/busybox:1' }] } });
    expect(created.status, created.text).toBe(422);
    expect(created.text).toContain('spec.ephemeralContainers');
    const viaPod = await apiRequest(ep, 'PATCH', `/api/v1/namespaces/${ns}/pods/app`, { spec: { ephemeralContainers: [{ name: 'sneaky', ...base }] } }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(viaPod.status, viaPod.text).toBe(422);
    // Nothing of the refused writes was stored.
    const after = (await apiRequest(ep, 'GET', path)).json() as Pod;
    expect((after.spec!.ephemeralContainers ?? []).map((c) => c.name)).toEqual(existing.map((c) => c.name));
    // A node may not add ephemeral containers (kubectl debug is a user's right, not the agent's).
    const asNode = await apiRequest(cluster!.api.endpoint(cluster!.api.nodeToken(nodeName)), 'PATCH', path, { spec: { ephemeralContainers: [{ name: 'by-node', ...base }] } }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(asNode.status, asNode.text).toBe(403);
  });
});

describe('per-container CPU and memory on the agent\'s /metrics', () => {
  /** The agent's /metrics (unauthenticated, as every server's); its certificate is the node's, checked against the cluster CA. */
  async function scrape(): Promise<string> {
    const node = await cluster!.client.resource<Node>('nodes').get(undefined, nodeName);
    const port = node.status!.daemonEndpoints!.kubeletEndpoint!.Port;
    return new Promise<string>((resolve, reject) => {
      const r = httpsRequest({ host: '127.0.0.1', port, path: '/metrics', ca: cluster!.api.caPem, checkServerIdentity: () => undefined }, (m) => {
        let t = '';
        m.on('data', (d: Buffer) => (t += d.toString()));
        m.on('end', () => (m.statusCode === 200 ? resolve(t) : reject(new Error(`/metrics answered ${m.statusCode}`))));
      });
      r.on('error', reject);
      r.end();
    });
  }

  it('container_cpu_usage_seconds_total grows for a busy container; container_memory_working_set_bytes is plausible', async () => {
    await cluster!.client.resource<Pod>('pods').create(pod('burner', [{ name: 'spin', image: 'flotilla/busybox:1', imagePullPolicy: 'Never', command: ['sh', '-c', 'trap "exit 0" TERM; while :; do :; done'] }]));
    await podWhere('burner', (p) => p.status?.phase === 'Running', 'Running');
    const series = (text: string, name: string) => {
      const re = new RegExp(`^${name}\\{container="spin",id="[0-9a-f]+",image="flotilla/busybox:1",namespace="${ns}",pod="burner"\\} ([0-9.e+-]+)`, 'm');
      const m = re.exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const first = await waitFor(async () => series(await scrape(), 'container_cpu_usage_seconds_total'), { timeout: 20_000, message: 'the burner\'s cpu series' });
    // The next scrape after the sample's 5 s lifetime has a new sample.
    const later = await waitFor(
      async () => {
        const v = series(await scrape(), 'container_cpu_usage_seconds_total');
        return v !== undefined && v > first ? v : undefined;
      },
      { timeout: 30_000, interval: 1_000, message: 'the cpu counter to grow' },
    );
    const text = await scrape();
    const mem = series(text, 'container_memory_working_set_bytes')!;
    console.info(`burner cpu seconds ${first} -> ${later}; working set ${mem} bytes`);
    expect(later).toBeGreaterThan(first);
    expect(mem).toBeGreaterThan(0);
    expect(mem).toBeLessThan(64 * 1024 * 1024);
    // The app container of another pod is there too; sandboxes are not (as cAdvisor's container label would be "POD").
    expect(text).toMatch(new RegExp(`container_memory_working_set_bytes\\{container="app",[^}]*pod="app"\\}`));
    expect(text).not.toContain('container="POD"');
    await cluster!.client.resource<Pod>('pods').delete(ns, 'burner');
  }, 90_000);
});

describe('pods/proxy, services/proxy and nodes/proxy', () => {
  beforeAll(async () => {
    await cluster!.client.resource<Pod>('pods').create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
      spec: { nodeName, containers: [{ name: 'web', image: 'flotilla/echo:1', imagePullPolicy: 'Never', ports: [{ name: 'http', containerPort: 8080 }] }] },
    } as Pod);
    for (const [name, selector] of [['web', { app: 'web' }], ['nobody', { app: 'none' }]] as const) {
      await cluster!.client.resource('services').create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: ns },
        spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      });
    }
    await podWhere('web', (p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true, 'Ready');
  }, 60_000);

  it('kubectl get --raw through a Service (named target port), a pod and a node\'s agent', async () => {
    const svc = await kubectl(['get', '--raw', `/api/v1/namespaces/${ns}/services/web:80/proxy/via-service?q=1`]);
    expect(svc.code, svc.stderr).toBe(0);
    expect(svc.stdout).toMatch(/"pod":"web".*"path":"\/via-service/);
    const byName = await kubectl(['get', '--raw', `/api/v1/namespaces/${ns}/services/web:http/proxy/`]);
    expect(byName.stdout).toContain('"pod":"web"');
    const pod = await kubectl(['get', '--raw', `/api/v1/namespaces/${ns}/pods/web:8080/proxy/some/path`]);
    expect(pod.code, pod.stderr).toBe(0);
    expect(pod.stdout).toMatch(/"path":"\/some\/path"/);
    // A POST is relayed with its body (authorized as create on pods/proxy).
    const post = await apiRequest(cluster!.api.endpoint(), 'POST', `/api/v1/namespaces/${ns}/pods/web/proxy/posted`, 'hello body', { 'content-type': 'text/plain' });
    expect(post.status, post.text).toBe(200);
    expect(post.text).toContain('/posted');
    // The node's agent over the node channel: its /metrics and its resource summary.
    const metrics = await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/metrics`]);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toContain('container_memory_working_set_bytes{');
    const summary = await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/stats/summary`]);
    expect(JSON.parse(summary.stdout)).toMatchObject({ node: { cpuCores: expect.any(Number) } });
  });

  it('what cannot be reached is a 503 that says why; the caller\'s token is not passed on; a node may not proxy', async () => {
    const ep = cluster!.api.endpoint();
    const closed = await apiRequest(ep, 'GET', `/api/v1/namespaces/${ns}/pods/web:9/proxy/`);
    expect(closed.status, closed.text).toBe(503);
    expect(closed.json()).toMatchObject({ reason: 'ServiceUnavailable' });
    expect(closed.text).toMatch(/ECONNREFUSED|connection refused/);
    const none = await apiRequest(ep, 'GET', `/api/v1/namespaces/${ns}/services/nobody:80/proxy/`);
    expect(none.status).toBe(503);
    expect(none.text).toContain('no endpoints available for service \\"nobody\\"');
    const ghost = await apiRequest(ep, 'GET', `/api/v1/namespaces/${ns}/services/ghost:80/proxy/`);
    expect(ghost.status).toBe(404);
    // The echo server answers with the request's headers: no Authorization among them.
    const echoed = await apiRequest(ep, 'GET', `/api/v1/namespaces/${ns}/pods/web/proxy/headers`, undefined, { 'x-probe': 'seen' });
    expect(echoed.text.toLowerCase()).not.toContain(cluster!.api.adminToken.toLowerCase());
    expect(echoed.text.toLowerCase()).not.toContain('bearer');
    const asNode = await apiRequest(cluster!.api.endpoint(cluster!.api.nodeToken(nodeName)), 'GET', `/api/v1/nodes/${nodeName}/proxy/metrics`);
    expect(asNode.status).toBe(403);
    expect(asNode.text).toContain('nodes/proxy');
  });
});
