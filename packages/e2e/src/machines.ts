/**
 * "Machines" for tests that follow a README as an operator would: a host of
 * createHosts (its own network namespace and dockerd) plus its own mount
 * namespace in which /var/lib, /etc (an overlay of the real one), /usr/local,
 * /root and the working directory are private, and the host's engine is
 * the socket at /var/run/docker.sock. A machine is one long-lived bash
 * reading commands from the test, so variables and the working directory
 * carry over from one README block to the next, as in a terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCommand } from '@flotilla/network';
import { repoRoot } from './env.js';

/** One shell block of a README section and where it runs. */
export interface ReadmeBlock {
  /**
   * From the block's first line: `# on the control plane`, `# on each worker`,
   * `# on every machine`, `# on this checkout`; for a highly available
   * control plane `# on each control-plane machine`, `# on the first
   * control-plane machine`, `# on each other control-plane machine`,
   * `# on the machine of the balancer`.
   */
  where: 'control-plane' | 'worker' | 'every' | 'checkout' | 'each-control-plane' | 'first-control-plane' | 'other-control-planes' | 'balancer';
  text: string;
}

/** First-line prefixes (lower case) and where a block so marked runs. */
const WHERE: Array<[string, ReadmeBlock['where']]> = [
  ['# on the control plane', 'control-plane'],
  ['# on each worker', 'worker'],
  ['# on every machine', 'every'],
  ['# on this checkout', 'checkout'],
  ['# on each control-plane machine', 'each-control-plane'],
  ['# on the first control-plane machine', 'first-control-plane'],
  ['# on each other control-plane machine', 'other-control-planes'],
  ['# on the machine of the balancer', 'balancer'],
];

