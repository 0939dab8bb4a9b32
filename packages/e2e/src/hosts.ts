import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '@flotilla/network';
import { repoRoot } from './env.js';

/** What a command run on a host (or the machine) returned. */
export type ExecResult = CommandResult;

/** One worker host of a test cluster: a network namespace with its own dockerd. */
export interface Host {
  /** `h1`, `h2`, … (the agent's --node-name). */
  name: string;
  /** 1-based number of the host in its cluster. */
  index: number;
  /** The host's address on the cluster bridge (the agent's --node-ip). */
  ip: string;
  /** `unix:///…/docker.sock` of its engine (the agent's --docker-host). */
  dockerHost: string;
  /** The network namespace (/var/run/netns/<netns>). */
  netns: string;
  /** The root namespace's end of its veth: down means cut off. */
  veth: string;
  /** Runs argv inside the host's network namespace (nsenter --net); never throws on a non-zero exit. */
  exec(argv: string[], options?: { timeout?: number }): Promise<ExecResult>;
  /** Runs the docker CLI against this host's engine; throws on a non-zero exit, returns stdout trimmed. */
  docker(args: string[], options?: { timeout?: number }): Promise<string>;
  /** Power cut: SIGKILLs every process of the host (dockerd, containerd, its containers, anything run in its netns). */
  kill(): Promise<void>;
  /** Pulls the host's network cable (its veth goes down); the processes keep running. */
  disconnect(): Promise<void>;
  /** Plugs the cable back in. */
  connect(): Promise<void>;
}

/**
 * A set of hosts on one bridge, made by scripts/hosts.sh, with the route
 * sink in place (cluster addresses stay on this machine). The pod network is
 * the cluster's: run the controller-manager with `--cluster-cidr podCIDR` and
 * the agents inside the hosts' namespaces (startCluster's `docker.netns`).
 */
export interface HostCluster {
  /** The cluster name: bridge `<name>0`, namespaces `<name>-h1` … */
  name: string;
  /** The bridge in the root namespace. */
  bridge: string;
  /** The bridge's address: where processes in the root namespace (an apiserver) are reached from hosts and pods. */
  gateway: string;
  /**
   * The pod range of this cluster (its slot's /20 of 10.244.0.0/16): the
   * controller-manager's --cluster-cidr, so concurrent test clusters, whose
   * routes share the root namespace, never hand out the same node range.
   */
  podCIDR: string;
  hosts: Host[];
  /** Creates the next host (h<N+1>) of the cluster, appends it to `hosts` and returns it. */
  addHost(): Promise<Host>;
  /** Removes every host, the bridge, routes and iptables rules; safe to call twice. */
  delete(): Promise<void>;
}

/** Options of createHosts. */
export interface CreateHostsOptions {
  /** Cluster name prefix (a random suffix is added): 1-3 lower-case letters, default `t`. */
  prefix?: string;
  /** Load the flotilla/* images into every host (default true). */
  images?: boolean;
}

// Subnet slot K gives hosts 10.250.K.0/24 and pods 10.244.(16K).0/20 (16
// node ranges of /24); slot 0 is the developer's cluster of scripts/up.sh
// (its controller-manager allocates from 10.244.0.0/16 upwards, nodes
// taking 10.244.0-8.0/24).
const FIRST_SLOT = 1;
const LAST_SLOT = 15;

/** The pod range of a subnet slot. */
export function slotPodCIDR(slot: number): string {
  return `10.244.${slot * 16}.0/20`;
}

function hostsScript(): string {
  return join(repoRoot(), 'scripts', 'hosts.sh');
}

/**
 * Slots are machine-wide, not per checkout: two clones running tests at the
 * same time share the kernel's routes and bridges, so they must not share a
 * subnet. /run is cleared at boot, like the namespaces the slots stand for.
 */
function slotDir(): string {
  return process.env.FLOTILLA_HOST_SLOTS_DIR ?? '/run/flotilla/host-slots';
}

/** Runs a command; resolves with its output and exit status instead of throwing. */
export const run = runCommand;

/** Whether a process with this PID exists (signal 0). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Claims a free subnet slot with an atomic mkdir, so test files running at
 * the same time never share addresses. A slot whose owner process is gone
 * is taken over.
 */
async function claimSlot(name: string): Promise<number> {
  await mkdir(slotDir(), { recursive: true });
  const start = FIRST_SLOT + Math.floor(Math.random() * (LAST_SLOT - FIRST_SLOT + 1));
  for (let i = 0; i <= LAST_SLOT - FIRST_SLOT; i += 1) {
    const slot = FIRST_SLOT + ((start - FIRST_SLOT + i) % (LAST_SLOT - FIRST_SLOT + 1));
    const dir = join(slotDir(), String(slot));
    try {
      await mkdir(dir);
    } catch {
      const owner = await readFile(join(dir, 'owner'), 'utf8').catch(() => '');
      const [pidText, ownerName] = owner.trim().split(' ');
      const pid = Number(pidText);
      // An owner that died without deleting: its hosts go before the slot is reused.
      if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
      if (ownerName) await run(hostsScript(), ['delete', '--name', ownerName]);
    }
    await writeFile(join(dir, 'owner'), `${process.pid} ${name}\n`);
    return slot;
  }
  throw new Error(`no free host subnet slot (${FIRST_SLOT}-${LAST_SLOT} all taken; see ${slotDir()})`);
}

