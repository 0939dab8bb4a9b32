/**
 * A self-signed serving certificate for the log server, made once with the
 * `openssl` CLI under the state dir and reused. The apiserver does not
 * verify it (like kube-apiserver without --kubelet-certificate-authority);
 * the bearer token, reviewed by the apiserver, is what protects the logs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** A key pair in PEM. */
export interface ServingCert {
  key: string;
  cert: string;
  certFile: string;
}

function run(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _out, stderr) => (err ? reject(new Error(`openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`)) : resolve()));
  });
}

/** Returns `<dir>/agent.crt` + key, creating a 10-year self-signed pair for `nodeName` and `nodeIP` when missing. */
export async function ensureSelfSignedCert(dir: string, nodeName: string, nodeIP: string): Promise<ServingCert> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, 'agent.crt');
  const keyFile = join(dir, 'agent.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const dnsName = /^[a-zA-Z0-9.-]+$/.test(nodeName) ? nodeName : 'flotilla-agent';
    const sans = [`DNS:${dnsName}`, 'DNS:localhost', 'IP:127.0.0.1', ...(isIP(nodeIP) ? [`IP:${nodeIP}`] : [])];
    await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '3650', '-subj', `/CN=${dnsName}`, '-addext', `subjectAltName=${sans.join(',')}`], dir);
  }
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8'), certFile };
}
