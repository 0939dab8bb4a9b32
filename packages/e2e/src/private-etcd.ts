import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

/** The etcd binary tests start; Debian's etcd-server by default. */
export const ETCD_BINARY = process.env.FLOTILLA_ETCD_BINARY ?? '/usr/bin/etcd';

/** An etcd of a test's own, on its own ports and data directory. */
export interface PrivateEtcd {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** Starts it again after stop() or kill(), on the same ports and data. */
  start(): Promise<void>;
  /** SIGKILL: an etcd outage as a crash. */
  kill(): Promise<void>;
  /** PID of the running process, if any (for tools that kill by PID file, as `flotctl chaos` does). */
  pid(): number | undefined;
  /** Stops it and deletes its data. */
  close(): Promise<void>;
}

/** A several-member etcd cluster of a test's own. */
export interface PrivateEtcdCluster {
  /** Every member's client endpoint (what `--etcd-servers` takes). */
  readonly endpoints: string[];
  readonly members: PrivateEtcd[];
  /** The index of the current Raft leader (asks the members). */
  leader(): Promise<number>;
  /** Stops every member and deletes the data. */
  close(): Promise<void>;
}

interface MemberPorts {
  name: string;
  client: number;
  peer: number;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** A member, with its launch split from the wait (a new cluster's members must all launch before any is healthy). */
interface MemberHandle extends PrivateEtcd {
  launch(): ChildProcess;
  waitHealthy(p: ChildProcess): Promise<unknown>;
}

/** One member process: `cluster` lists every member (itself included) for --initial-cluster. */
async function etcdMember(self: MemberPorts, cluster: MemberPorts[]): Promise<MemberHandle> {
  const dataDir = await mkdtemp(join(tmpdir(), 'flotilla-private-etcd-'));
  const endpoint = `http://127.0.0.1:${self.client}`;
  const initialCluster = cluster.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  let proc: ChildProcess | undefined;
  let output = '';

  // Healthy, and the etcd answering is this member: ports come from freePort(), so another test's
  // etcd may have taken the same port between the pick and the bind. This one then exits ("address
  // already in use"), but the other may answer a health check first, and the test would go on
  // against an etcd it does not own (and freeze or kill a process that serves nothing).
  const healthy = async (): Promise<boolean> => {
    try {
      const res = await fetch(`${endpoint}/health`);
      if (!res.ok || ((await res.json()) as { health?: string }).health !== 'true') return false;
      const list = await fetch(`${endpoint}/v3/cluster/member/list`, { method: 'POST', body: '{}' });
      if (!list.ok) return false;
      const { members = [] } = (await list.json()) as { members?: { name?: string }[] };
      return members.some((m) => m.name === self.name);
    } catch {
      return false;
    }
  };

  const launch = (): ChildProcess => {
    output = '';
    const p = spawn(
      ETCD_BINARY,
      [
        '--name', self.name,
        '--data-dir', dataDir,
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', `http://127.0.0.1:${self.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${self.peer}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', cluster[0]!.name,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr?.on('data', (c: Buffer) => {
      output = (output + c.toString()).slice(-4096);
    });
    proc = p;
    return p;
  };

  // Healthy within 30 s, or an error as soon as the process has exited (with what it last wrote).
  // Fails as soon as the process exits ("address already in use"), not at the deadline.
  const waitHealthy = async (p: ChildProcess): Promise<void> => {
    const died = new AbortController();
    p.once('close', () => died.abort(new Error(`etcd exited: ${output}`))); // after its stderr was read to the end
    await waitFor(healthy, { timeout: 30_000, message: `private etcd on ${endpoint} to be healthy`, signal: died.signal }).catch((err: Error) => {
      throw died.signal.aborted ? err : new Error(`${err.message}: ${output}`);
    });
  };

  const kill = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  return {
    endpoint,
    start: async () => {
      await waitHealthy(launch());
    },
    kill,
    pid: () => (proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined),
    close: async () => {
      await kill();
      await rm(dataDir, { recursive: true, force: true });
    },
    launch,
    waitHealthy,
  };
}

/**
 * Starts an etcd that only this test uses. Tests that compact the history,
 * or stop etcd, need one: on the shared etcd a compaction would give other
 * test files running at the same time a 410 for revisions they still hold.
 */
export async function startPrivateEtcd(options: { ports?: { client: number; peer: number } } = {}): Promise<PrivateEtcd> {
  return withFreshPorts(async () => {
    const [client, peer] = options.ports ? [options.ports.client, options.ports.peer] : ((await distinctFreePorts(2)) as [number, number]);
    const self = { name: memberName(client), client, peer };
    const member = await etcdMember(self, [self]);
    try {
      await member.start();
    } catch (err) {
      await member.close();
      throw err;
    }
    return member;
  }, options.ports ? 1 : 3);
}

/** A name no other etcd on this machine has (the health check tells members apart by it). */
function memberName(port: number): string {
  return `private-${port}-${randomBytes(3).toString('hex')}`;
}

/** Starts on new ports when a start fails (a port picked as free was taken before etcd bound it). */
async function withFreshPorts<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      if (i >= attempts) throw err;
    }
  }
}

/**
 * Starts a cluster of `size` members on loopback (the members of a new
 * cluster wait for each other, so they are launched together), for tests
 * of what survives the loss of a member.
 */
export async function startPrivateEtcdCluster(size = 3): Promise<PrivateEtcdCluster> {
  const members = await withFreshPorts(async () => {
    const ports = await distinctFreePorts(2 * size);
    const base = memberName(ports[0]!);
    const all: MemberPorts[] = Array.from({ length: size }, (_, i) => ({ name: `${base}-${i}`, client: ports[2 * i]!, peer: ports[2 * i + 1]! }));
    const started = await Promise.all(all.map((m) => etcdMember(m, all)));
    try {
      await Promise.all(started.map((m) => m.waitHealthy(m.launch())));
    } catch (err) {
      await Promise.all(started.map((m) => m.close()));
      throw err;
    }
    return started;
  });
  const endpoints = members.map((m) => m.endpoint);
  return {
    endpoints,
    members,
    async leader() {
      for (const [i, e] of endpoints.entries()) {
        // The v3 gateway's JSON API: POST /v3/maintenance/status ({} body) names the leader.
        const res = await fetch(`${e}/v3/maintenance/status`, { method: 'POST', body: '{}' }).catch(() => undefined);
        if (!res?.ok) continue;
        const s = (await res.json()) as { header?: { member_id?: string }; leader?: string };
        if (s.leader && s.header?.member_id === s.leader) return i;
      }
      throw new Error('no etcd member says it is the leader');
    },
    async close() {
      await Promise.all(members.map((m) => m.close()));
    },
  };
}
