import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, runKubectl, startApiServer, type KubectlResult, type TestApiServer } from '../../src/index.js';

// The real kubectl (1.32) on the OpenAPI v3 documents (`explain`, client-side
// apply's merge keys) and on server-side apply: managedFields, a conflict
// between two field managers, --force-conflicts, pruning of an omitted field.

const ns = 'e2e-apply';

const deployment = (opts: { replicas?: number; image?: string; labels?: string; sidecar?: boolean } = {}) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {${opts.labels ?? 'app: web'}}
spec:
${opts.replicas === undefined ? '' : `  replicas: ${opts.replicas}\n`}  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ${opts.image ?? 'flotilla/echo:1'}
          ports: [{containerPort: 8080}]
          env: [{name: A, value: "1"}]
${opts.sidecar ? '        - name: side\n          image: flotilla/busybox:1\n' : ''}`;

describe('kubectl explain and apply --server-side against flotilla', () => {
  let server: TestApiServer;
  let dir: string;
  const kubectl = (...args: string[]): Promise<KubectlResult> => runKubectl(server.kubeconfigPath, args, { cacheDir: join(dir, 'cache') });
  const ok = async (...args: string[]): Promise<string> => {
    const run = await kubectl(...args);
    expect(run.code, `kubectl ${args.join(' ')}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);
    return run.stdout;
  };
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const get = async (name: string) => JSON.parse(await ok('get', 'deploy', name, '-n', ns, '-o', 'json', '--show-managed-fields'));

  beforeAll(async () => {
    server = await startApiServer();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-apply-'));
    const res = await apiRequest(server.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('explain works for every kind discovery lists', async () => {
    const kinds = (await ok('api-resources', '--verbs=get', '-o', 'name')).split('\n').filter((k) => k && !k.endsWith('.metrics.k8s.io'));
    expect(kinds.length).toBeGreaterThan(10);
    for (const kind of kinds) {
      const out = await ok('explain', kind);
      expect(out, kind).toMatch(/^KIND:\s+\S+/m);
      expect(out, kind).toMatch(/^\s+metadata\s+<ObjectMeta>/m);
    }
  });

  it('explain of nested fields and --recursive', async () => {
    const containers = await ok('explain', 'pod.spec.containers');
    expect(containers).toMatch(/FIELD:\s+containers <\[\]Container>/);
    expect(containers).toMatch(/^\s+image\s+<string>/m);
    expect(containers).toMatch(/^\s+ports\s+<\[\]ContainerPort>/m);
    expect(await ok('explain', 'deployment.spec.strategy.rollingUpdate')).toMatch(/^\s+maxSurge\s+</m);
    expect(await ok('explain', 'svc.spec.ports.targetPort')).toMatch(/FIELD:\s+targetPort/);
    const recursive = await ok('explain', 'deployment', '--recursive');
    for (const f of ['replicas', 'strategy', 'rollingUpdate', 'containers', 'livenessProbe', 'matchLabels']) expect(recursive).toMatch(new RegExp(`^\\s+${f}\\s+<`, 'm'));
    const missing = await kubectl('explain', 'deployment.spec.replicaz');
    expect(missing.code).not.toBe(0);
  });

  it('apply --server-side: create, update, conflict between two managers, --force-conflicts, an omitted field removed', async () => {
    expect(await ok('apply', '--server-side', '--field-manager', 'a', '-n', ns, '-f', await file('a.yaml', deployment({ replicas: 2, labels: 'app: web, tier: front' })))).toContain('deployment.apps/web serverside-applied');
    let got = await get('web');
    expect(got.spec.replicas).toBe(2);
    const a = got.metadata.managedFields.find((m: { manager: string }) => m.manager === 'a');
    expect(a).toMatchObject({ operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1' });
    expect(a.fieldsV1['f:spec']['f:replicas']).toEqual({});
    expect(a.fieldsV1['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"web"}']['.']).toEqual({});
    expect(await ok('get', 'deploy', 'web', '-n', ns, '-o', 'yaml', '--show-managed-fields')).toMatch(/manager: a\n\s+operation: Apply/);

    // Update by the same manager.
    await ok('apply', '--server-side', '--field-manager', 'a', '-n', ns, '-f', await file('a.yaml', deployment({ replicas: 3, labels: 'app: web, tier: front' })));
    expect((await get('web')).spec.replicas).toBe(3);

    // Another manager changing replicas: a conflict, exactly as kubectl prints it; nothing changes.
    const conflict = await kubectl('apply', '--server-side', '--field-manager', 'b', '-n', ns, '-f', await file('b.yaml', deployment({ replicas: 5 })));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('Apply failed with 1 conflict: conflict with "a": .spec.replicas');
    expect(conflict.stderr).toContain('--force-conflicts');
    expect((await get('web')).spec.replicas).toBe(3);

    // --dry-run=server shows the result and stores nothing.
    const dry = JSON.parse(await ok('apply', '--server-side', '--force-conflicts', '--dry-run=server', '--field-manager', 'b', '-n', ns, '-o', 'json', '-f', join(dir, 'b.yaml')));
    expect(dry.spec.replicas).toBe(5);
    expect((await get('web')).spec.replicas).toBe(3);

    // --force-conflicts: b takes replicas from a.
    await ok('apply', '--server-side', '--force-conflicts', '--field-manager', 'b', '-n', ns, '-f', join(dir, 'b.yaml'));
    got = await get('web');
    expect(got.spec.replicas).toBe(5);
    const owners = Object.fromEntries(got.metadata.managedFields.map((m: { manager: string; fieldsV1: any }) => [m.manager, m.fieldsV1]));
    expect(owners.a['f:spec']['f:replicas']).toBeUndefined();
    expect(owners.b['f:spec']['f:replicas']).toEqual({});

    // a now omits the tier label it alone applied: it is removed; app (also b's) stays.
    await ok('apply', '--server-side', '--field-manager', 'a', '-n', ns, '-f', await file('a.yaml', deployment({})));
    got = await get('web');
    expect(got.metadata.labels).toEqual({ app: 'web' });
    expect(got.spec.replicas).toBe(5);

    // b omits replicas, which nobody else owns: removed, so the default (1) comes back.
    await ok('apply', '--server-side', '--field-manager', 'b', '-n', ns, '-f', await file('b.yaml', deployment({})));
    expect((await get('web')).spec.replicas).toBe(1);
  });

  it('client-side apply still works, with strategic merge of containers and strict validation by the server', async () => {
    const path = await file('csa.yaml', deployment({ replicas: 2 }).replace('name: web\n  labels', 'name: csa\n  labels'));
    expect(await ok('apply', '-n', ns, '-f', path)).toContain('deployment.apps/csa created');
    expect(await ok('apply', '-n', ns, '-f', path)).toContain('deployment.apps/csa unchanged');
    await writeFile(path, deployment({ replicas: 3, image: 'flotilla/echo:2', sidecar: true }).replace('name: web\n  labels', 'name: csa\n  labels'));
    expect(await ok('apply', '-n', ns, '-f', path)).toContain('deployment.apps/csa configured');
    const got = await get('csa');
    expect(got.spec.replicas).toBe(3);
    expect(got.spec.template.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`)).toEqual(['web=flotilla/echo:2', 'side=flotilla/busybox:1']);
    expect(got.metadata.managedFields.map((m: { manager: string; operation: string }) => `${m.manager}/${m.operation}`)).toEqual(['kubectl-client-side-apply/Update']);

    const typo = await kubectl('apply', '-n', ns, '-f', await file('typo.yaml', deployment({ replicas: 1 }).replace('replicas:', 'replicaz:').replace('name: web\n  labels', 'name: typo\n  labels')));
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('replicaz');
  });
});
