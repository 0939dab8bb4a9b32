/**
 * A state directory for the agents of one test file (termination logs,
 * projected volumes), removed once the file's tests are done. Without one an
 * agent keeps its state under the system's temporary directory
 * (`flotilla-agent/<node>`), which every run of the unit tests shared and
 * none removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** Call at the top of a test file; the directory goes after its last test. */
export function testStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-agent-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
