#!/usr/bin/env node
import { exitWhenFlushed } from '@flotilla/client';
import { main } from '../program.js';

const controller = new AbortController();
// Ctrl-C ends a follow or a watch cleanly; a second one exits at once.
process.once('SIGINT', () => {
  controller.abort();
  process.once('SIGINT', () => process.exit(130));
});
const code = await main(process.argv, {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  write: (chunk) => process.stdout.write(chunk),
  writeErr: (chunk) => process.stderr.write(chunk),
  // Read only when a command asks for it (exec -i), so other commands never wait on a terminal.
  get input() {
    return process.stdin;
  },
  signal: controller.signal,
});
// Open keep-alive sockets must not hold the process; what is still on its way to a slow pipe must not be cut off.
await exitWhenFlushed(code);
