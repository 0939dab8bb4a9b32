/**
 * A whole control plane as real processes for end-to-end tests of the
 * control loops: one `flotilla apiserver` (startApiServer), one or more
 * `flotilla scheduler` and `flotilla controller-manager` processes (with
 * --leader-elect when there are several), and hollow nodes — each one a
 * `flotilla agent --fake-runtime` process, so the real agent code
 * registers, heartbeats and reports pods Running without Docker, and a node
 * "dies" the way a host does: its process is SIGKILLed (or SIGSTOPped) and
 * the heartbeats stop. A node can also be a real agent on a Docker engine
 * (a host of scripts/hosts.sh) for the scenarios where Docker is the point.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lease, Node } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import { cidrContains, IpRouteTable, parseCidr } from '@flotilla/network';
import { startApiServer, type StartApiServerOptions, type TestApiServer } from './apiserver.js';
import { statusPortReady, superviseProcess, type Incarnation } from './child-process.js';
import { flotillaBin } from './env.js';
import { writeKubeconfig } from './kubeconfig.js';

/** The components a cluster runs as processes besides the apiserver. */
export type ClusterComponent = 'scheduler' | 'controller-manager' | 'agent' | 'host-routes';

/** A real Docker engine for an agent instead of the fake runtime (e.g. a host of scripts/hosts.sh). */
export interface AgentDocker {
  /** The engine, `unix:///…/docker.sock` (--docker-host). */
  host: string;
  /** The node address (--node-ip), e.g. the host's address on its bridge. */
  nodeIP: string;
  /** A fixed pod range (--pod-cidr); the controller-manager allocates one otherwise. */
  podCIDR?: string;
  /**
   * The host's network namespace (createHosts' `netns`): the agent runs inside it
   * (nsenter --net), manages the pod network (--pod-network flotilla) and its routes
   * land there. Without it the agent runs here on the engine's default bridge
   * (--pod-network docker-bridge).
   */
  netns?: string;
}

/** One node: a `flotilla agent --fake-runtime` process (hollow), or a real agent on a Docker engine. */
export interface ClusterNodeSpec {
  /** The Node name; it needs a token in the apiserver's token file (node-1 … node-5, see TEST_NODES). */
  name: string;
  /** CPU capacity reported (the fake runtime's host has 4 CPUs otherwise). */
  cpus?: number;
  /** Memory capacity reported, e.g. `8Gi`. */
  memory?: string;
  /** Pod capacity. */
  maxPods?: number;
  /** More `flotilla agent` flags. */
  extraArgs?: string[];
  /** Run pods on this Docker engine instead of in memory. */
  docker?: AgentDocker;
}

/** Options of startCluster. */
export interface StartClusterOptions {
  /** Hollow nodes started with the cluster; default node-1, node-2, node-3. */
  nodes?: Array<string | ClusterNodeSpec>;
  /** Scheduler processes; default 1. */
  schedulers?: number;
  /** Controller-manager processes; default 1. */
  controllerManagers?: number;
  /** Run scheduler and controller-manager with --leader-elect; default: when there are several of either. */
  leaderElect?: boolean;
  /** Agents' Lease renewal period (`flotilla agent --heartbeat-interval`); default 1s. */
  heartbeatInterval?: string;
  /** More flags for every scheduler / controller-manager / agent process. */
  schedulerArgs?: string[];
  controllerManagerArgs?: string[];
  agentArgs?: string[];
  /** Options of the apiserver. */
  apiserver?: StartApiServerOptions;
  /**
   * The cluster pod range (controller-manager --cluster-cidr; createHosts().podCIDR).
   * With agents in host namespaces, a `flotilla host-routes --within <range>` process
   * (named `host-routes`) keeps routes from this (root) namespace to every node's
   * range, as on the control plane's machine, so tests reach pods by IP.
   */
  clusterCIDR?: string;
  /**
   * pino level of the component processes; default info (their logs are kept for failure reports).
   * Not above info: the harness learns a component's /healthz port from its info line.
   */
  logLevel?: 'info' | 'debug' | 'trace';
  /** How long a process may take to become ready; default 60 s (six processes loading at once on a busy 2-core machine are slow). */
  readyTimeout?: number;
}

