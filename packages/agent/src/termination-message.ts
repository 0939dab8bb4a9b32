/**
 * Termination messages as the kubelet makes them: every container gets a
 * host file bind-mounted at its `terminationMessagePath`
 * (`/dev/termination-log`); after it exits the message is that file
 * (`File`), or, with `FallbackToLogsOnError`, the tail of its output when
 * the file is empty and the container failed.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
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

/** Where the agent keeps its containers' termination-log files. */
export interface TerminationLogs {
  /** Makes one container instance's file (empty) and returns its mount. */
  prepare(podUid: string, c: Container, attempt: number): Promise<Mount>;
  /** What the instance wrote to it, at most 4 KiB; empty when nothing (or no file). */
  read(podUid: string, container: string, attempt: number): Promise<string>;
  /** Removes a pod's files. */
  removePod(podUid: string): Promise<void>;
}

const mountOf = (c: Container, path: string): Mount => ({ name: 'termination-log', containerPath: c.terminationMessagePath || '/dev/termination-log', hostPath: { path, type: 'File' } });

/** Host files under `stateDir`, bind-mounted into the containers (what real containers write to). */
export function fileTerminationLogs(stateDir: string): TerminationLogs {
  return {
    async prepare(podUid, c, attempt) {
      const file = terminationLogFile(stateDir, podUid, c.name, attempt);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, '');
      // World-writable: any runAsUser may write it.
      await chmod(file, 0o666);
      return mountOf(c, file);
    },
    async read(podUid, container, attempt) {
      try {
        const buf = await readFile(terminationLogFile(stateDir, podUid, container, attempt));
        return buf.subarray(0, MAX_FILE_MESSAGE).toString('utf8');
      } catch {
        // No file (a container made before this agent version, or removed): as an empty one.
        return '';
      }
    },
    async removePod(podUid) {
      // A runtime that removes the pod's directory has done this already; a fake has not.
      await rm(terminationLogDir(stateDir, podUid), { recursive: true, force: true });
    },
  };
}

/**
 * No files: every message is empty (then FallbackToLogsOnError still takes
 * the output). For hollow nodes, whose fake containers write nothing: the
 * files were three directories and a file per container, the fleet's
 * largest filesystem cost, and gigabytes at 150,000 pods.
 */
export function noTerminationLogs(stateDir: string): TerminationLogs {
  return {
    prepare: async (podUid, c, attempt) => mountOf(c, terminationLogFile(stateDir, podUid, c.name, attempt)),
    read: async () => '',
    removePod: async () => undefined,
  };
}

/**
 * The message of an exited instance: what it wrote to its file (`written`,
 * at most 4 KiB); with FallbackToLogsOnError and nothing written after a
 * failure, the last output (`tail()`, at most 2 KiB).
 */
export async function terminationMessage(written: string, c: Container | undefined, exitCode: number, tail: () => Promise<string>): Promise<string> {
  let text = written;
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
