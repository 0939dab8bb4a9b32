import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile, readFile, unlink } from 'node:fs/promises';
import { createServer, connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureServingCerts, loadServingPair } from './serving-certs.js';
import { caBundleFromPem, readCaBundle } from './ca-bundle.js';
import { classifyHosts } from './openssl.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-tls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Completes a TLS handshake against the pair, trusting only `ca`, with `servername` as the expected host. */
async function handshake(cert: string, key: string, ca: string, servername: string): Promise<void> {
  const server = createServer({ cert, key }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    await new Promise<void>((resolve, reject) => {
      // Node checks the cert against `servername`, or against `host` when it is an IP.
      const named = /^[\d.:]+$/.test(servername) ? {} : { servername };
      const s = connect({ host: '127.0.0.1', port, ca, ...named }, () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('ensureServingCerts', () => {
  it('creates a CA and a serving cert with the requested SANs, keys 0600', async () => {
    const c = await ensureServingCerts({ certDir: dir, hosts: ['10.1.2.3', 'api.example.test'], skipInterfaceAddresses: true });
    expect(c.action).toBe('created');
    const ca = new X509Certificate(c.ca!);
    const leaf = new X509Certificate(c.cert);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
    for (const ip of ['127.0.0.1', '::1', '10.1.2.3']) expect(leaf.checkIP(ip)).toBeDefined();
    for (const h of ['localhost', 'api.example.test', 'kubernetes.default.svc']) expect(leaf.checkHost(h, { subject: 'never' })).toBe(h);
    expect(leaf.checkIP('10.9.9.9')).toBeUndefined();
    expect((await stat(join(dir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'apiserver.key'))).mode & 0o777).toBe(0o600);
    await handshake(c.cert, c.key, c.ca!, 'localhost');
    await handshake(c.cert, c.key, c.ca!, '127.0.0.1');
  });

  it('includes the host interface addresses by default', async () => {
    const c = await ensureServingCerts({ certDir: dir });
    const leaf = new X509Certificate(c.cert);
    const { networkInterfaces } = await import('node:os');
    const v4 = Object.values(networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4').map((a) => a!.address);
    for (const ip of v4) expect(leaf.checkIP(ip)).toBeDefined();
  });

  it('reuses CA and serving cert on a later start', async () => {
    const a = await ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true });
    const b = await ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true });
    expect(b.action).toBe('reused');
    expect(b.ca).toBe(a.ca);
    expect(b.cert).toBe(a.cert);
    expect(b.key).toBe(a.key);
  });

  it('reissues the serving cert under the same CA when a new host is asked for', async () => {
    const a = await ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true });
    const b = await ensureServingCerts({ certDir: dir, hosts: ['192.0.2.7'], skipInterfaceAddresses: true });
    expect(b.action).toBe('reissued');
    expect(b.reason).toContain('192.0.2.7');
    expect(b.ca).toBe(a.ca);
    expect(b.cert).not.toBe(a.cert);
    expect(new X509Certificate(b.cert).checkIP('192.0.2.7')).toBe('192.0.2.7');
  });

  it('reissues a missing serving cert, and refuses a CA cert without its key', async () => {
    await ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true });
    await unlink(join(dir, 'apiserver.key'));
    expect((await ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true })).action).toBe('reissued');
    await unlink(join(dir, 'ca.key'));
    await expect(ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true })).rejects.toThrow(/ca\.crt but not .*ca\.key/);
  });

  it('uses operator-supplied files and checks that they match', async () => {
    const a = await ensureServingCerts({ certDir: join(dir, 'a'), skipInterfaceAddresses: true });
    const b = await ensureServingCerts({ certDir: join(dir, 'b'), skipInterfaceAddresses: true });
    const p = await ensureServingCerts({ certDir: join(dir, 'unused'), tlsCertFile: a.certFile, tlsPrivateKeyFile: a.keyFile });
    expect(p.action).toBe('provided');
    expect(p.cert).toBe(a.cert);
    expect(p.ca).toBeUndefined();
    await expect(loadServingPair(a.certFile, b.keyFile)).rejects.toThrow(/is not the private key of/);
    await expect(ensureServingCerts({ certDir: dir, tlsCertFile: a.certFile })).rejects.toThrow(/given together/);
  });

  it('rejects hosts that are neither DNS names nor IPs', () => {
    expect(() => classifyHosts(['ok.example', 'bad\nIP.9 = 1.2.3.4'])).toThrow(/invalid host/);
    expect(classifyHosts(['[::1]', 'fe80::1%eth0', 'A.Example.'])).toEqual({ ips: ['::1', 'fe80::1'], dns: ['a.example.'] });
  });
});

describe('CA bundle', () => {
  it('base64-encodes the CA and rejects leaf certificates and junk', async () => {
    const c = await ensureServingCerts({ certDir: dir, skipInterfaceAddresses: true });
    const b = await readCaBundle(c.caFile!);
    expect(Buffer.from(b.data, 'base64').toString()).toBe(b.pem);
    expect(b.pem).toBe(await readFile(c.caFile!, 'utf8'));
    expect(() => caBundleFromPem(c.cert, 'leaf.crt')).toThrow(/leaf\.crt: certificate 1 .* is not a CA/);
    await writeFile(join(dir, 'junk'), 'hello');
    await expect(readCaBundle(join(dir, 'junk'))).rejects.toThrow(/no PEM certificate/);
    await expect(readCaBundle(join(dir, 'missing'))).rejects.toThrow(/cannot read CA file/);
  });
});
