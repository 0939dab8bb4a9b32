/**
 * The `flotctl` command: kubectl's everyday verbs for people without
 * kubectl, plus what kubectl lacks (`why`, `status`). Reads the same
 * kubeconfig as kubectl.
 */
import { ApiError } from '@flotilla/api';
import { Command, Option } from 'commander';
import { makeContext, UsageError, type Ctx, type GlobalOptions } from './context.js';
import { apply, del } from './commands/apply.js';
import { describe } from './commands/describe.js';
import { get } from './commands/get.js';
import { cordon, drain, status, why } from './commands/nodes.js';
import { logs, rollout, scale } from './commands/workloads.js';
import { ManifestError } from './manifests.js';

/** Where a run writes; tests pass buffers. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Raw bytes (logs). */
  write: (chunk: Buffer) => void;
  stdin?: () => string;
  signal?: AbortSignal;
}

const intArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`"${v}" is not an integer`);
  return n;
};

const collect = (v: string, prev: string[]) => [...prev, v];

/** Builds the program; each action sets `exit` with its exit code. */
export function createProgram(io: Io, exit: (code: number) => void): Command {
  const program = new Command('flotctl')
    .description("Flotilla's command line: kubectl's everyday verbs, plus `why` and `status`")
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <ns>', 'namespace of the request')
    .option('-s, --server <url>', 'apiserver URL (instead of the kubeconfig)')
    .option('--token <token>', 'bearer token (instead of the kubeconfig user)')
    .option('--insecure-skip-tls-verify', 'do not verify the server certificate')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const ctxOf = (cmd: Command): Ctx => makeContext(cmd.optsWithGlobals() as GlobalOptions, io);
  const run = (fn: (...a: never[]) => Promise<number>) => async (...a: unknown[]) => exit(await (fn as (...x: unknown[]) => Promise<number>)(...a));

  program.command('get <type> [names...]').description('list objects (server-rendered tables) or print them')
    .option('-o, --output <format>', 'wide, yaml, json or name')
    .option('-l, --selector <selector>', 'label selector')
    .option('--field-selector <selector>', 'field selector')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-w, --watch', 'print changes as they happen')
    .action(run(async (type: string, names: string[], o: Record<string, unknown>, cmd: Command) =>
      get(ctxOf(cmd), [type, ...names], { ...(o as object), ...(io.signal ? { signal: io.signal } : {}) })));

  program.command('apply').description('create or update objects from manifests (multi-document YAML)')
    .option('-f, --filename <path>', 'file, directory or - (repeatable)', collect, [])
    .option('--dry-run', 'say what would happen, change nothing')
    .action(run(async (o: { filename: string[]; dryRun?: boolean }, cmd: Command) => apply(ctxOf(cmd), { ...o, ...(io.stdin ? { stdin: io.stdin } : {}) })));

  program.command('delete [args...]').description('delete objects by name, selector or manifest; waits until they are gone')
    .option('-f, --filename <path>', 'file, directory or - (repeatable)', collect, [])
    .option('-l, --selector <selector>', 'label selector')
    .option('--all', 'every object of the type in the namespace')
    .option('--ignore-not-found', 'a missing object is not an error')
    .option('--wait [bool]', 'wait until the objects are gone (default true)', (v) => v !== 'false', true)
    .option('--grace-period <seconds>', 'seconds to let the pods stop', intArg)
    .addOption(new Option('--cascade <mode>', 'background, foreground or orphan').choices(['background', 'foreground', 'orphan']).default('background'))
    .action(run(async (args: string[], o: Record<string, unknown>, cmd: Command) => del(ctxOf(cmd), args, { filename: [], ...(o as object), ...(io.stdin ? { stdin: io.stdin } : {}) })));

  program.command('describe <type> [names...]').description('show an object in readable sections, with its Events')
    .action(run(async (type: string, names: string[], _o: unknown, cmd: Command) => describe(ctxOf(cmd), [type, ...names])));

  program.command('logs <pod>').description("print a container's log (pod/NAME, deploy/NAME …)")
    .option('-c, --container <name>', 'container of the pod')
    .option('-f, --follow', 'keep printing as the log grows')
    .option('-p, --previous', 'the previous instance of the container')
    .option('--tail <lines>', 'only the last lines', intArg)
    .option('--timestamps', 'prefix each line with its time')
    .action(run(async (pod: string, o: Record<string, unknown>, cmd: Command) => logs(ctxOf(cmd), pod, { ...(o as object), ...(io.signal ? { signal: io.signal } : {}) }, io.write)));

  program.command('scale <args...>').description('set the replicas of a deployment or replicaset')
    .requiredOption('--replicas <n>', 'the new number of replicas', intArg)
    .action(run(async (args: string[], o: { replicas: number }, cmd: Command) => scale(ctxOf(cmd), args, o.replicas)));

  program.command('rollout <action> <deployment>').description('status | history | undo | restart | pause | resume of a deployment')
    .option('--to-revision <n>', 'revision to roll back to (undo)', intArg)
    .option('--timeout <seconds>', 'give up waiting after this long (status)', intArg)
    .action(run(async (action: string, target: string, o: { toRevision?: number; timeout?: number }, cmd: Command) =>
      rollout(ctxOf(cmd), action, target, { ...(o.toRevision !== undefined ? { toRevision: o.toRevision } : {}), ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}), ...(io.signal ? { signal: io.signal } : {}) })));

  program.command('cordon <node>').description('mark a node unschedulable').action(run(async (node: string, _o: unknown, cmd: Command) => cordon(ctxOf(cmd), node, true)));
  program.command('uncordon <node>').description('mark a node schedulable again').action(run(async (node: string, _o: unknown, cmd: Command) => cordon(ctxOf(cmd), node, false)));
  program.command('drain <node>').description('cordon a node and evict its pods (honouring disruption budgets), waiting until they are gone')
    .option('--grace-period <seconds>', 'seconds to let each pod stop', intArg)
    .option('--timeout <seconds>', 'give up after this long', intArg)
    .option('--disable-eviction', 'delete pods instead of evicting them')
    .action(run(async (node: string, o: { gracePeriod?: number; timeout?: number; disableEviction?: boolean }, cmd: Command) =>
      drain(ctxOf(cmd), node, { ...(o.gracePeriod !== undefined ? { gracePeriod: o.gracePeriod } : {}), ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}), ...(o.disableEviction ? { disableEviction: true } : {}) })));

  program.command('why <pod>').description('explain in plain words why a pod is pending, crash-looping, unready or failed (exit 2 when it is not healthy)')
    .action(run(async (pod: string, _o: unknown, cmd: Command) => {
      const r = await why(ctxOf(cmd), pod);
      io.out(r.text);
      return r.code;
    }));
  program.command('status').description('the cluster at a glance: hosts, their pods, and what is unhealthy since when')
    .action(run(async (_o: unknown, cmd: Command) => status(ctxOf(cmd))));
  return program;
}

/** Message and exit code of an error, as kubectl words them. */
export function reportError(err: unknown, io: Io): number {
  if (err instanceof ApiError) io.err(`Error from server (${err.reason}): ${err.message}`);
  else if (err instanceof UsageError || err instanceof ManifestError) io.err(`error: ${err.message}`);
  else if ((err as { code?: string }).code?.startsWith?.('commander.')) {
    const code = (err as { exitCode?: number }).exitCode ?? 1;
    return code;
  } else io.err(`error: ${(err as Error)?.message ?? String(err)}`);
  return 1;
}

/** Runs flotctl with argv (node, script, …); resolves with the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  let code = 0;
  const program = createProgram(io, (c) => (code = c));
  program.configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    return reportError(err, io);
  }
  return code;
}
