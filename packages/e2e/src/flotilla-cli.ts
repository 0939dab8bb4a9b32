/**
 * The `flotilla` command of this checkout, as tests run it: a command run to
 * completion (`flotilla token create …`), or a server role supervised as a
 * child process (`flotilla controller-manager …`).
 */
import { runCommand, type CommandResult } from '@flotilla/network';
import { superviseProcess, type SupervisedProcess } from './child-process.js';
import { flotillaBin } from './env.js';

/** Runs `flotilla ARGS` to completion: its exit code and output, never a throw. */
export function flotilla(args: string[], timeout = 60_000): Promise<CommandResult> {
  return runCommand(process.execPath, [flotillaBin(), ...args], { timeout });
}

/**
 * Starts `flotilla ARGS` as a supervised process named `name` and resolves
 * once `ready` holds (within 60 s); `started`, when given, collects it so
 * an afterAll can stop everything a test started.
 */
export async function startFlotilla(name: string, args: string[], ready: () => Promise<boolean>, started?: SupervisedProcess[]): Promise<SupervisedProcess> {
  const p = superviseProcess({
    name,
    readyMessage: `${name} to be ready`,
    readyTimeout: 60_000,
    stopGraceMs: 10_000,
    incarnation: async () => ({ args: [flotillaBin(), ...args], command: `flotilla ${args.join(' ')}`, ready: async () => ready() }),
  });
  started?.push(p);
  await p.launch();
  return p;
}

/** A readiness check for a server role whose health endpoint answers on `http://127.0.0.1:PORT/healthz`. */
export function healthzOn(port: number): () => Promise<boolean> {
  return async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok ?? false;
}
