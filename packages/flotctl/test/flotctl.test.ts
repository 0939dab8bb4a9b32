/**
 * flotctl against a real control plane (apiserver + etcd, scheduler,
 * controller-manager, three hollow nodes): every verb as a user types it,
 * checked by its output and by what the API then holds.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Deployment, Node, Pod } from '@flotilla/api';
import { repoRoot, startCluster, waitFor, type TestCluster } from '@flotilla/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let cluster: TestCluster;
let work: string;
const ns = `flotctl-${Date.now().toString(36)}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built flotctl in an empty directory with only KUBECONFIG set, as a user would. */
function flotctl(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [join(repoRoot(), 'packages/flotctl/dist/bin/flotctl.js'), ...args],
      { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: work, KUBECONFIG: cluster.api.kubeconfigPath }, timeout: 90_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
    // flotctl may refuse its arguments before reading the input: the closed pipe is not the result (the exit is).
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
  });
}

const app = (replicas: number, image = 'flotilla/echo:1') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: ${image}
        resources: {requests: {cpu: 100m}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${ns}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
`;

beforeAll(async () => {
  cluster = await startCluster({ nodes: ['node-1', 'node-2', 'node-3'] });
  work = await mkdtemp(join(tmpdir(), 'flotctl-e2e-'));
  await cluster.client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(cluster.dumpLogs());
});

afterAll(async () => {
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const deployment = () => cluster.client.resource<Deployment>('deployments').get(ns, 'web');
const rolledOut = async (replicas: number) => {
  const d = await deployment();
  return (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 1) && d.status?.updatedReplicas === replicas && d.status?.availableReplicas === replicas && (d.status?.replicas ?? 0) === replicas;
};

describe('flotctl', () => {
  it('apply: created, then unchanged, then configured — from a file, a directory and stdin', async () => {
    const file = join(work, 'app.yaml');
    await writeFile(file, app(3));
    let r = await flotctl(['apply', '-f', file]);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stdout).toBe('deployment.apps/web created\nservice/web created\n');
    r = await flotctl(['apply', '-f', work]);
    expect(r.stdout).toBe('deployment.apps/web unchanged\nservice/web unchanged\n');
    r = await flotctl(['apply', '-f', '-'], app(4));
    expect(r.stdout).toBe('deployment.apps/web configured\nservice/web unchanged\n');
    expect((await deployment()).spec?.replicas).toBe(4);
    // kubectl and flotctl share the last-applied annotation.
    expect((await deployment()).metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toContain('"replicas":4');
  });

  it('rollout status waits until the Deployment is rolled out', async () => {
    const r = await flotctl(['rollout', 'status', 'deploy/web', '-n', ns, '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('deployment "web" successfully rolled out');
    expect(await rolledOut(4)).toBe(true);
  });

  it('get prints the server\'s table, -o wide/name/yaml/json, -l and -A', async () => {
    let r = await flotctl(['get', 'deploy', '-n', ns]);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/);
    expect(r.stdout.split('\n')[1]).toMatch(/^web\s+4\/4\s+4\s+4\s+\d+s$/);
    r = await flotctl(['get', 'pods', '-n', ns, '-l', 'app=web', '-o', 'name']);
    expect(r.stdout.trim().split('\n')).toHaveLength(4);
    expect(r.stdout).toMatch(/^pod\/web-/);
    r = await flotctl(['get', 'pods', '-n', ns, '-o', 'wide']);
    expect(r.stdout.split('\n')[0]).toMatch(/IP\s+NODE/);
    r = await flotctl(['get', 'deployment', 'web', '-n', ns, '-o', 'yaml']);
    expect(r.stdout).toMatch(/^apiVersion: apps\/v1\nkind: Deployment\n/);
    r = await flotctl(['get', 'svc/web', '-n', ns, '-o', 'json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'Service', spec: { ports: [{ port: 80 }] } });
    r = await flotctl(['get', 'svc', '-A']);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP/);
    expect(r.stdout).toMatch(new RegExp(`${ns}\\s+web\\s+ClusterIP`));
    r = await flotctl(['get', 'deploy,svc', '-n', ns]);
    expect(r.stdout).toContain('deployment.apps/web');
    expect(r.stdout).toContain('service/web');
  });

  it('scale, rollout restart, history and undo', async () => {
    let r = await flotctl(['scale', 'deploy/web', '--replicas=2', '-n', ns]);
    expect(r.stdout).toBe('deployment.apps/web scaled\n');
    await waitFor(() => rolledOut(2), { timeout: 60_000, message: 'web scaled to 2' });
    r = await flotctl(['rollout', 'restart', 'deploy/web', '-n', ns]);
    expect(r.stdout).toBe('deployment.apps/web restarted\n');
    r = await flotctl(['rollout', 'status', 'deploy/web', '-n', ns, '--timeout', '60']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    r = await flotctl(['rollout', 'history', 'deploy/web', '-n', ns]);
    expect(r.stdout).toMatch(/REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    r = await flotctl(['rollout', 'undo', 'deploy/web', '-n', ns]);
    expect(r.stdout).toBe('deployment.apps/web rolled back\n');
    await waitFor(async () => (await deployment()).spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] === undefined, { timeout: 10_000, message: 'the restart annotation gone after undo' });
    await waitFor(() => rolledOut(2), { timeout: 60_000, message: 'web rolled back' });
  });

  it('describe shows sections and Events', async () => {
    const r = await flotctl(['describe', 'deploy', 'web', '-n', ns]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Name:\s+web\nNamespace:\s+flotctl-/);
    expect(r.stdout).toMatch(/Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available/);
    expect(r.stdout).toContain('ScalingReplicaSet');
    const svc = await flotctl(['describe', 'svc/web', '-n', ns]);
    expect(svc.stdout).toMatch(/IP:\s+10\.\d+\.\d+\.\d+/);
  });

  it('why explains a pod no node can fit, and status lists it', async () => {
    await cluster.client.resource<Pod>('pods').create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'huge', namespace: ns },
      spec: { containers: [{ name: 'app', image: 'flotilla/echo:1', resources: { requests: { cpu: '64' } } }] },
    });
    const r = await waitFor(async () => {
      const res = await flotctl(['why', 'pod/huge', '-n', ns]);
      return res.stdout.includes('cpu wants') ? res : undefined;
    }, { timeout: 30_000, message: 'the scheduler to report too little cpu' });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^pod huge is Pending: it is not scheduled on any node\.\n  - the scheduler says: 0\/3 nodes are available: node-1: cpu wants 64, [\d.m]+ free; node-2: /);
    expect(r.stdout).toContain('no node has enough unreserved CPU');
    const st = await flotctl(['status']);
    expect(st.stdout).toMatch(/node-1\s+Ready/);
    expect(st.stdout).toContain(`${ns}/huge: pending`);
    const ok = await flotctl(['why', `pod/${(await cluster.client.resource<Pod>('pods').list(ns, { labelSelector: 'app=web' })).items[0]!.metadata.name}`, '-n', ns]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/is Running and Ready on node node-\d/);
  });

  it('cordon, drain and uncordon move the pods off a node', async () => {
    const podsOn = async (node: string) => (await cluster.client.resource<Pod>('pods').list(ns, { fieldSelector: `spec.nodeName=${node}` })).items.filter((p) => !p.metadata.deletionTimestamp && p.metadata.labels?.app === 'web');
    await cluster.client.resource<Deployment>('deployments').patch(ns, 'web', { spec: { replicas: 6 } });
    await waitFor(() => rolledOut(6), { timeout: 60_000, message: 'web at 6' });
    const victim = (await podsOn('node-2')).length ? 'node-2' : 'node-1';
    expect((await podsOn(victim)).length).toBeGreaterThan(0);
    let r = await flotctl(['cordon', 'node-3']);
    expect(r.stdout).toBe('node/node-3 cordoned\n');
    expect((await cluster.client.resource<Node>('nodes').get(undefined, 'node-3')).spec?.unschedulable).toBe(true);
    r = await flotctl(['uncordon', 'node-3']);
    expect(r.stdout).toBe('node/node-3 uncordoned\n');
    r = await flotctl(['drain', victim, '--grace-period', '0', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe(`node/${victim} drained`);
    expect(await podsOn(victim)).toEqual([]);
    await waitFor(() => rolledOut(6), { timeout: 60_000, message: 'web back at 6 elsewhere' });
    await flotctl(['uncordon', victim]);
  });

  it('bad input: errors name the file, document and line; nothing is changed', async () => {
    const bad = join(work, 'bad.yaml');
    await writeFile(bad, `${app(9)}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n`);
    let r = await flotctl(['apply', '-f', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*bad\.yaml: document 3 \(line \d+\): YAML: /);
    expect((await deployment()).spec?.replicas).toBe(6);
    await writeFile(bad, `apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n`);
    r = await flotctl(['apply', '-f', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('document 1 (line 1): no matches for kind "Frobnicator" in version "v1"');
    await writeFile(bad, `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: ${ns}}\nspec: {replicas: -1, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n`);
    r = await flotctl(['apply', '-f', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('spec.replicas');
    r = await flotctl(['get', 'frobs']);
    expect(r).toMatchObject({ code: 1, stderr: 'error: the server doesn\'t have a resource type "frobs"\n' });
    r = await flotctl(['get', 'pod', 'nope', '-n', ns]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('NotFound');
  });

  it('delete -f removes what the manifest names and waits until it is gone', async () => {
    const r = await flotctl(['delete', '-f', join(work, 'app.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('deployment.apps/web deleted\nservice/web deleted\n');
    await expect(deployment()).rejects.toMatchObject({ reason: 'NotFound' });
  });
});
