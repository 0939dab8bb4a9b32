/**
 * The controller-manager's token cleaner with real processes: bootstrap
 * tokens made by `flotilla token create` against a real apiserver, a
 * `flotilla controller-manager --controllers tokencleaner` process; a token
 * whose TTL runs out is deleted (its Secret gone, as Kubernetes'
 * tokencleaner does), one that has not expired and one without an
 * expiration stay, and so does any other Secret of kube-system.
 */
import type { Secret } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type TestApiServer } from '../../src/apiserver.js';
import type { SupervisedProcess } from '../../src/child-process.js';
import { flotilla, healthzOn, startFlotilla } from '../../src/flotilla-cli.js';
import { freePort } from '../../src/free-port.js';
import { waitFor } from '../../src/wait-for.js';

let api: TestApiServer | undefined;
let admin: RestClient | undefined;
let cm: SupervisedProcess | undefined;

async function createToken(ttl: string): Promise<string> {
  const r = await flotilla(['token', 'create', '--kubeconfig', api!.kubeconfigPath, '--ttl', ttl, '--description', `ttl ${ttl}`]);
  expect(r.code, r.stderr).toBe(0);
  return `bootstrap-token-${r.stdout.trim().split('.')[0]}`;
}

/** The expiration a token Secret carries, ms since the epoch. */
async function expirationOf(name: string): Promise<number> {
  const s = await admin!.resource<Secret>('secrets').get('kube-system', name);
  return Date.parse(Buffer.from(s.data!.expiration!, 'base64').toString('utf8'));
}

const exists = async (name: string) => (await admin!.resource<Secret>('secrets').get('kube-system', name).catch(() => undefined)) !== undefined;

beforeAll(async () => {
  api = await startApiServer();
  admin = new RestClient({ server: api.url, ca: api.caPem, token: api.adminToken });
  const port = await freePort();
  cm = await startFlotilla('controller-manager', ['controller-manager', '--kubeconfig', api.kubeconfigPath, '--leader-elect=false', '--metrics-port', String(port), '--controllers', 'tokencleaner'], healthzOn(port));
}, 120_000);

afterAll(async () => {
  await cm?.stop().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await api?.stop();
});

describe('token cleaner', () => {
  it('deletes a bootstrap token once its TTL has run out; unexpired, never-expiring tokens and other Secrets stay', async () => {
    const other = await admin!.resource<Secret>('secrets').create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-a-token', namespace: 'kube-system' }, type: 'Opaque', data: { expiration: Buffer.from('2000-01-01T00:00:00Z').toString('base64') } });
    const long = await createToken('1h');
    const never = await createToken('0');
    // Last, and read at once: a CLI start takes seconds on a busy machine.
    const short = await createToken('8s');
    const expires = await expirationOf(short);
    expect(await exists(short)).toBe(true);
    await waitFor(async () => !(await exists(short)), { timeout: 30_000, interval: 200, message: `${short} deleted after its 8 s TTL` });
    // Not before its expiration: seen gone only once that time has passed.
    const goneAt = Date.now();
    console.log(`token cleaner: an 8 s token seen deleted ${goneAt - expires} ms after its expiration`);
    expect(goneAt).toBeGreaterThanOrEqual(expires);
    expect(await exists(long)).toBe(true);
    expect(await exists(never)).toBe(true);
    expect(await exists(other.metadata.name!)).toBe(true);
    expect(cm!.logs()).toContain('deleted expired bootstrap token');
  }, 90_000);

  it('a token that expired while the controller-manager was down is deleted when it starts again', async () => {
    await cm!.stop();
    const name = await createToken('2s');
    const expires = await expirationOf(name);
    // The token expires while nothing cleans.
    await waitFor(() => Date.now() > expires + 200, { timeout: 10_000, interval: 100, message: `${name} expired` });
    expect(await exists(name)).toBe(true);
    await cm!.launch();
    await waitFor(async () => !(await exists(name)), { timeout: 30_000, interval: 200, message: `${name} deleted by the restarted controller-manager` });
  }, 90_000);
});
