/**
 * Exiting a command-line process without losing its output.
 *
 * `process.exit()` drops whatever stdout and stderr still have queued. To a
 * pipe, Node writes synchronously only while the pipe's buffer (64 KiB on
 * Linux) has room; past that the rest waits in the stream. So a command
 * whose reader is slower than it (`flotctl exec … | gzip`, `flotctl get -o
 * json | jq`, a test harness under load) lost the tail of its output.
 */

/** Resolves once every write already made to `stream` has been handed to the OS (at once when it is closed). */
function flushed(stream: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  // Writes complete in order: an empty one's callback runs after all before it (or with the error that ended them).
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** Exits with `code` once stdout and stderr have written out everything given to them. */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
