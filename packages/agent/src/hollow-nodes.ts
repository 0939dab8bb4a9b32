/**
 * Hollow nodes: many agents in one process on FakeRuntimes, for control-loop
 * tests and scale benchmarks. They share one pod informer (indexed by
 * spec.nodeName; or each watches its own pods, see podWatch), one client
 * and one metrics registry; each has its own Node, Lease, work queue and
 * runtime. Probes always succeed (no network).
 *
 * They speak the node liveness protocol as real agents do, through one
 * liveness server on loopback that answers for all of them: each Node
 * advertises `127.0.0.1:<port>`, and the node-lifecycle controller keeps
 * one connection per node and pings it, so its cost at N nodes is measured
 * as it would be on N hosts.
 */
import type { KubeObject, Pod, Service } from '@flotilla/api';
import { EventRecorder, Informer, type ApiClient, type EventType, type InformerSelection } from '@flotilla/client';
import { createLogger, type Logger } from '@flotilla/observability';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import { LivenessServer } from './liveness-server.js';
import { AgentMetrics } from './metrics.js';
import { NodePodIndex } from './pod-source.js';
import { FakeRuntime, type FakeRuntimeOptions } from './runtime/fake-runtime.js';
import { noTerminationLogs } from './termination-message.js';

/** Options of runHollowNodes. */
export interface HollowNodesOptions {
  count: number;
  /** Node names are `<prefix><index>`; default `hollow-`. */
  namePrefix?: string;
  /**
   * Index of the first node (default 0): a fleet split over several
   * processes gives each its own range, so names and addresses stay unique.
   */
  firstIndex?: number;
  client: ApiClient;
  signal: AbortSignal;
  /**
   * Overrides for every node (heartbeat, relist, back-off…). The relist is
   * longer by default to keep 1,000 nodes cheap; the Lease is renewed every
   * 60 s as on real agents (the fast signal is the liveness server).
   */
  config?: Partial<Omit<AgentConfig, 'nodeName' | 'nodeIP'>>;
  /** Options of each node's FakeRuntime. */
  runtime?: FakeRuntimeOptions;
  /**
   * Record the kubelet's Events (Pulled, Created, Started…) through the API,
   * as Kubemark's hollow kubelets do. Default true. A scheduler benchmark may
   * turn them off: they are three writes per pod that have nothing to do with
   * scheduling, and it must say so in its output.
   */
  events?: boolean;
  /**
   * How the nodes watch their pods. `shared` (default): one watch of every
   * pod for the whole process, each node served from its cache by name.
   * `per-node`: each node watches its own (`fieldSelector=spec.nodeName=`),
   * as a real kubelet does: the apiserver then writes each pod event once,
   * to its node's watch, instead of once to every fleet process, at the
   * price of one connection per node (give the client as many).
   */
  podWatch?: 'shared' | 'per-node';
  /** Serve the liveness protocol (one shared server on 127.0.0.1). Default true; false: Lease only, as before it existed. */
  liveness?: boolean;
  logger?: Logger;
}

/** An EventRecorder that records nothing: hollow nodes with `events: false`. */
class DroppingEventRecorder extends EventRecorder {
  override event(_obj: KubeObject, _type: EventType, _reason: string, _message: string): void {
    // Dropped on purpose (HollowNodesOptions.events is false).
  }
}

/** The running hollow nodes. */
export interface HollowNodes {
  nodeNames: string[];
  agents: Agent[];
  runtimes: FakeRuntime[];
  /** Shared metrics of every node. */
  metrics: AgentMetrics;
  /** Resolves when every node has registered and the pod cache synced. */
  ready: Promise<void>;
  /** Resolves when every agent has stopped (after the signal aborted). */
  done: Promise<void>;
  /** The shared liveness server (when `liveness` is not false). */
  liveness?: LivenessServer;
}

const NODE_NAME_KEY = '"nodeName":"';

/**
 * The pods bound to one of `nodes`, for an informer over every pod. The line
 * check accepts a line when any `"nodeName":"<one of nodes>"` is in it (a
 * label or annotation named nodeName may add a false match, which the object
 * check then drops; the pod's own spec.nodeName is never missed), and a
 * pod's nodeName never changes once set.
 */
