import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, etcdEndpoints, openWatch, flotillaBin, repoRoot, startApiServer, waitFor, type TestApiServer } from '@flotilla/e2e';

const run = promisify(execFile);

// The test runs the built binary; building is scripts/test.sh's job, not the test's.
const BIN = join(repoRoot(), 'packages', 'cli', 'dist', 'bin', 'flotilla.js');
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -b\` before the integration tests`);

/** Runs `flotilla <args>` to completion. */
function flotilla(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [flotillaBin(), ...args], { cwd: repoRoot(), timeout: 30_000 });
}

/** Runs `flotilla apiserver <args>` that must fail at start: its exit code and output. */
function failingStart(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [flotillaBin(), 'apiserver', ...args], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The certificate the server presents when asked for `servername`, verified against `ca`. */
function peerCert(port: number, ca: string, servername?: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}) }, () => {
      const raw = s.getPeerX509Certificate();
      s.end();
      if (raw) resolve(raw);
      else reject(new Error('no peer certificate'));
    });
    s.once('error', reject);
  });
}

let srv: TestApiServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-cli-auth-'));
  srv = await startApiServer();
});

afterAll(async () => {
  // stop() sends SIGTERM to the PID it started (SIGKILL after 15 s) and deletes the etcd prefix.
  await srv?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('flotilla apiserver: TLS', () => {
  it('does not answer plain HTTP on its port', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: srv.port, path: '/version', timeout: 5_000 }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', (err) => resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      req.end();
    });
    expect(outcome).toMatch(/^error: /);
  });

  it('presents a certificate the cert-dir CA verifies for 127.0.0.1 and localhost', async () => {
    const caPem = await readFile(join(srv.certDir, 'ca.crt'), 'utf8');
    const byIp = await peerCert(srv.port, caPem);
    expect(byIp.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const byName = await peerCert(srv.port, caPem, 'localhost');
    expect(byName.checkHost('localhost')).toBe('localhost');
    // A name not in the certificate is refused by an ordinary client.
    await expect(peerCert(srv.port, caPem, 'not-this-host.example')).rejects.toThrow(/altnames|does not match/i);
  });
});

describe('flotilla apiserver: connections on /metrics', () => {
  // An apiserver of its own: the other tests' failed handshakes (plain HTTP, a wrong server name) are counted by the
  // server when it gets to them, which on a loaded machine was after this test's first reading.
  let own: TestApiServer;
  beforeAll(async () => {
    own = await startApiServer();
  });
  afterAll(async () => {
    await own?.stop();
  });

  const counts = async () => {
    const text = (await apiRequest(own.endpoint(), 'GET', '/metrics')).text;
    const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    return {
      accepted: read(/^flotilla_apiserver_connections_total\{result="accepted"\} (\d+)$/m),
      tlsFailed: read(/^flotilla_apiserver_connections_total\{result="tls_failed"\} (\d+)$/m),
      open: read(/^flotilla_apiserver_open_connections (\d+)$/m),
    };
  };

  it('counts accepted connections, failed TLS handshakes and open connections', async () => {
    const before = await counts();
    // A client that speaks plain HTTP to the TLS port fails its handshake.
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: own.port, path: '/version', timeout: 5_000 }, (res) => res.resume());
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', () => resolve());
      req.once('close', () => resolve());
      req.end();
    });
    // One that completes its handshake and stays.
    const caPem = await readFile(join(own.certDir, 'ca.crt'), 'utf8');
    const held = await new Promise<ReturnType<typeof connect>>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: own.port, ca: caPem }, () => resolve(s));
      s.once('error', reject);
    });
    try {
      const during = await counts();
      expect(during.tlsFailed - before.tlsFailed).toBe(1);
      // The two above (the /metrics requests go over one kept-alive connection, accepted before `before`).
      expect(during.accepted - before.accepted).toBe(2);
      // The held one is open (the /metrics requests reuse one kept-alive connection, open in both counts).
      expect(during.open - before.open).toBeGreaterThanOrEqual(1);
      held.destroy();
      await waitFor(async () => ((await counts()).open <= during.open - 1 ? true : undefined), { what: 'the held connection to be counted closed', timeoutMs: 10_000 });
    } finally {
      held.destroy();
    }
  });
});

