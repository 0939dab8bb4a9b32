/**
 * An agent's client certificate renewed while it runs, with real processes:
 * a `flotilla controller-manager` signing node certificates valid 40 s
 * (`--cluster-signing-duration 40s`), an agent that joins with a bootstrap
 * token. Before its certificate expires the agent asks for a new one with
 * its own identity, writes it to its kubeconfig and switches to it without
 * a restart; once the first certificate has expired, every connection is
 * cut (the apiserver restarted) and the agent must come back on the new
 * certificate — an agent still holding the old one would get 401s. A
 * second process reading the agent's kubeconfig (a worker's proxy) follows
 * the renewed certificate too.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateSigningRequest, Lease, Node } from '@flotilla/api';
import { caCertHash } from '@flotilla/agent';
import { loadKubeconfig, RestClient } from '@flotilla/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type TestApiServer } from '../../src/apiserver.js';
import type { SupervisedProcess } from '../../src/child-process.js';
import { flotilla, healthzOn, startFlotilla } from '../../src/flotilla-cli.js';
import { freePort } from '../../src/free-port.js';
import { waitFor } from '../../src/wait-for.js';

const NODE = 'rotate-1';
const LIFETIME_S = 40;
let api: TestApiServer | undefined;
let admin: RestClient | undefined;
let dir = '';
const procs: SupervisedProcess[] = [];
const clients: RestClient[] = [];

const start = (name: string, args: string[], ready: () => Promise<boolean>) => startFlotilla(name, args, ready, procs);

const nodeReady = async () => {
  const n = await admin!.resource<Node>('nodes').get(undefined, NODE).catch(() => undefined);
  return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
};

beforeAll(async () => {
  api = await startApiServer();
  admin = new RestClient({ server: api.url, ca: api.caPem, token: api.adminToken });
  dir = await mkdtemp(join(tmpdir(), 'flotilla-rotate-'));
  const port = await freePort();
  await start('controller-manager', [
    'controller-manager', '--kubeconfig', api.kubeconfigPath, '--leader-elect=false', '--metrics-port', String(port),
    '--controllers', 'csr-signing,node-lifecycle', '--cluster-signing-duration', `${LIFETIME_S}s`,
    '--cluster-signing-cert-file', join(api.certDir, 'ca.crt'), '--cluster-signing-key-file', join(api.certDir, 'ca.key'),
  ], healthzOn(port));
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(`--- logs after "${task.name}" failed\n${procs.map((p) => p.logs().slice(-12_000)).join('\n=====\n')}\n=== apiserver\n${api?.logs().slice(-8_000)}`);
});

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  for (const c of [admin, ...clients]) await c?.close().catch(() => undefined);
  await api?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('agent client certificate rotation', () => {
  it(`renews a ${LIFETIME_S} s certificate before it expires, without a restart, and keeps working on the new one after the old one expired`, async () => {
    const created = await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath, '--ttl', '1h']);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    const stateDir = join(dir, 'agent');
    const agent = await start(NODE, [
      'agent', '--node-name', NODE, '--fake-runtime', '--node-ip', '127.0.0.1', '--state-dir', stateDir, '--log-port', '0', '--log-bind-address', '127.0.0.1',
      '--server', api!.url, '--bootstrap-token', token, '--discovery-token-ca-cert-hash', caCertHash(api!.caPem), '--heartbeat-interval', '1s',
    ], nodeReady);
    const pid = agent.pid();
    const kubeconfig = join(stateDir, 'kubeconfig');
    const first = new X509Certificate(loadKubeconfig(kubeconfig).clientCert!);
    // Another process reading the node's kubeconfig, as a worker's `flotilla proxy` does: it follows
    // the renewed certificate; one told not to look again keeps the first and is refused once it expired.
    const follower = RestClient.fromKubeconfig(kubeconfig, { reloadCertificateMs: 250, userAgent: 'follower' });
    const stale = RestClient.fromKubeconfig(kubeconfig, { reloadCertificateMs: 0, userAgent: 'stale' });
    clients.push(follower, stale);
    expect((Date.parse(first.validTo) - Date.parse(first.validFrom)) / 1000).toBe(LIFETIME_S);

    // Rotated in place: a new certificate in the kubeconfig, 70-90% into the first one's life (to the second).
    const second = await waitFor(() => {
      const c = new X509Certificate(loadKubeconfig(kubeconfig).clientCert!);
      return c.serialNumber !== first.serialNumber ? c : undefined;
    }, { timeout: LIFETIME_S * 1000, interval: 250, message: 'a rotated certificate in the node kubeconfig' });
    const at = (Date.parse(second.validFrom) - Date.parse(first.validFrom)) / 1000;
    console.log(`cert rotation: the ${LIFETIME_S} s certificate was replaced ${at} s into its life`);
    expect(at).toBeGreaterThanOrEqual(0.7 * LIFETIME_S - 1);
    expect(at).toBeLessThanOrEqual(0.9 * LIFETIME_S + 2);
    expect(second.subject.split('\n').sort()).toEqual([`CN=system:node:${NODE}`, 'O=system:nodes']);
    // The agent logs the rotation just after it rewrote its kubeconfig, which the test may read first.
    await waitFor(() => agent.logs().includes('rotated the node client certificate'), { timeout: 10_000, message: "the agent's log line for the rotation" });
    // Asked for with the node's own identity, not the bootstrap token's.
    const csrs = (await admin!.resource<CertificateSigningRequest>('certificatesigningrequests').list()).items;
    expect(csrs.filter((c) => c.spec.username === `system:node:${NODE}` && c.status?.certificate).length).toBeGreaterThanOrEqual(1);
    expect(csrs.filter((c) => c.spec.username === `system:bootstrap:${token.slice(0, 6)}`)).toHaveLength(1);

    // Once the first certificate has expired, cut every connection: the agent comes back only if it holds the new one.
    await waitFor(() => Date.now() > Date.parse(first.validTo) + 1_000, { timeout: LIFETIME_S * 1000, message: 'the first certificate expired' });
    await api!.restart();
    const restartedAt = Date.now();
    await waitFor(async () => {
      const lease = await admin!.resource<Lease>('leases').get('kube-node-lease', NODE);
      return Date.parse(lease.spec?.renewTime ?? '') > restartedAt + 1_000 && (await nodeReady());
    }, { timeout: 30_000, interval: 250, message: 'the Lease renewed through the restarted apiserver' });
    expect((await follower.resource<Node>('nodes').get(undefined, NODE)).metadata.name).toBe(NODE);
    const refused = await stale.resource<Node>('nodes').get(undefined, NODE).then(() => undefined, (err: { code?: number; message?: string }) => err);
    expect(refused?.code, `the client that kept the expired certificate: ${refused?.message}`).toBe(401);
    expect(agent.pid()).toBe(pid);
    expect(agent.alive()).toBe(true);
    expect(agent.logs()).not.toMatch(/"code":401|Unauthorized/);
  }, 180_000);
});
