/**
 * The `flotctl` command: kubectl's everyday verbs for people without
 * kubectl, plus what kubectl lacks (`why`, `status`). Reads the same
 * kubeconfig as kubectl.
 */
import { ApiError } from '@flotilla/api';
import { Command, Option } from 'commander';
import { makeContext, UsageError, type Ctx, type GlobalOptions } from './context.js';
import { apply, del } from './commands/apply.js';
import { chaosRun, DEFAULT_RUN_ACTIONS, killAgent, killComponent, killContainer, killHost, partitionHost, type ChaosEvent, type ChaosOptions } from './commands/chaos.js';
import { describe } from './commands/describe.js';
import { exec } from './commands/exec.js';
import { get } from './commands/get.js';
import { cordon, drain, status, why } from './commands/nodes.js';
import { logs, rollout, scale } from './commands/workloads.js';
import { ManifestError } from './manifests.js';

/** Where a run writes; tests pass buffers. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Raw bytes (logs, exec's stdout). */
  write: (chunk: Buffer) => void;
  /** Raw bytes to stderr (exec's stderr); `err` line by line when unset. */
  writeErr?: (chunk: Buffer) => void;
  /** What `exec -i` sends as the command's stdin. */
  input?: NodeJS.ReadableStream;
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

  program.command('exec <pod> [command...]').description('run a command in a container (pod/NAME, deploy/NAME …): flotctl exec POD -- COMMAND [ARGS…]; exits with its exit code')
    .option('-c, --container <name>', 'container of the pod (default: the first)')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'stdin is a TTY')
    .action(run(async (pod: string, command: string[], o: { container?: string; stdin?: boolean; tty?: boolean }, cmd: Command) =>
      exec(ctxOf(cmd), pod, command, {
        ...(o.container ? { container: o.container } : {}),
        ...(o.stdin ? { stdin: true } : {}),
        ...(o.tty ? { tty: true } : {}),
        ...(io.input ? { input: io.input } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
      }, io.write, io.writeErr ?? ((c) => io.err(c.toString('utf8').replace(/\n$/, ''))))));

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

  const chaos = program.command('chaos').description('break the local cluster of scripts/up.sh on purpose (SIGKILLs, pulled cables) and watch it heal')
    .option('--state-dir <dir>', "up.sh's state directory (default: $FLOTILLA_STATE or ./.flotilla)")
    .option('--hosts-name <name>', 'the worker hosts of scripts/hosts.sh', 'flot')
    .option('--run-dir <dir>', "the processes' PID files, etcd.pid included (default: <state-dir>/run, etcd's under <state-dir>/etcd/)");
  const chaosOpts = (cmd: Command): ChaosOptions => {
    const o = cmd.optsWithGlobals() as { stateDir?: string; hostsName?: string; runDir?: string };
    return { ...(o.stateDir ? { stateDir: o.stateDir } : {}), ...(o.hostsName ? { hostsName: o.hostsName } : {}), ...(o.runDir ? { runDir: o.runDir } : {}) };
  };
  const did = (e: ChaosEvent) => {
    io.out(`${e.action}: ${e.target}`);
    return 0;
  };
  chaos.command('kill-container [pod]').description("SIGKILL the container of a random running pod (or the named one), through its host's Docker engine")
    .option('-l, --selector <selector>', 'only pods matching this label selector')
    .action(run(async (pod: string | undefined, o: { selector?: string }, cmd: Command) =>
      did(await killContainer(ctxOf(cmd), { ...chaosOpts(cmd), ...(o.selector ? { selector: o.selector } : {}), ...(pod ? { pod } : {}) }))));
  chaos.command('kill-agent <node>').description("SIGKILL a node's agent (its containers keep running)")
    .action(run(async (node: string, _o: unknown, cmd: Command) => did(await killAgent(chaosOpts(cmd), node))));
  chaos.command('kill-host <node>').description('power cut: SIGKILL the host\'s engine, containers and agent')
    .action(run(async (node: string, _o: unknown, cmd: Command) => did(await killHost(ctxOf(cmd), chaosOpts(cmd), node))));
  chaos.command('partition-host <node>').description("pull the host's network cable (its processes keep running)")
    .action(run(async (node: string, _o: unknown, cmd: Command) => did(await partitionHost(ctxOf(cmd), chaosOpts(cmd), node))));
  chaos.command('heal-host <node>').description("plug the host's network cable back in")
    .action(run(async (node: string, _o: unknown, cmd: Command) => did(await partitionHost(ctxOf(cmd), chaosOpts(cmd), node, true))));
  chaos.command('kill <component>').description('SIGKILL apiserver, scheduler, controller-manager, etcd, lb, dns, ingress or host-routes (one of several at random)')
    .action(run(async (component: string, _o: unknown, cmd: Command) => did(await killComponent(chaosOpts(cmd), component))));
  chaos.command('run').description('a random schedule of the above, reporting how fast each healed (restarts killed processes with scripts/up.sh)')
    .option('--duration <seconds>', 'how long to go on', intArg, 300)
    .option('--interval <seconds>', 'pause after each healing', intArg, 5)
    .option('--heal-timeout <seconds>', 'an action not healed by then is reported as such', intArg, 120)
    .option('--actions <list>', `comma-separated, from kill-container, kill-agent, kill-host, partition-host, kill-<component> (default ${DEFAULT_RUN_ACTIONS.join(',')})`)
    .option('--restart-command <path>', 'what brings killed processes back (default: scripts/up.sh of the checkout)')
    .action(run(async (o: { duration: number; interval: number; healTimeout: number; actions?: string; restartCommand?: string }, cmd: Command) =>
      chaosRun(ctxOf(cmd), {
        ...chaosOpts(cmd),
        durationMs: o.duration * 1000,
        intervalMs: o.interval * 1000,
        healTimeoutMs: o.healTimeout * 1000,
        actions: o.actions ? o.actions.split(',').map((a) => a.trim()).filter(Boolean) : DEFAULT_RUN_ACTIONS,
        ...(o.restartCommand ? { restartCommand: o.restartCommand } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
      })));
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