describe('flotilla apiserver: authentication', () => {
  it('answers 401 Status without a token or with a bad one', async () => {
    for (const token of [undefined, 'wrong-token']) {
      const res = await apiRequest({ url: srv.url, ca: srv.caPem, ...(token ? { token } : {}) }, 'GET', '/api/v1/namespaces');
      expect(res.status).toBe(401);
      expect(res.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
    const malformed = await apiRequest({ url: srv.url, ca: srv.caPem }, 'GET', '/api/v1/namespaces', undefined, { authorization: `Basic ${srv.adminToken}` });
    expect(malformed.status).toBe(401);
  });
});

describe('flotilla apiserver: authorization', () => {
  const ns = `auth-${Date.now().toString(36)}`;

  it('lets the admin create a namespace', async () => {
    const res = await apiRequest(srv.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
    expect(res.json().metadata.name).toBe(ns);
  });

  it('lets a node register itself but not write another node', async () => {
    const node1 = srv.endpoint(srv.nodeToken('node-1'));
    const own = await apiRequest(node1, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } });
    expect(own.status, own.text).toBe(201);

    const other = await apiRequest(node1, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-2' } });
    expect(other.status, other.text).toBe(403);
    expect(other.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });

    const byAdmin = await apiRequest(srv.endpoint(), 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-2' } });
    expect(byAdmin.status, byAdmin.text).toBe(201);
    const status = await apiRequest(node1, 'PATCH', '/api/v1/nodes/node-2/status', { status: { conditions: [] } }, { 'content-type': 'application/merge-patch+json' });
    expect(status.status, status.text).toBe(403);
    expect(status.json().message).toContain('node "node-1" cannot patch nodes/status of node "node-2"');
  });

  it('lets a node read pods but not write the status of a pod bound elsewhere', async () => {
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: ns },
      spec: { nodeName: 'node-2', containers: [{ name: 'c', image: 'flotilla/busybox:1' }] },
    };
    const created = await apiRequest(srv.endpoint(), 'POST', `/api/v1/namespaces/${ns}/pods`, pod);
    expect(created.status, created.text).toBe(201);
    const node1 = srv.endpoint(srv.nodeToken('node-1'));
    const read = await apiRequest(node1, 'GET', `/api/v1/namespaces/${ns}/pods/web`);
    expect(read.status, read.text).toBe(200);
    const body = read.json();
    body.status = { phase: 'Running' };
    const write = await apiRequest(node1, 'PUT', `/api/v1/namespaces/${ns}/pods/web/status`, body);
    expect(write.status, write.text).toBe(403);
    expect(write.json().message).toContain('node "node-1" cannot update pods/status of pod bound to "node-2"');
    const asOwner = await apiRequest(srv.endpoint(srv.nodeToken('node-2')), 'PUT', `/api/v1/namespaces/${ns}/pods/web/status`, body);
    expect(asOwner.status, asOwner.text).toBe(200);
  });
});

describe('flotilla kubeconfig + kubectl', () => {
  it('writes a kubeconfig that kubectl uses over HTTPS with the token', async () => {
    const file = join(dir, 'kubeconfig');
    await flotilla(['kubeconfig', '--server', srv.url, '--ca-file', srv.caFile, '--token', srv.adminToken, '--user', 'admin', '-o', file]);
    const version = await run('kubectl', ['--kubeconfig', file, 'get', '--raw', '/version'], { timeout: 30_000 });
    expect(JSON.parse(version.stdout)).toHaveProperty('gitVersion');
    await apiRequest(srv.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kubectl-sees-me' } });
    const ns = await run('kubectl', ['--kubeconfig', file, 'get', 'namespaces', '-o', 'name'], { timeout: 30_000 });
    expect(ns.stdout.split('\n')).toContain('namespace/kubectl-sees-me');
  });

  it('prints a token, and a token-file line with --user', async () => {
    const { stdout } = await flotilla(['token', 'generate']);
    expect(stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const line = await flotilla(['token', 'generate', '--user', 'system:node:n9', '--groups', 'system:nodes']);
    expect(line.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43},"system:node:n9","system:node:n9","system:nodes"$/);
  });
});

describe('flotilla apiserver: lifecycle', () => {
  it('stops gracefully on SIGTERM (exit 0) and reuses the CA on restart', async () => {
    const caBefore = await readFile(srv.caFile, 'utf8');
    // An open watch must not hold the shutdown up: the server ends it and exits well within its 5 s grace.
    const watch = await openWatch(srv.endpoint(), '/api/v1/namespaces?watch=1');
    expect(watch.status).toBe(200);
    const stopping = Date.now();
    await srv.kill('SIGTERM');
    const stopMs = Date.now() - stopping;
    await watch.ended;
    expect(srv.logs()).toMatch(/--- \S+ exited with code 0\n/);
    expect(stopMs).toBeLessThan(4_000);
    await srv.restart();
    expect(await readFile(srv.caFile, 'utf8')).toBe(caBefore);
    // The restarted server still verifies against the CA every kubeconfig already carries.
    const res = await apiRequest({ url: srv.url, ca: caBefore, token: srv.adminToken }, 'GET', '/api/v1/namespaces');
    expect(res.status).toBe(200);
    // The serving certificate is kept, or re-issued under the same CA when the
    // host gained an address meanwhile (tests running beside this one add
    // Docker bridges); a new CA would have failed the request above.
    expect(srv.logs()).toMatch(/"action":"(reused|reissued)"/);
    expect(srv.logs()).not.toMatch(/"action":"created"[\s\S]*"action":"created"/);
  });

  it('refuses to start with a broken token file, naming file and line', async () => {
    const bad = join(dir, 'bad-tokens.csv');
    await writeFile(bad, 'ok,admin,1\nbroken-line\n');
    const { code, output } = await failingStart(['--etcd-servers', etcdEndpoints().join(','), '--secure-port', '0', '--bind-address', '127.0.0.1',
      '--cert-dir', join(dir, 'pki'), '--token-auth-file', bad]);
    expect(code).toBe(1);
    expect(output).toContain(`${bad}:2: need at least 3 columns`);
  });

  it('refuses to start without --token-auth-file', async () => {
    const { code, output } = await failingStart(['--secure-port', '0']);
    expect(code).not.toBe(0);
    expect(output).toMatch(/--token-auth-file/);
  });
});
