/**
 * Running a host command for its output and exit status, without throwing:
 * what scripts driving hosts (worker host scripts, iptables-save, docker)
 * need when a non-zero exit is an answer, not an error. `execCommand`
 * (route-table.ts) is the throwing variant the route sync uses.
 */
import { execFile } from 'node:child_process';

/** What a command returned. */
export interface CommandResult {
  stdout: string;
  /** Its stderr, followed by the spawn or timeout error when it did not exit by itself. */
  stderr: string;
  /** The exit status; 0 is success, 1 when it did not exit by itself (not found, timed out). */
  code: number;
}

/** Options of runCommand. */
export interface RunCommandOptions {
  /** Killed after this many milliseconds. Default 120 000. */
  timeout?: number;
  /** Its environment. Default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Its working directory. Default this process's. */
  cwd?: string;
  /** Written to its stdin, which is then closed. Default: stdin closed at once. */
  input?: string;
}

/** Runs `file` with `args`; resolves with its output and exit status, never rejects. */
export function runCommand(file: string, args: string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: options.timeout ?? 120_000, maxBuffer: 16 * 1024 * 1024, env: options.env ?? process.env, ...(options.cwd ? { cwd: options.cwd } : {}) }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ stdout: String(stdout), stderr: String(stderr) + (err && typeof err.code !== 'number' ? `\n${err.message}` : ''), code });
    });
    // A command that exits without reading all of it must not fail the run with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Runs the `openssl` CLI in `cwd` for its stdout (Node's crypto can neither
 * parse certificate requests nor issue certificates, so signing shells
 * out); rejects with openssl's own complaint, and says how to install it
 * when it is missing.
 */
export async function openssl(args: string[], cwd: string): Promise<string> {
  const r = await runCommand('openssl', args, { cwd, timeout: 30_000 });
  if (r.code === 0) return r.stdout;
  const missing = /ENOENT/.test(r.stderr) ? ' (is the openssl CLI installed? `apt-get install -y openssl`)' : '';
  throw new Error(`openssl ${args[0]} failed${missing}: ${r.stderr.trim() || `exit ${r.code}`}`);
}
