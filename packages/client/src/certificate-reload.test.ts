import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { followClientCertificate } from './certificate-reload.js';
import { loadKubeconfig } from './kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'cert-reload-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string) => Buffer.from(s).toString('base64');
const kubeconfig = (cert: string, key: string) => `apiVersion: v1
kind: Config
current-context: main
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]
users: [{name: u, user: {client-certificate-data: ${b64(cert)}, client-key-data: ${b64(key)}}}]
contexts: [{name: main, context: {cluster: c, user: u}}]
`;
/** As the agent rewrites its kubeconfig: a new file renamed over the old one. */
const replace = (path: string, text: string) => {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};

describe('followClientCertificate', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('hands over a renewed certificate once, and nothing for a rewrite with the same one or a half-written file', () => {
    const path = join(dir, 'node.kubeconfig');
    writeFileSync(path, kubeconfig('CERT-1', 'KEY-1'));
    const use = vi.fn();
    const stop = followClientCertificate(path, loadKubeconfig(path), 10, use);
    // Each look is one interval tick: the timers are fake, the file is real.
    const look = () => vi.advanceTimersByTime(10);
    try {
      replace(path, 'current-context: [half'); // not a kubeconfig: tried again on the next look
      look();
      replace(path, kubeconfig('CERT-1', 'KEY-1'));
      look();
      expect(use).not.toHaveBeenCalled();

      replace(path, kubeconfig('CERT-2', 'KEY-2'));
      look();
      expect(use).toHaveBeenCalledWith('CERT-2', 'KEY-2');
      look();
      expect(use).toHaveBeenCalledTimes(1);
    } finally {
      stop();
    }
    replace(path, kubeconfig('CERT-3', 'KEY-3'));
    look();
    expect(use).toHaveBeenCalledTimes(1);
  });
});
