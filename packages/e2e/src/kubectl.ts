import { execFile } from 'node:child_process';

/** The outcome of one kubectl run. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of runKubectl. */
export interface KubectlOptions {
  /** kubectl caches discovery per server URL; a private dir keeps another run's cache from answering. */
  cacheDir?: string;
  /** Kill kubectl after this many milliseconds (default 60 000). */
  timeout?: number;
  /** Written to kubectl's stdin (for `apply -f -`). */
  input?: string;
}

/** Runs the `kubectl` on the PATH with a kubeconfig; never throws on a non-zero exit, the code is in the result. */
export function runKubectl(kubeconfigPath: string, args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const full = ['--kubeconfig', kubeconfigPath, ...(options.cacheDir ? ['--cache-dir', options.cacheDir] : []), '--request-timeout', '20s', ...args];
  return new Promise((resolve) => {
    const child = execFile('kubectl', full, { timeout: options.timeout ?? 60_000 }, (err, stdout, stderr) => {
      const raw = (err as NodeJS.ErrnoException | null)?.code;
      resolve({ code: err ? (typeof raw === 'number' ? raw : 1) : 0, stdout, stderr: err && typeof raw === 'string' ? `${stderr}${err.message}` : stderr });
    });
    // kubectl closes its stdin when it exits, and most commands never read it: a write that meets the closed
    // pipe (EPIPE) is not this run's outcome, which comes from the exit. Without a listener it was an uncaught
    // exception of the whole test run (seen after `kubectl explain`).
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
  });
}