/** One process of the cluster, started with `node packages/cli/dist/bin/flotilla.js <component> …`. */
export interface ClusterProcess {
  /** `scheduler-1`, `controller-manager-2`, `node-3`; also its --identity / --node-name. */
  name: string;
  component: ClusterComponent;
  /** PID of the current incarnation. */
  pid(): number | undefined;
  /** Whether the current incarnation is still alive (a SIGSTOPped process counts as alive). */
  running(): boolean;
  /** Sends a signal; resolves once the process has exited, for SIGSTOP once every thread stopped, for SIGCONT at once. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again with the same flags (stopping it first if it still runs) and waits until it is ready. */
  restart(): Promise<void>;
  /** Everything all its incarnations wrote to stdout and stderr. */
  logs(): string;
}

/** A running control plane with hollow nodes. */
export interface TestCluster {
  api: TestApiServer;
  /** A client acting as the admin (system:masters). */
  client: RestClient;
  /** Every process by name, in start order. */
  processes: Map<string, ClusterProcess>;
  /** The process called `name`; throws when there is none. */
  process(name: string): ClusterProcess;
  /** Names of the processes of one component. */
  names(component: ClusterComponent): string[];
  /** Starts another node (agent process) and waits until its Node is Ready. */
  addNode(node: string | ClusterNodeSpec): Promise<ClusterProcess>;
  /** `process(name).kill(signal)`. */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** `process(name).restart()`. */
  restart(name: string): Promise<void>;
  /** The process name holding the scheduler's or controller-manager's leader Lease (their --identity), if any. */
  leader(component: 'scheduler' | 'controller-manager'): Promise<string | undefined>;
  /** The tail of every process's output, labelled: print it when a test fails. */
  dumpLogs(tailBytes?: number): string;
  /** Stops every process (SIGTERM, SIGKILL after 5 s), the apiserver and its etcd prefix, and deletes the temporary files. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Spawns one cluster process and returns its handle once `ready()` holds.
 * `args` are computed per incarnation so a restart can pick a new free port.
 */
async function spawnProcess(
  name: string,
  component: ClusterComponent,
  args: () => Promise<{ argv: string[]; ready: Incarnation['ready'] }>,
  readyTimeout: number,
  netns?: string,
): Promise<ClusterProcess> {
  const bin = flotillaBin();
  const proc = superviseProcess({
    name,
    readyMessage: `${name} (flotilla ${component}) to be ready`,
    readyTimeout,
    stopGraceMs: 5_000,
    incarnation: async () => {
      const { argv, ready } = await args();
      const command = `flotilla ${component} ${argv.join(' ')}`;
      // nsenter execs node in place: the PID is the component's own.
      if (netns) return { file: 'nsenter', args: [`--net=/var/run/netns/${netns}`, '--', process.execPath, bin, component, ...argv], command: `nsenter --net=${netns} ${command}`, ready };
      return { args: [bin, component, ...argv], command, ready };
    },
  });
  await proc.launch();
  return {
    name,
    component,
    pid: proc.pid,
    running: proc.alive,
    kill: proc.kill,
    async restart() {
      await proc.stop();
      await proc.launch();
    },
    logs: proc.logs,
  };
}

/**
 * Starts an apiserver, the schedulers, the controller-managers and the
 * hollow nodes, each as its own process, and resolves once every node is
 * Ready. On any failure everything already started is stopped.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-cluster-'));
  const readyTimeout = options.readyTimeout ?? 60_000;
  const schedulers = options.schedulers ?? 1;
  const managers = options.controllerManagers ?? 1;
  const leaderElect = options.leaderElect ?? (schedulers > 1 || managers > 1);
  const logLevel = options.logLevel ?? 'info';
  const processes = new Map<string, ClusterProcess>();
  let api: TestApiServer | undefined;
  let client: RestClient | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Nodes first, so no heartbeat lands after the prefix is deleted.
    const all = [...processes.values()];
    const ordered = [...all.filter((p) => p.component === 'agent'), ...all.filter((p) => p.component !== 'agent')];
    await Promise.all(ordered.map((p) => stopOne(p)));
    // The routes host-routes made (the hosts' bridge takes them along too, when it goes).
    if (processes.has('host-routes') && options.clusterCIDR) await removeRoutesWithin(options.clusterCIDR).catch(() => undefined);
    await client?.close().catch(() => undefined);
    await api?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  const stopOne = async (p: ClusterProcess) => {
    if (!p.running()) return;
    await p.kill('SIGCONT');
    const done = p.kill('SIGTERM');
    const timer = setTimeout(() => p.running() && p.kill('SIGKILL'), 5_000);
    await done;
    clearTimeout(timer);
  };

  try {
    api = await startApiServer({ readyTimeout, ...options.apiserver });
    const server = api;
    client = new RestClient({ server: server.url, ca: server.caPem, token: server.adminToken });
    const admin = client;

    // The token file has an admin (system:masters) and node-1 … node-5
    // (system:nodes); the components act as the admin, each with its own kubeconfig.
    const componentKubeconfig = async (name: string) => {
      const path = join(dir, `${name}.kubeconfig`);
      await writeKubeconfig(path, { server: server.url, caPem: server.caPem, token: server.adminToken, user: name, cluster: 'flotilla-e2e' });
      return path;
    };

    const startComponent = async (component: 'scheduler' | 'controller-manager', name: string, extra: string[]) => {
      const kubeconfig = await componentKubeconfig(name);
      const p = await spawnProcess(
        name,
        component,
        async () => ({
          argv: [
            '--kubeconfig', kubeconfig,
            '--identity', name,
            '--metrics-port', '0',
            '--log-level', logLevel,
            // Explicit both ways: the default is on, and a lone process restarted in a test must act at once.
            leaderElect ? '--leader-elect=true' : '--leader-elect=false',
            ...extra,
          ],
          ready: statusPortReady,
        }),
        readyTimeout,
      );
      processes.set(name, p);
      return p;
    };

    const addNode = async (spec: string | ClusterNodeSpec) => {
      const node: ClusterNodeSpec = typeof spec === 'string' ? { name: spec } : spec;
      if (processes.has(node.name)) throw new Error(`a process called ${node.name} already exists`);
      const path = join(dir, `${node.name}.kubeconfig`);
      await writeKubeconfig(path, { server: server.url, caPem: server.caPem, token: server.nodeToken(node.name), user: `system:node:${node.name}`, cluster: 'flotilla-e2e' });
      const argv = [
        '--node-name', node.name,
        '--kubeconfig', path,
        ...(node.docker
          ? [
              '--docker-host', node.docker.host,
              '--node-ip', node.docker.nodeIP,
              '--pod-network', node.docker.netns ? 'flotilla' : 'docker-bridge',
              ...(node.docker.podCIDR ? ['--pod-cidr', node.docker.podCIDR] : []),
            ]
          : ['--fake-runtime', '--node-ip', '127.0.0.1']),
        '--state-dir', join(dir, 'agents', node.name),
        '--log-port', '0',
        '--liveness-port', '0',
        // Inside a host's namespace its own address is where the apiserver reaches the log server.
        '--log-bind-address', node.docker?.netns ? node.docker.nodeIP : '127.0.0.1',
        '--heartbeat-interval', options.heartbeatInterval ?? '1s',
        '--node-status-interval', '2s',
        '--relist-interval', '2s',
        '--log-level', logLevel,
        ...(node.cpus ? ['--cpus', String(node.cpus)] : []),
        ...(node.memory ? ['--memory', node.memory] : []),
        ...(node.maxPods ? ['--max-pods', String(node.maxPods)] : []),
        ...(options.agentArgs ?? []),
        ...(node.extraArgs ?? []),
      ];
      const p = await spawnProcess(
        node.name,
        'agent',
        async () => ({
          argv,
          // Ready once this incarnation has renewed the Lease and the Node says Ready.
          ready: async (startedAt) => {
            const lease = await admin.resource<Lease>('leases').get('kube-node-lease', node.name);
            const renewed = Date.parse(lease.spec?.renewTime ?? '');
            if (!(renewed >= startedAt - 1_000)) return false;
            const n = await admin.resource<Node>('nodes').get(undefined, node.name);
            return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
          },
        }),
        readyTimeout,
        node.docker?.netns,
      );
      processes.set(node.name, p);
      return p;
    };

    const starts: Array<Promise<unknown>> = [];
    for (let i = 1; i <= schedulers; i++) starts.push(startComponent('scheduler', `scheduler-${i}`, options.schedulerArgs ?? []));
    const cidrArgs = options.clusterCIDR ? ['--cluster-cidr', options.clusterCIDR] : [];
    for (let i = 1; i <= managers; i++) starts.push(startComponent('controller-manager', `controller-manager-${i}`, [...cidrArgs, ...(options.controllerManagerArgs ?? [])]));
    // What `flotilla proxy` will do on the control plane's machine: routes from here to every node's pod range.
    const nodeSpecs = (options.nodes ?? []).map((n) => (typeof n === 'string' ? { name: n } : n));
    if (options.clusterCIDR && nodeSpecs.some((n) => n.docker?.netns)) {
      const within = options.clusterCIDR;
      starts.push(
        (async () => {
          const kubeconfig = await componentKubeconfig('host-routes');
          const p = await spawnProcess(
            'host-routes',
            'host-routes',
            // The sink is hosts.sh's (it must exist before any agent starts).
            async () => ({ argv: ['--kubeconfig', kubeconfig, '--within', within, '--no-sink', '--metrics-port', '0', '--log-level', logLevel], ready: statusPortReady }),
            readyTimeout,
          );
          processes.set('host-routes', p);
        })(),
      );
    }
    for (const node of options.nodes ?? ['node-1', 'node-2', 'node-3']) starts.push(addNode(node));
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    const must = (name: string) => {
      const p = processes.get(name);
      if (!p) throw new Error(`no cluster process called ${name}; there are ${[...processes.keys()].join(', ')}`);
      return p;
    };
    return {
      api: server,
      client: admin,
      processes,
      process: must,
      names: (component) => [...processes.values()].filter((p) => p.component === component).map((p) => p.name),
      addNode,
      kill: (name, signal) => must(name).kill(signal),
      restart: (name) => must(name).restart(),
      async leader(component) {
        const name = component === 'scheduler' ? 'flotilla-scheduler' : 'flotilla-controller-manager';
        try {
          const lease = await admin.resource<Lease>('leases').get('kube-system', name);
          return lease.spec?.holderIdentity || undefined;
        } catch {
          return undefined;
        }
      },
      dumpLogs(tailBytes = 16 * 1024) {
        const parts = [`=== apiserver (last ${tailBytes} bytes)\n${server.logs().slice(-tailBytes)}`];
        for (const p of processes.values()) parts.push(`=== ${p.name} (last ${tailBytes} bytes)\n${p.logs().slice(-tailBytes)}`);
        return parts.join('\n');
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Deletes the host-gw routes (ours: IpRouteTable's protocol) of this namespace whose destination lies in `cidr`. */
async function removeRoutesWithin(cidr: string): Promise<void> {
  const range = parseCidr(cidr);
  if (!range) return;
  const table = new IpRouteTable();
  for (const r of await table.list()) {
    const d = parseCidr(r.dst);
    if (d && d.bits >= range.bits && cidrContains(range, d.base)) await table.delete(r.dst);
  }
}
