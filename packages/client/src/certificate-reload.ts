/**
 * A client certificate followed in its kubeconfig, as client-go reloads a
 * rotated kubelet certificate: the file is looked at (a stat) every so
 * often, reread only when it changed, and a new certificate handed over.
 */
import { statSync } from 'node:fs';
import { kubeconfigPath, loadKubeconfig, type ClientConfig } from './kubeconfig.js';

/**
 * Calls `use` each time the kubeconfig at `path` holds a client certificate
 * other than the last one seen, looking every `everyMs`. A file being
 * rewritten (unreadable or half-written for a moment) is tried again on the
 * next look. Returns the function that stops looking; the timer never keeps
 * a process alive.
 */
export function followClientCertificate(path: string | undefined, initial: ClientConfig, everyMs: number, use: (cert: string, key: string) => void): () => void {
  const file = kubeconfigPath(path);
  let current = { cert: initial.clientCert, key: initial.clientKey };
  let seen = stamp(file);
  const timer = setInterval(() => {
    const now = stamp(file);
    if (now === seen) return;
    let next: ClientConfig;
    try {
      next = loadKubeconfig(file);
    } catch {
      return; // mid-rewrite: the stamp stays old, so the next look tries again
    }
    seen = now;
    if (!next.clientCert || !next.clientKey || (next.clientCert === current.cert && next.clientKey === current.key)) return;
    current = { cert: next.clientCert, key: next.clientKey };
    use(next.clientCert, next.clientKey);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** What changes when a file is replaced or rewritten: inode, size and mtime. */
function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return '';
  }
}
