/**
 * Termination messages as the kubelet makes them: every container gets a
 * host file bind-mounted at its `terminationMessagePath`
 * (`/dev/termination-log`); after it exits the message is that file
 * (`File`), or, with `FallbackToLogsOnError`, the tail of its output when
 * the file is empty and the container failed.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Container } from '@flotilla/api';
import type { Mount } from './runtime/types.js';

/** Largest message read from the file (Kubernetes: 4 KiB per container). */
export const MAX_FILE_MESSAGE = 4096;
/** Largest message taken from the logs (Kubernetes: 2 KiB or 80 lines). */
export const MAX_LOG_MESSAGE = 2048;

const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '-');

/** The directory of a pod's termination-log files. */
export function terminationLogDir(stateDir: string, podUid: string): string {
  return join(stateDir, 'pods', safe(podUid), 'containers');
}

/** The host file behind one container instance's termination message. */
export function terminationLogFile(stateDir: string, podUid: string, container: string, attempt: number): string {
  return join(terminationLogDir(stateDir, podUid), safe(container), `${attempt}-termination-log`);
}

/** Creates the (empty, world-writable: any runAsUser may write it) file and returns its mount. */
export async function prepareTerminationLog(stateDir: string, podUid: string, c: Container, attempt: number): Promise<Mount> {
  const file = terminationLogFile(stateDir, podUid, c.name, attempt);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, '');
  await chmod(file, 0o666);
  return { name: 'termination-log', containerPath: c.terminationMessagePath || '/dev/termination-log', hostPath: { path: file, type: 'File' } };
}

/**
 * The message of an exited instance: the file's content (at most 4 KiB);
 * with FallbackToLogsOnError and an empty file after a failure, the last
 * output (`tail()`, at most 2 KiB).
 */
export async function terminationMessage(file: string, c: Container | undefined, exitCode: number, tail: () => Promise<string>): Promise<string> {
  let text = '';
  try {
    const buf = await readFile(file);
    text = buf.subarray(0, MAX_FILE_MESSAGE).toString('utf8');
  } catch {
    // No file (a container made before this agent version, or removed): as an empty one.
  }
  if (text.trim() === '' && exitCode !== 0 && c?.terminationMessagePolicy === 'FallbackToLogsOnError') {
    let out = '';
    try {
      out = await tail();
    } catch {
      // Removed meanwhile: no message, as Kubernetes when the log is gone.
    }
    const b = Buffer.from(out);
    text = (b.length > MAX_LOG_MESSAGE ? b.subarray(-MAX_LOG_MESSAGE) : b).toString('utf8');
  }
  return text.replace(/\s+$/, '');
}
