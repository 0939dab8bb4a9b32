/**
 * Joining a node with a bootstrap token, with real processes: `flotilla
 * token create` against an apiserver, the bootstrap identity's narrow
 * rights (CSRs only, its own only), expired and malformed tokens refused,
 * then a `flotilla agent --bootstrap-token … --discovery-token-ca-cert-hash …`
 * that gets its own client certificate through a CertificateSigningRequest
 * the controller-manager approves and signs, runs as `system:node:<name>`
 * under the node authorizer, and reuses its credential on restart.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateSigningRequest, Node, Secret } from '@flotilla/api';
import { caCertHash } from '@flotilla/agent';
import { loadKubeconfig, RestClient } from '@flotilla/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type TestApiServer } from '../../src/apiserver.js';
import type { SupervisedProcess } from '../../src/child-process.js';
import { flotilla, healthzOn, startFlotilla } from '../../src/flotilla-cli.js';
import { freePort } from '../../src/free-port.js';
import { apiRequest } from '../../src/https.js';
import { runKubectl } from '../../src/kubectl.js';
import { waitFor } from '../../src/wait-for.js';

let api: TestApiServer | undefined;
let admin: RestClient | undefined;
let dir = '';
const procs: SupervisedProcess[] = [];

const start = (name: string, args: string[], ready: () => Promise<boolean>) => startFlotilla(name, args, ready, procs);

const nodeReady = (name: string) => async () => {
  const n = await admin!.resource<Node>('nodes').get(undefined, name).catch(() => undefined);
  return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
};

beforeAll(async () => {
  api = await startApiServer();
  admin = new RestClient({ server: api.url, ca: api.caPem, token: api.adminToken });
  dir = await mkdtemp(join(tmpdir(), 'flotilla-join-'));
  const port = await freePort();
  await start('controller-manager', [
    'controller-manager', '--kubeconfig', api.kubeconfigPath, '--leader-elect=false', '--metrics-port', String(port),
    '--controllers', 'csr-signing,node-lifecycle',
    '--cluster-signing-cert-file', join(api.certDir, 'ca.crt'), '--cluster-signing-key-file', join(api.certDir, 'ca.key'),
  ], healthzOn(port));
}, 120_000);

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await api?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bootstrap tokens', () => {
  let token = '';

  it('flotilla token create prints <6>.<16> and stores a bootstrap.kubernetes.io/token Secret; list and ca-hash agree', async () => {
    const res = await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath, '--ttl', '1h', '--description', 'e2e join']);
    expect(res.code, res.stderr).toBe(0);
    token = res.stdout.trim();
    expect(token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const [id, secret] = token.split('.') as [string, string];
    const s = await admin!.resource<Secret>('secrets').get('kube-system', `bootstrap-token-${id}`);
    expect(s.type).toBe('bootstrap.kubernetes.io/token');
    const f = (k: string) => Buffer.from(s.data![k]!, 'base64').toString();
    expect([f('token-id'), f('token-secret'), f('usage-bootstrap-authentication')]).toEqual([id, secret, 'true']);
    expect(Date.parse(f('expiration')) - Date.now()).toBeGreaterThan(50 * 60_000);
    const list = await flotilla(['token', 'list', '--kubeconfig', api!.kubeconfigPath]);
    expect(list.stdout).toContain(`${id}.<secret>`);
    expect(list.stdout).toContain('e2e join');
    expect(list.stdout).not.toContain(secret);
    const hash = await flotilla(['token', 'ca-hash', '--kubeconfig', api!.kubeconfigPath]);
    expect(hash.stdout.trim()).toBe(caCertHash(api!.caPem));
  });

  it('authenticates as system:bootstrap:<id>; expired, deleted and malformed tokens get 401', async () => {
    const ep = (t: string) => api!.endpoint(t);
    const review = await apiRequest(api!.endpoint(), 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    expect(review.json().status.user).toMatchObject({ username: `system:bootstrap:${token.slice(0, 6)}`, groups: expect.arrayContaining(['system:bootstrappers']) });
    for (const bad of [`${token.slice(0, 7)}xxxxxxxxxxxxxxxx`, token.toUpperCase(), token.replace('.', ''), `${token}0`]) {
      expect((await apiRequest(ep(bad), 'GET', '/api/v1/namespaces')).status, bad).toBe(401);
    }
    const expired = await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath, '--ttl', '1h']);
    const expiredToken = expired.stdout.trim();
    const name = `bootstrap-token-${expiredToken.slice(0, 6)}`;
    const s = await admin!.resource<Secret>('secrets').get('kube-system', name);
    s.data!.expiration = Buffer.from(new Date(Date.now() - 1000).toISOString()).toString('base64');
    await admin!.resource<Secret>('secrets').update(s);
    const csrPath = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    expect((await apiRequest(ep(expiredToken), 'POST', csrPath, {})).status).toBe(401);
    const del = await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath]);
    const delToken = del.stdout.trim();
    expect((await flotilla(['token', 'delete', '--kubeconfig', api!.kubeconfigPath, delToken.slice(0, 6)])).stdout).toContain('deleted');
    expect((await apiRequest(ep(delToken), 'GET', `${csrPath}/x`)).status).toBe(401);
  });

  it('the bootstrap identity may create CSRs and read only its own: nothing else', async () => {
    const ep = api!.endpoint(token);
    const admin403 = await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath]);
    const other = api!.endpoint(admin403.stdout.trim());
    const csrPath = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    // A request for an admin identity: stored (the requester is stamped), never approved.
    const pem = await makeCsr('/O=system:masters/CN=admin');
    const created = await apiRequest(ep, 'POST', csrPath, {
      apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: `evil-${token.slice(0, 6)}` },
      spec: { request: Buffer.from(pem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['client auth'], username: 'admin', groups: ['system:masters'] },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.json().spec).toMatchObject({ username: `system:bootstrap:${token.slice(0, 6)}`, groups: expect.arrayContaining(['system:bootstrappers']) });
    const name = created.json().metadata.name as string;
    expect((await apiRequest(ep, 'GET', `${csrPath}/${name}`)).status).toBe(200);
    expect((await apiRequest(other, 'GET', `${csrPath}/${name}`)).status).toBe(403);
    for (const [method, path, body] of [
      ['GET', csrPath, undefined],
      ['GET', `${csrPath}?watch=1`, undefined],
      ['PUT', `${csrPath}/${name}/status`, { ...created.json(), status: { conditions: [{ type: 'Approved', status: 'True' }] } }],
      ['DELETE', `${csrPath}/${name}`, undefined],
      ['GET', '/api/v1/pods', undefined],
      ['GET', '/api/v1/namespaces/kube-system/secrets', undefined],
      ['GET', `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${token.slice(0, 6)}`, undefined],
      ['POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'sneaky' } }],
      ['GET', '/api/v1/nodes', undefined],
      ['POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } }],
    ] as const) {
      const res = await apiRequest(ep, method, path, body);
      expect(res.status, `${method} ${path}: ${res.text.slice(0, 200)}`).toBe(403);
    }
    // The controller-manager saw it and did not approve an admin certificate.
    await new Promise((r) => setTimeout(r, 1500));
    const csr = await admin!.resource<CertificateSigningRequest>('certificatesigningrequests').get(undefined, name);
    expect(csr.status?.certificate).toBeUndefined();
    expect(csr.status?.conditions ?? []).toEqual([]);

    // Even a human's approval (kubectl certificate approve, the approval subresource) gets no admin certificate: the signer fails it.
    const approved = await runKubectl(api!.kubeconfigPath, ['certificate', 'approve', name]);
    expect(approved.code, approved.stderr).toBe(0);
    const failed = await waitFor(async () => {
      const c = await admin!.resource<CertificateSigningRequest>('certificatesigningrequests').get(undefined, name);
      return c.status?.conditions?.some((x) => x.type === 'Failed') ? c : undefined;
    }, { timeout: 30_000, message: 'the approved admin request to be failed by the signer' });
    expect(failed.status?.certificate).toBeUndefined();
    expect(failed.status?.conditions?.find((x) => x.type === 'Failed')?.message).toMatch(/CN must be system:node/);
  });

  it('an agent joins with the token and a pinned CA hash, gets system:node:<name> as a client certificate, and keeps it', async () => {
    const stateDir = join(dir, 'agent-join-1');
    const args = [
      'agent', '--node-name', 'join-1', '--fake-runtime', '--node-ip', '127.0.0.1', '--state-dir', stateDir, '--log-port', '0', '--log-bind-address', '127.0.0.1',
      '--server', api!.url, '--bootstrap-token', token, '--discovery-token-ca-cert-hash', caCertHash(api!.caPem), '--heartbeat-interval', '1s',
    ];
    const agent = await start('join-1', args, nodeReady('join-1'));
    const kubeconfig = join(stateDir, 'kubeconfig');
    const cfg = loadKubeconfig(kubeconfig);
    expect(cfg.token).toBeUndefined();
    const cert = new X509Certificate(cfg.clientCert!);
    expect(cert.subject.split('\n').sort()).toEqual(['CN=system:node:join-1', 'O=system:nodes']);
    expect(cert.verify(new X509Certificate(api!.caPem).publicKey)).toBe(true);
    const csrs = await admin!.resource<CertificateSigningRequest>('certificatesigningrequests').list();
    const mine = csrs.items.filter((c) => c.spec.username === `system:bootstrap:${token.slice(0, 6)}` && c.status?.certificate);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.status!.conditions).toEqual([expect.objectContaining({ type: 'Approved', status: 'True', reason: 'AutoApproved' })]);

    // The node authorizer applies to the certificate identity.
    const asNode = new RestClient(cfg);
    try {
      expect((await asNode.resource<Node>('nodes').get(undefined, 'join-1')).metadata.name).toBe('join-1');
      await expect(asNode.resource<Node>('nodes').create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'join-2' } })).rejects.toMatchObject({ code: 403 });
      await expect(asNode.resource<Secret>('secrets').list('kube-system')).rejects.toMatchObject({ code: 403 });
    } finally {
      await asNode.close();
    }
    // Without the client certificate's key the same name is nobody.
    expect((await apiRequest({ url: api!.url, ca: api!.caPem }, 'GET', '/api/v1/nodes/join-1')).status).toBe(401);

    // A restart reuses the credential: no second CSR, even once the token is gone.
    await flotilla(['token', 'delete', '--kubeconfig', api!.kubeconfigPath, token]);
    await agent.stop();
    await agent.launch();
    await waitFor(() => agent.logs().split('"msg":"agent starting"').length > 2, { timeout: 30_000, message: 'the restarted agent to start' });
    expect(agent.logs()).toContain('using the node credential from an earlier start');
    const after = await admin!.resource<CertificateSigningRequest>('certificatesigningrequests').list();
    expect(after.items.filter((c) => c.status?.certificate)).toHaveLength(1);
    expect(await readFile(kubeconfig, 'utf8')).toContain('client-certificate-data');
  }, 120_000);

  it('--bootstrap-kubeconfig: a kubeconfig holding a bootstrap token joins the same way', async () => {
    const t = (await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath])).stdout.trim();
    const boot = join(dir, 'bootstrap.kubeconfig');
    const made = await flotilla(['kubeconfig', '--server', api!.url, '--ca-file', api!.caFile, '--token', t, '--user', 'bootstrap', '-o', boot]);
    expect(made.code, made.stderr).toBe(0);
    const stateDir = join(dir, 'agent-join-2');
    await start('join-2', [
      'agent', '--node-name', 'join-2', '--fake-runtime', '--node-ip', '127.0.0.1', '--state-dir', stateDir, '--log-port', '0', '--log-bind-address', '127.0.0.1',
      '--bootstrap-kubeconfig', boot, '--heartbeat-interval', '1s',
    ], nodeReady('join-2'));
    const cert = new X509Certificate(loadKubeconfig(join(stateDir, 'kubeconfig')).clientCert!);
    expect(cert.subject.split('\n')).toContain('CN=system:node:join-2');
  }, 120_000);

  it('a wrong CA hash stops the join before the token is sent', async () => {
    const t = (await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath])).stdout.trim();
    const res = await flotilla([
      'agent', '--node-name', 'join-bad', '--fake-runtime', '--state-dir', join(dir, 'agent-bad'), '--log-port', '0',
      '--server', api!.url, '--bootstrap-token', t, '--discovery-token-ca-cert-hash', `sha256:${'0'.repeat(64)}`,
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/matches --discovery-token-ca-cert-hash/);
    const csrs = await admin!.resource<CertificateSigningRequest>('certificatesigningrequests').list();
    expect(csrs.items.some((c) => c.spec.username === `system:bootstrap:${t.slice(0, 6)}`)).toBe(false);
  }, 60_000);
});

/** A PEM certificate request for `subj`, made with openssl in the test's directory. */
async function makeCsr(subj: string): Promise<string> {
  const work = await mkdtemp(join(dir, 'csr-'));
  await new Promise<void>((resolve, reject) =>
    execFile('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subj, '-keyout', 'k.pem', '-out', 'r.csr'], { cwd: work }, (err) => (err ? reject(err) : resolve())),
  );
  return readFile(join(work, 'r.csr'), 'utf8');
}
