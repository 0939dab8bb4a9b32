import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { apiRequest, etcdEndpoints, openWatch, runKubectl, startApiServer, waitFor, type KubectlResult, type TestApiServer } from '../../src/index.js';

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

  it('create secret docker-registry (kubernetes.io/dockerconfigjson) and configmap --from-env-file', async () => {
    expect(await ok('create', 'secret', 'docker-registry', 'reg', '--docker-server=registry.example', '--docker-username=u', '--docker-password=reg-pass')).toContain('secret/reg created');
    const reg = JSON.parse(await ok('get', 'secret', 'reg', '-o', 'json'));
    expect(reg.type).toBe('kubernetes.io/dockerconfigjson');
    expect(JSON.parse(Buffer.from(reg.data['.dockerconfigjson'], 'base64').toString()).auths['registry.example'].username).toBe('u');
    await writeFile(join(dir, 'app.env'), 'A=1\nB=two\n');
    await ok('create', 'configmap', 'from-env', `--from-env-file=${join(dir, 'app.env')}`);
    expect(JSON.parse(await ok('get', 'cm', 'from-env', '-o', 'json')).data).toEqual({ A: '1', B: 'two' });
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

  it('fieldValidation: kubectl (Strict) refuses an unknown field with 422 naming it; Warn answers with a Warning kubectl prints; Ignore stores as sent', async () => {
    const file = join(dir, 'typo.yaml');
    const manifest = (extra: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\nspec:\n  replicaz: 3\n  selector:\n    matchLabels:\n      app: typo\n  template:\n    metadata:\n      labels:\n        app: typo\n    spec:\n      containers:\n        - name: app\n          image: flotilla/busybox:1\n${extra}`;
    await writeFile(file, manifest(''));
    expect(await fails('apply', '-f', file)).toMatch(/unknown field "spec\.replicaz"/);
    expect(await fails('create', '-f', file)).toMatch(/unknown field "spec\.replicaz"/);
    const warned = await kubectl('apply', '-f', file, '--validate=warn');
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/Warning: unknown field "spec\.replicaz"/);
    // Updates and patches are judged on what they bring.
    const res = await apiRequest(server.endpoint(), 'PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/typo?fieldValidation=Strict`, { spec: { paused: true, replicsa: 1 } }, { 'content-type': 'application/merge-patch+json' });
    expect(res.status).toBe(422);
    expect(res.json().details.causes[0].field).toBe('spec.replicsa');
    const ok2 = await apiRequest(server.endpoint(), 'PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/typo?fieldValidation=Strict`, { metadata: { labels: { fine: 'yes' } } }, { 'content-type': 'application/merge-patch+json' });
    expect(ok2.status, ok2.text).toBe(200);
    expect(res.json().message).toContain('strict decoding error: unknown field "spec.replicsa"');
    const ignored = await apiRequest(server.endpoint(), 'POST', `/api/v1/namespaces/${ns}/configmaps?fieldValidation=Ignore`, { metadata: { name: 'ignored' }, dataa: { k: 'v' } });
    expect(ignored.status, ignored.text).toBe(201);
    expect(ignored.headers.warning).toBeUndefined();
    const dup = await apiRequest(server.endpoint(), 'POST', `/api/v1/namespaces/${ns}/configmaps?fieldValidation=Strict`, '{"metadata":{"name":"dup"},"data":{"k":"1","k":"2"}}', { 'content-type': 'application/json' });
    expect(dup.status).toBe(422);
    expect(dup.json().message).toContain('duplicate field "data.k"');
    // Warn (the default) judges unknown fields only: the duplicate check is a second parse, kept off the controllers' writes.
    const dupWarn = await apiRequest(server.endpoint(), 'POST', `/api/v1/namespaces/${ns}/configmaps`, '{"metadata":{"name":"dup"},"data":{"k":"1","k":"2"},"extra":1}', { 'content-type': 'application/json' });
    expect(dupWarn.status).toBe(201);
    expect(String(dupWarn.headers.warning)).toContain('unknown field \\"extra\\"');
    const bad = await apiRequest(server.endpoint(), 'POST', `/api/v1/namespaces/${ns}/configmaps?fieldValidation=Sometimes`, { metadata: { name: 'x' } });
    expect(bad.status).toBe(400);
    await ok('delete', 'deployment', 'typo');
  });

  it('stores Secrets encrypted in etcd (etcdctl shows no value), ConfigMaps plain; the key file is 0600; no value in the logs', async () => {
    await ok('create', 'secret', 'generic', 'enc', '--from-literal=password=very-s3cret-password');
    const raw = await etcdGet(`${server.prefix}/secrets/${ns}/enc`);
    expect(raw.startsWith('k8s:enc:aesgcm:v1:')).toBe(true);
    expect(raw).not.toContain('very-s3cret-password');
    expect(raw).not.toContain(Buffer.from('very-s3cret-password').toString('base64'));
    expect(raw).not.toContain('"data"');
    expect(await etcdGet(`${server.prefix}/configmaps/${ns}/frozen`)).toContain('"data"');
    const st = await stat(join(server.certDir, 'encryption-config.yaml'));
    expect(st.mode & 0o777).toBe(0o600);
    // Read back through list, get and watch (the store's shared watch decrypts too).
    const s = JSON.parse(await ok('get', 'secret', 'enc', '-o', 'json'));
    expect(Buffer.from(s.data.password, 'base64').toString()).toBe('very-s3cret-password');
    const watch = await openWatch(server.endpoint(), `/api/v1/namespaces/${ns}/secrets?watch=1&fieldSelector=metadata.name=enc&resourceVersion=${s.metadata.resourceVersion}`);
    await ok('patch', 'secret', 'enc', '--type=merge', '-p', JSON.stringify({ stringData: { password: 'rotated-s3cret-password' } }));
    const again = JSON.parse(await ok('get', 'secrets', '-o', 'json')).items.find((x: { metadata: { name: string } }) => x.metadata.name === 'enc');
    expect(Buffer.from(again.data.password, 'base64').toString()).toBe('rotated-s3cret-password');
    await waitFor(() => watch.events.some((e) => e.type === 'MODIFIED'), { timeout: 10_000, message: 'the MODIFIED event of the secret' });
    watch.close();
    const ev = watch.events.find((e) => e.type === 'MODIFIED')!;
    expect(Buffer.from(ev.object.data.password, 'base64').toString()).toBe('rotated-s3cret-password');
    await server.restart();
    const afterRestart = JSON.parse(await ok('get', 'secret', 'enc', '-o', 'json'));
    expect(Buffer.from(afterRestart.data.password, 'base64').toString()).toBe('rotated-s3cret-password');
    const logs = server.logs();
    for (const secretText of ['very-s3cret-password', 'rotated-s3cret-password', 's3cr3t-value']) {
      expect(logs).not.toContain(secretText);
      expect(logs).not.toContain(Buffer.from(secretText).toString('base64'));
    }
  });

  it('rotates keys with --encryption-provider-config: a new first key writes, the old key still reads', async () => {
    const generated = parseYaml(await readFile(join(server.certDir, 'encryption-config.yaml'), 'utf8'));
    const oldKeys = generated.resources[0].providers[0].aesgcm.keys;
    const rotated = {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'EncryptionConfiguration',
      resources: [{ resources: ['secrets'], providers: [{ aesgcm: { keys: [{ name: 'key-rotated', secret: randomBytes(32).toString('base64') }, ...oldKeys] } }, { identity: {} }] }],
    };
    const file = join(dir, 'rotated.yaml');
    await writeFile(file, stringifyYaml(rotated), { mode: 0o600 });
    // A second apiserver on the same data with the rotated configuration.
    const second = await startApiServer({ prefix: server.prefix, extraArgs: ['--encryption-provider-config', file] });
    try {
      const read = await apiRequest(second.endpoint(), 'GET', `/api/v1/namespaces/${ns}/secrets/enc`);
      expect(read.status, read.text).toBe(200);
      expect(Buffer.from(read.json().data.password, 'base64').toString()).toBe('rotated-s3cret-password');
      // Rewriting re-encrypts with the new first key.
      const current = read.json() as { metadata: Record<string, unknown> };
      const put = await apiRequest(second.endpoint(), 'PUT', `/api/v1/namespaces/${ns}/secrets/enc`, { ...current, metadata: { ...current.metadata, labels: { rotated: 'yes' } } });
      expect(put.status, put.text).toBe(200);
      expect((await etcdGet(`${server.prefix}/secrets/${ns}/enc`)).startsWith('k8s:enc:aesgcm:v1:key-rotated:')).toBe(true);
      // The first server does not know the new key: a clear 500, not garbage.
      const stale = await apiRequest(server.endpoint(), 'GET', `/api/v1/namespaces/${ns}/secrets/enc`);
      expect(stale.status).toBe(500);
      expect(stale.json().message).toContain('no configured key named "key-rotated"');
    } finally {
      // Last test of the file: the shared prefix may go with it.
      await second.stop();
    }
  });
});