/** The ```sh blocks of the README section titled `title` (up to the next `## ` or `### ` heading), with where each runs. */
export function readmeBlocks(readme: string, title: string): ReadmeBlock[] {
  const start = readme.indexOf(`## ${title}\n`);
  if (start < 0) throw new Error(`README has no section "## ${title}"`);
  const rest = readme.slice(start + title.length + 4);
  const next = rest.search(/\n#{2,3} /);
  const section = next < 0 ? rest : rest.slice(0, next);
  const blocks: ReadmeBlock[] = [];
  for (const m of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const text = m[1]!;
    const first = text.split('\n')[0]!.toLowerCase();
    const where = WHERE.find(([prefix]) => first.startsWith(prefix))?.[1];
    if (!where) throw new Error(`a block of "${title}" does not say where it runs on its first line: ${JSON.stringify(first)}`);
    blocks.push({ where, text });
  }
  return blocks;
}

/** Options of startMachine. */
export interface MachineOptions {
  name: string;
  /** Where the machine's private directories live (created). */
  dir: string;
  /** The network namespace (a createHosts host's `netns`). */
  netns: string;
  /** `unix:///…/docker.sock` of its engine, bound at /var/run/docker.sock. */
  dockerHost?: string;
  /**
   * Run that engine inside the machine (a createHosts dockerd, restarted here
   * with the same flags and data): the agent bind-mounts files from its state
   * dir under the private /var/lib, which an engine outside would not see.
   */
  ownDockerd?: boolean;
  /** The only environment the shell gets besides PATH and HOME. */
  env: Record<string, string>;
}

/** A running machine shell. */
export interface Machine {
  readonly name: string;
  /** Its working directory (the same path inside and outside). */
  readonly workDir: string;
  /** Where its private /var/lib is seen from outside. */
  readonly varLib: string;
  /** Runs a block in the shell (`set -eu`: the first failure ends the machine); resolves when it finished. */
  run(text: string, timeoutMs: number): Promise<void>;
  /** The values of shell variables (unset ones are left out). */
  vars(names: string[]): Promise<Record<string, string>>;
  /** Everything the shell and its processes wrote. */
  logs(): Promise<string>;
  /** Ends every process of the machine (all of its mount namespace, by PID), TERM then KILL. */
  stop(): Promise<void>;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** PIDs of every process in the mount namespace `ns` (`mnt:[…]`). */
async function pidsIn(ns: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const link = await readlink(`/proc/${e}/ns/mnt`).catch(() => undefined);
    if (link === ns) out.push(Number(e));
  }
  return out;
}

/**
 * Shell lines that start a createHosts engine (directory `hd`, see
 * scripts/hosts.sh) inside the machine, with hosts.sh's flags and PID file so
 * `hosts.sh delete` still finds it, and wait until it answers.
 */
function ownDockerd(hd: string): string[] {
  return [
    `HD=${q(hd)}`,
    'rm -f "$HD/dockerd.own.pid" "$HD/exec/containerd/containerd.pid" "$HD/docker.sock"',
    'DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd --data-root "$HD/docker" --exec-root "$HD/exec" -H "unix://$HD/docker.sock" --pidfile "$HD/dockerd.own.pid" --iptables=true >>"$HD/dockerd.log" 2>&1 </dev/null &',
    'echo $! > "$HD/dockerd.pid"',
    'for i in $(seq 150); do curl -sf --unix-socket "$HD/docker.sock" http://docker/_ping >/dev/null && break; sleep 0.2; done',
    'curl -sf --unix-socket "$HD/docker.sock" http://docker/_ping >/dev/null',
  ];
}

/** Stops a createHosts engine (by its PID file) so a machine can run it instead; resolves once it is gone. */
export async function stopHostDockerd(dockerHost: string): Promise<void> {
  const hd = dirname(dockerHost.replace(/^unix:\/\//, ''));
  const pid = Number((await readFile(join(hd, 'dockerd.pid'), 'utf8').catch(() => '')).trim());
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`dockerd ${pid} (${hd}) did not stop within 30 s`);
}

/** Starts a machine: its mounts, then a shell in its working directory. */
export async function startMachine(o: MachineOptions): Promise<Machine> {
  const M = o.dir;
  const status = join(M, 'status');
  await mkdir(status, { recursive: true });
  const logFile = join(M, 'machine.log');
  const sock = o.dockerHost?.replace(/^unix:\/\//, '');
  const setup = [
    'set -e',
    `M=${q(M)}`,
    'mkdir -p "$M/var-lib" "$M/usr-local" "$M/etc-upper" "$M/etc-work" "$M/root" "$M/work"',
    'mount --bind "$M/var-lib" /var/lib',
    'mount --bind "$M/usr-local" /usr/local',
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$M/etc-upper,workdir=$M/etc-work" /etc',
    'mount --bind "$M/root" /root',
    ...(sock && o.ownDockerd ? ownDockerd(dirname(sock)) : []),
    ...(sock ? [`mount --bind ${q(sock)} /var/run/docker.sock`] : []),
    // Names outside the cluster are never resolved off this machine.
    'rm -f /etc/resolv.conf && echo "nameserver 127.0.0.1" > /etc/resolv.conf',
    'cd "$M/work"',
    'readlink /proc/$$/ns/mnt > "$M/status/mntns"',
    'exec bash --norc --noprofile -eu -o pipefail',
  ].join('\n');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('nsenter', [`--net=/var/run/netns/${o.netns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'bash', '-c', setup], {
      stdio: ['pipe', fd, fd],
      env: { PATH, HOME: '/root', ...o.env },
    });
  } finally {
    closeSync(fd);
  }
  let exit: string | undefined;
  child.on('exit', (code, signal) => {
    exit = `exited with ${code ?? signal}`;
  });
  const tail = async () => (await readFile(logFile, 'utf8').catch(() => '')).slice(-6000);
  const waitFile = async (file: string, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(file)) {
      if (exit) throw new Error(`machine ${o.name}: its shell ${exit} while ${what}\n--- its log (tail):\n${await tail()}`);
      if (Date.now() > deadline) throw new Error(`machine ${o.name}: ${what} took more than ${timeoutMs} ms\n--- its log (tail):\n${await tail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  try {
    await waitFile(join(status, 'mntns'), 60_000, 'setting up its mounts');
  } catch (err) {
    // Nothing else runs in its namespace yet: the shell is all there is to stop.
    child.kill('SIGKILL');
    throw err;
  }
  const ns = (await readFile(join(status, 'mntns'), 'utf8')).trim();
  let seq = 0;
  const machine: Machine = {
    name: o.name,
    workDir: join(M, 'work'),
    varLib: join(M, 'var-lib'),
    async run(text, timeoutMs) {
      const n = ++seq;
      const done = join(status, `block-${n}`);
      child.stdin!.write(`echo "### ${o.name}: block ${n}"\n${text}\necho done > ${q(done)}\n`);
      await waitFile(done, timeoutMs, `running block ${n}:\n${text}`);
    },
    async vars(names) {
      const n = ++seq;
      const file = join(status, `vars-${n}`);
      child.stdin!.write(`for __v in ${names.join(' ')}; do [ -n "\${!__v+x}" ] && printf '%s=%s\\n' "$__v" "\${!__v}"; done > ${q(file)}.tmp; mv ${q(file)}.tmp ${q(file)}\n`);
      await waitFile(file, 10_000, 'reading variables');
      const out: Record<string, string> = {};
      for (const line of (await readFile(file, 'utf8')).split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return out;
    },
    logs: () => readFile(logFile, 'utf8').catch(() => ''),
    async stop() {
      child.stdin?.end();
      let pids = await pidsIn(ns);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
      const deadline = Date.now() + 15_000;
      while ((pids = await pidsIn(ns)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      const killDeadline = Date.now() + 5_000;
      while ((await pidsIn(ns)).length > 0 && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 100));
    },
  };
  return machine;
}

/**
 * Runs a README block meant for the operator's checkout (`bash -euo
 * pipefail` in this repository), which builds the one artifact
 * `dist/flotilla-*-linux.tar.gz`, and copies that artifact into the working
 * directory of each machine, as the operator would. Throws with the block's
 * output if it fails, or if it did not leave exactly one artifact.
 */
export async function buildArtifactOnCheckout(text: string, machines: Machine[], timeoutMs = 600_000): Promise<void> {
  const res = await runCommand('bash', ['-euo', 'pipefail', '-c', text], { cwd: repoRoot(), timeout: timeoutMs });
  if (res.code !== 0) throw new Error(`the checkout's block exited ${res.code}:\n${text}\n${`${res.stdout}${res.stderr}`.slice(-4000)}`);
  const dist = join(repoRoot(), 'dist');
  const tarballs = (await readdir(dist)).filter((f) => /^flotilla-.*-linux\.tar\.gz$/.test(f));
  if (tarballs.length !== 1) throw new Error(`want exactly one artifact in ${dist}, found: ${tarballs.join(', ') || 'none'}`);
  for (const m of machines) await cp(join(dist, tarballs[0]!), join(m.workDir, tarballs[0]!));
}
