import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, etcdEndpoints, runKubectl, startApiServer, type KubectlResult, type TestApiServer } from '../../src/index.js';

// ConfigMaps and Secrets through the real kubectl 1.32 (which sends typed
// creates as protobuf), a real apiserver process and real etcd.

const ns = 'e2e-config';
const execFileP = promisify(execFile);

describe('ConfigMaps and Secrets with the real kubectl', () => {
  let server: TestApiServer;
  let dir: string;

  const kubectl = (...args: string[]): Promise<KubectlResult> => runKubectl(server.kubeconfigPath, ['-n', ns, ...args], { cacheDir: join(dir, 'cache') });
  const ok = async (...args: string[]): Promise<string> => {
    const run = await kubectl(...args);
    expect(run.code, `kubectl ${args.join(' ')}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0);
    return run.stdout;
  };
  const fails = async (...args: string[]): Promise<string> => {
    const run = await kubectl(...args);
    expect(run.code, `kubectl ${args.join(' ')} should fail\nstdout: ${run.stdout}`).not.toBe(0);
    return run.stderr;
  };
  /** The raw value etcd holds for a key, as `etcdctl get` prints it. */
  const etcdGet = async (key: string): Promise<string> => {
    const { stdout } = await execFileP('etcdctl', ['--endpoints', etcdEndpoints().join(','), 'get', key, '--print-value-only'], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'latin1' });
    return stdout;
  };

  beforeAll(async () => {
    server = await startApiServer();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-config-'));
    const res = await apiRequest(server.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
    await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '1', '-subj', '/CN=e2e']);
    await writeFile(join(dir, 'app.properties'), 'color=blue\nsize=3\n');
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('create configmap --from-literal --from-file, get (NAME DATA AGE), -o yaml', async () => {
    expect(await ok('create', 'configmap', 'app', '--from-literal=mode=prod', '--from-literal=level=debug', `--from-file=${join(dir, 'app.properties')}`)).toContain('configmap/app created');
    expect(await ok('get', 'configmap')).toMatch(/^NAME\s+DATA\s+AGE\napp\s+3\s+\d+s$/m);
    const cm = JSON.parse(await ok('get', 'cm', 'app', '-o', 'json'));
    expect(cm.data).toEqual({ mode: 'prod', level: 'debug', 'app.properties': 'color=blue\nsize=3\n' });
  });

  it('create secret generic and tls; get shows NAME TYPE DATA AGE and the values are base64', async () => {
    expect(await ok('create', 'secret', 'generic', 'db', '--from-literal=password=s3cr3t-value', '--from-literal=user=admin')).toContain('secret/db created');
    expect(await ok('create', 'secret', 'tls', 'web-tls', `--cert=${join(dir, 'tls.crt')}`, `--key=${join(dir, 'tls.key')}`)).toContain('secret/web-tls created');
    const table = await ok('get', 'secrets');
    expect(table).toMatch(/^NAME\s+TYPE\s+DATA\s+AGE$/m);
    expect(table).toMatch(/^db\s+Opaque\s+2\s+\d+s$/m);
    expect(table).toMatch(/^web-tls\s+kubernetes\.io\/tls\s+2\s+\d+s$/m);
    const db = JSON.parse(await ok('get', 'secret', 'db', '-o', 'json'));
    expect(Buffer.from(db.data.password, 'base64').toString()).toBe('s3cr3t-value');
    expect(await ok('get', 'secrets', '--field-selector', 'type=kubernetes.io/tls', '-o', 'name')).toBe('secret/web-tls\n');
  });

  it('apply with stringData stores it in data only', async () => {
    const file = join(dir, 'string-data.yaml');
    await writeFile(file, `apiVersion: v1\nkind: Secret\nmetadata:\n  name: sd\nstringData:\n  token: plain-text\ndata:\n  other: ${Buffer.from('x').toString('base64')}\n`);
    await ok('apply', '-f', file);
    const s = JSON.parse(await ok('get', 'secret', 'sd', '-o', 'json'));
    expect(s.stringData).toBeUndefined();
    expect(s.type).toBe('Opaque');
    expect(Buffer.from(s.data.token, 'base64').toString()).toBe('plain-text');
  });

  it('refuses bad input with a 422 naming the field, and stores nothing', async () => {
    const tls = join(dir, 'bad-tls.yaml');
    await writeFile(tls, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad-tls\ntype: kubernetes.io/tls\nstringData:\n  tls.key: k\n');
    expect(await fails('apply', '-f', tls)).toMatch(/data\[tls\.crt\]: Required value/);
    const key = join(dir, 'bad-key.yaml');
    await writeFile(key, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad-key\ndata:\n  "a b": x\n');
    expect(await fails('apply', '-f', key)).toMatch(/data\[a b\]: Invalid value: "a b": a valid config key/);
    const b64 = join(dir, 'bad-b64.yaml');
    await writeFile(b64, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad-b64\ndata:\n  k: "hunter2!"\n');
    const err = await fails('apply', '-f', b64);
    expect(err).toMatch(/data\[k\]/);
    expect(err).not.toContain('hunter2');
    const none = await kubectl('get', 'secret', 'bad-tls');
    expect(none.code).not.toBe(0);
  });

  it('immutable: data changes are refused with 422, metadata changes are not', async () => {
    const file = join(dir, 'frozen.yaml');
    const body = (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  k: ${v}\n`;
    await writeFile(file, body('one'));
    await ok('apply', '-f', file);
    await writeFile(file, body('two'));
    expect(await fails('apply', '-f', file)).toMatch(/data: Forbidden: field is immutable when `immutable` is set/);
    await ok('label', 'configmap', 'frozen', 'team=a');
    const res = await apiRequest(server.endpoint(), 'PATCH', `/api/v1/namespaces/${ns}/configmaps/frozen`, { data: { k: 'three' } }, { 'content-type': 'application/merge-patch+json' });
    expect(res.status).toBe(422);
    expect(JSON.parse(await ok('get', 'cm', 'frozen', '-o', 'json')).data).toEqual({ k: 'one' });
  });

  it('describe and delete', async () => {
    const d = await ok('describe', 'secret', 'db');
    expect(d).toMatch(/password:\s+12 bytes/);
    expect(d).not.toContain('s3cr3t-value');
    await ok('delete', 'configmap', 'app');
    await ok('delete', 'secret', 'db');
    expect(await ok('get', 'secrets', '-o', 'name')).not.toContain('secret/db');
  });
  void etcdGet;
});
