/**
 * DockerRuntime.ensurePodNetwork on a real engine — a host of
 * scripts/hosts.sh (createHosts), so the networks it makes never touch the
 * machine's shared engine: created once with the range (masquerade off),
 * kept when asked again, replaced when the range changes and nothing uses
 * it, refused with a clear reason when a container still does or when the
 * range overlaps the engine's own bridge; sandboxes join it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@flotilla/observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHosts, type HostCluster } from '../../../e2e/src/hosts.js';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';
import { isRuntimeError } from '../../src/runtime/types.js';

let hosts: HostCluster | undefined;
let runtime: DockerRuntime;
let dir = '';

beforeAll(async () => {
  hosts = await createHosts(1, { prefix: 'pnr' });
  dir = await mkdtemp(join(tmpdir(), 'flotilla-podnet-'));
  runtime = new DockerRuntime({ host: hosts.hosts[0]!.dockerHost, stateDir: dir, nodeName: 'pn', podNetwork: 'flotilla', logger: createLogger('rt', { level: 'silent' }) });
}, 180_000);

afterAll(async () => {
  await hosts?.delete();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

const inspect = async () => {
  const out = await hosts!.hosts[0]!.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Options "com.docker.network.bridge.enable_ip_masquerade"}} {{index .Options "com.docker.network.bridge.name"}}', 'flotilla']);
  return out.trim();
};

describe('DockerRuntime.ensurePodNetwork', () => {
  it('creates the network once, keeps it, and replaces it for a new range while unused', async () => {
    expect(await runtime.ensurePodNetwork('10.244.5.0/24')).toMatchObject({ name: 'flotilla', bridge: 'flotilla0', subnet: '10.244.5.0/24', gateway: '10.244.5.1', created: true });
    expect(await inspect()).toBe('10.244.5.0/24 10.244.5.1 false flotilla0');
    expect((await runtime.ensurePodNetwork('10.244.5.0/24')).created).toBe(false);
    expect((await runtime.ensurePodNetwork('10.244.6.0/24')).created).toBe(true);
    expect(await inspect()).toBe('10.244.6.0/24 10.244.6.1 false flotilla0');
    // The bridge device exists in the host, with the gateway address.
    const addr = await hosts!.hosts[0]!.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'flotilla0']);
    expect(addr.stdout).toContain('10.244.6.1/24');
  });

  it('puts sandboxes on it, and refuses to change the range under them', async () => {
    const sandbox = await runtime.ensureSandbox({ uid: 'pn-1', namespace: 'rt-test', name: 'p1' });
    expect(sandbox.ip).toMatch(/^10\.244\.6\./);
    const err = await runtime.ensurePodNetwork('10.244.7.0/24').catch((e: unknown) => e);
    expect(isRuntimeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/container\(s\) still use it/);
    await runtime.removeSandbox('pn-1');
  });

  it('says so when the range overlaps the engine\'s own bridge (an old --bip)', async () => {
    await runtime.ensurePodNetwork('10.244.6.0/24');
    const bip = (await hosts!.hosts[0]!.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'bridge'])).trim();
    const overlapping = bip.replace(/\/\d+$/, '/24');
    const err = await runtime.ensurePodNetwork(overlapping).catch((e: unknown) => e);
    expect(isRuntimeError(err)).toBe(true);
    expect((err as Error).message).toMatch(/overlap/i);
  });
});