export function nodePodSelection(nodes: ReadonlySet<string>): InformerSelection {
  return {
    object: (p) => nodes.has((p as Pod).spec?.nodeName ?? ''),
    line: (line) => {
      for (let i = line.indexOf(NODE_NAME_KEY); i >= 0; i = line.indexOf(NODE_NAME_KEY, i + 1)) {
        const start = i + NODE_NAME_KEY.length;
        const end = line.indexOf('"', start);
        if (end > start && nodes.has(line.slice(start, end))) return true;
      }
      return false;
    },
  };
}

/** Starts `count` hollow nodes; they run until `signal` aborts. */
export function runHollowNodes(o: HollowNodesOptions): HollowNodes {
  const prefix = o.namePrefix ?? 'hollow-';
  const log = o.logger ?? createLogger('hollow-nodes');
  const first = o.firstIndex ?? 0;
  const mine = new Set<string>();
  for (let i = first; i < first + o.count; i++) mine.add(`${prefix}${i}`);
  // Only this process's nodes' pods: with the fleet split over processes, each one parsing and caching every
  // pod of the cluster made each pod cost every process (5 at 5,000 nodes) and each process hold all 150,000.
  let index: NodePodIndex | undefined;
  if (o.podWatch !== 'per-node') {
    // Every pod, filtered here by its line (cheap), not by a fieldSelector: spec.nodeName!= would spare each pod's
    // unbound version, but the apiserver would parse every change's previous version to decide it (measured: its
    // watch hub's parsing went from 3.5 % to 6.5 % of its CPU).
    const informer = new Informer<Pod>(o.client, { apiVersion: 'v1', kind: 'Pod' }, { logger: log, select: nodePodSelection(mine) });
    index = new NodePodIndex(informer);
    informer.start(o.signal);
  }
  // One Service watch for every hollow node, as one pod watch.
  const services = new Informer<Service>(o.client, { apiVersion: 'v1', kind: 'Service' }, { logger: log });
  services.start(o.signal);
  const metrics = new AgentMetrics();
  const agents: Agent[] = [];
  const runtimes: FakeRuntime[] = [];
  const nodeNames: string[] = [];
  const dropEvents = o.events === false ? new DroppingEventRecorder(o.client, { component: 'kubelet' }) : undefined;
  const livenessServer = o.liveness === false ? undefined : new LivenessServer({ port: 0, host: '127.0.0.1', log });
  const listening = livenessServer ? livenessServer.listen() : Promise.resolve(0);
  const liveness = livenessServer && {
    server: livenessServer,
    get endpoint() {
      return `127.0.0.1:${livenessServer.port}`;
    },
  };
  for (let i = first; i < first + o.count; i++) {
    const nodeName = `${prefix}${i}`;
    const runtime = new FakeRuntime({ ipPrefix: `10.${100 + ((i >> 8) & 127)}.${i & 255}`, record: false, ...o.runtime });
    const agent = new Agent({
      config: {
        relistIntervalMs: 30_000,
        // A fake container changes only when the fleet is told to, so a resync finds nothing: at the kubelet's
        // 1 min, 150,000 pods were 2,500 syncs a second of the simulation's own CPU, none of them an API call.
        podResyncIntervalMs: 600_000,
        workers: 2,
        ...o.config,
        nodeName,
        nodeIP: `10.250.${(i >> 8) & 255}.${i & 255}`,
        logger: log,
      },
      client: o.client,
      runtime,
      // Without a shared index, the agent watches its own pods.
      ...(index ? { pods: index } : {}),
      services,
      metrics,
      probeRunner: async () => ({ ok: true, message: '' }),
      // Fake containers write no termination message: no files for them.
      terminationLogs: noTerminationLogs,
      advertisedPort: 10250,
      ...(dropEvents ? { recorder: dropEvents } : {}),
      ...(liveness ? { liveness } : {}),
    });
    agents.push(agent);
    runtimes.push(runtime);
    nodeNames.push(nodeName);
  }
  const runs = agents.map((a) => listening.then(() => a.run(o.signal)).catch((err: unknown) => log.error({ node: a.config.nodeName, err: (err as Error)?.message ?? String(err) }, 'hollow node failed')));
  return {
    nodeNames,
    agents,
    runtimes,
    metrics,
    ready: Promise.all(agents.map((a) => a.whenReady())).then(() => undefined),
    done: Promise.all(runs).then(async () => {
      await livenessServer?.close();
    }),
    ...(livenessServer ? { liveness: livenessServer } : {}),
  };
}
