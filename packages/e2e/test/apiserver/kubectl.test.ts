import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, runKubectl, startApiServer, type KubectlResult, type TestApiServer } from '../../src/index.js';

// The real kubectl (1.32, on the PATH) with the harness's kubeconfig: the
// commands a newcomer types first. A plain Kubernetes manifest must apply
// unchanged.

const ns = 'e2e-kubectl';

const deployment = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: flotilla/echo:1
          ports:
            - containerPort: 8080
`;

describe('kubectl against flotilla apiserver', () => {
  let server: TestApiServer;
  let dir: string;

  // A private cache dir: kubectl caches discovery per server, and a stale
  // cache from another run must not answer for this server.
  const kubectl = (...args: string[]): Promise<KubectlResult> => runKubectl(server.kubeconfigPath, args, { cacheDir: join(dir, 'cache') });
  const ok = async (...args: string[]): Promise<string> => {
    const run = await kubectl(...args);
    expect(run.code, `kubectl ${args.join(' ')}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);
    return run.stdout;
  };

  beforeAll(async () => {
    server = await startApiServer();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-kubectl-'));
    // The namespace the apply test uses comes from the harness, so that test
    // does not depend on `kubectl create namespace` (tested on its own).
    const res = await apiRequest(server.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('get --raw /version', async () => {
    const version = JSON.parse(await ok('get', '--raw', '/version'));
    expect(version.gitVersion).toMatch(/^v\d+\.\d+\.\d+/);
    expect(version.major).toBeTruthy();
    expect(version.minor).toBeTruthy();
  });

  it('get ns lists the namespaces', async () => {
    const names = (await ok('get', 'ns', '-o', 'name')).split('\n');
    expect(names).toContain(`namespace/${ns}`);
    expect(await ok('get', 'ns')).toMatch(new RegExp(`^${ns}\\s+Active\\s`, 'm'));
  });

  it('create namespace (kubectl sends this one as protobuf), then get it', async () => {
    expect(await ok('create', 'namespace', `${ns}-created`)).toContain(`namespace/${ns}-created created`);
    const got = JSON.parse(await ok('get', 'ns', `${ns}-created`, '-o', 'json'));
    expect(got.status.phase).toBe('Active');
  });

  it('create priorityclass (sent as protobuf), get pc with its columns, delete it', async () => {
    const name = `${ns}-high`;
    expect(await ok('create', 'priorityclass', name, '--value=1000', '--description=e2e')).toContain(`priorityclass.scheduling.k8s.io/${name} created`);
    const got = JSON.parse(await ok('get', 'pc', name, '-o', 'json'));
    expect(got).toMatchObject({ kind: 'PriorityClass', value: 1000, description: 'e2e', preemptionPolicy: 'PreemptLowerPriority' });
    expect(await ok('get', 'pc', name)).toMatch(new RegExp(`^${name}\\s+1000\\s+false\\s`, 'm'));
    expect(await ok('delete', 'pc', name)).toContain('deleted');
  });

  it('apply -f a plain Deployment manifest, get deploy, apply again', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(file, deployment(2));
    // --validate=false: kubectl's schema validation needs the OpenAPI documents.
    expect(await ok('apply', '--validate=false', '-n', ns, '-f', file)).toContain('deployment.apps/web created');

    const got = JSON.parse(await ok('get', 'deploy', 'web', '-n', ns, '-o', 'json'));
    expect(got.kind).toBe('Deployment');
    expect(got.spec.replicas).toBe(2);
    expect(got.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeTruthy();
    expect(await ok('get', 'deploy', '-n', ns)).toMatch(/^web\s/m);

    expect(await ok('apply', '--validate=false', '-n', ns, '-f', file)).toContain('deployment.apps/web unchanged');
    await writeFile(file, deployment(3));
    expect(await ok('apply', '--validate=false', '-n', ns, '-f', file)).toContain('deployment.apps/web configured');
    const scaled = JSON.parse(await ok('get', 'deploy', 'web', '-n', ns, '-o', 'json'));
    expect(scaled.spec.replicas).toBe(3);
  });

  it('reports a missing object as NotFound with exit status 1', async () => {
    const run = await kubectl('get', 'deploy', 'nope', '-n', ns);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('NotFound');
  });
});