/**
 * Creates `count` worker hosts (1-9) with scripts/hosts.sh under a unique
 * name and subnet, so concurrent test files never collide. Needs root.
 * Call `delete()` in afterAll.
 */
export async function createHosts(count: number, options: CreateHostsOptions = {}): Promise<HostCluster> {
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new Error(`createHosts: count must be 1-9, got ${count}`);
  const prefix = options.prefix ?? 't';
  if (!/^[a-z]{1,3}$/.test(prefix)) throw new Error(`createHosts: prefix must be 1-3 lower-case letters, got '${prefix}'`);
  const name = `${prefix}${randomBytes(3).toString('hex').slice(0, 5)}`;
  const slot = await claimSlot(name);
  const flags = ['--name', name, '--subnet', `10.250.${slot}`];
  if (options.images === false) flags.push('--no-images');
  let deleted = false;
  const remove = async (): Promise<void> => {
    if (deleted) return;
    deleted = true;
    const res = await run(hostsScript(), ['delete', ...flags.slice(0, 2)]);
    await rm(join(slotDir(), String(slot)), { recursive: true, force: true });
    if (res.code !== 0) throw new Error(`hosts.sh delete ${name} failed (${res.code}): ${res.stderr}`);
  };
  const res = await run(hostsScript(), ['create', String(count), ...flags], { timeout: 150_000 });
  if (res.code !== 0) {
    await remove().catch(() => undefined);
    throw new Error(`hosts.sh create ${count} ${flags.join(' ')} failed (${res.code}): ${res.stderr}`);
  }
  const parse = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((line) => hostFromLine(line, name, flags.slice(0, 2)));
  const hosts = parse(res.stdout);
  const addHost = async (): Promise<Host> => {
    const next = hosts.length + 1;
    if (next > 9) throw new Error(`createHosts: a cluster has at most 9 hosts`);
    const r = await run(hostsScript(), ['create', String(next), ...flags], { timeout: 150_000 });
    if (r.code !== 0) throw new Error(`hosts.sh create ${next} ${flags.join(' ')} failed (${r.code}): ${r.stderr}`);
    const host = parse(r.stdout).find((h) => h.index === next);
    if (!host) throw new Error(`hosts.sh create ${next} printed no line for h${next}`);
    hosts.push(host);
    return host;
  };
  return { name, bridge: `${name}0`, gateway: `10.250.${slot}.1`, podCIDR: slotPodCIDR(slot), hosts, addHost, delete: remove };
}

/** Deletes a cluster made by createHosts (the same as `cluster.delete()`). */
export async function deleteHosts(cluster: HostCluster): Promise<void> {
  await cluster.delete();
}

/**
 * Removes every pod container (sandboxes and apps) from the engines of
 * `cluster`'s hosts: what a stopped agent leaves running. Best effort, for
 * a test's cleanup before the hosts are deleted.
 */
export async function removePodContainers(cluster: HostCluster | undefined): Promise<void> {
  for (const h of cluster?.hosts ?? []) {
    const ids = (await h.docker(['ps', '-aq', '--filter', 'label=io.flotilla.pod.uid']).catch(() => '')).split('\n').filter(Boolean);
    if (ids.length) await h.docker(['rm', '-f', ...ids]).catch(() => undefined);
  }
}

function hostFromLine(line: string, cluster: string, nameFlags: string[]): Host {
  const [name, ip, dockerHost, netns, veth] = line.split('\t');
  if (!name || !ip || !dockerHost || !netns || !veth) throw new Error(`unexpected hosts.sh line: ${JSON.stringify(line)}`);
  const index = Number(name.slice(1));
  const script = async (cmd: string): Promise<void> => {
    const r = await run(hostsScript(), [cmd, String(index), ...nameFlags]);
    if (r.code !== 0) throw new Error(`hosts.sh ${cmd} ${index} (${cluster}) failed: ${r.stderr}`);
  };
  return {
    name,
    index,
    ip,
    dockerHost,
    netns,
    veth,
    exec: (argv, options = {}) => run('nsenter', [`--net=/var/run/netns/${netns}`, '--', ...argv], options),
    docker: async (args, options = {}) => {
      const r = await run('docker', ['-H', dockerHost, ...args], options);
      if (r.code !== 0) throw new Error(`docker -H ${dockerHost} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout.trim();
    },
    kill: () => script('kill'),
    disconnect: () => script('disconnect'),
    connect: () => script('connect'),
  };
}
