/**
 * Hollow nodes: many agents in one process on FakeRuntimes, for control-loop
 * tests and scale benchmarks. They share one pod informer (indexed by
 * spec.nodeName), one client and one metrics registry; each has its own
 * Node, Lease, work queue and runtime. Probes always succeed (no network).
 */
import type { KubeObject, Pod, Service } from '@flotilla/api';
import { EventRecorder, Informer, type ApiClient, type EventType } from '@flotilla/client';
import { createLogger, type Logger } from '@flotilla/observability';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';
import { AgentMetrics } from './metrics.js';
import { NodePodIndex } from './pod-source.js';
import { FakeRuntime, type FakeRuntimeOptions } from './runtime/fake-runtime.js';

/** Options of runHollowNodes. */
export interface HollowNodesOptions {
  count: number;
  /** Node names are `<prefix><index>`; default `hollow-`. */
  namePrefix?: string;
  client: ApiClient;
  signal: AbortSignal;
  /**
   * Overrides for every node (heartbeat, relist, back-off…). Intervals are longer
   * by default to keep 1,000 nodes cheap: a 10 s heartbeat needs the
   * controller-manager's --node-monitor-grace-period at Kubernetes' 40s, not our 8s.
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
}

/** Starts `count` hollow nodes; they run until `signal` aborts. */
export function runHollowNodes(o: HollowNodesOptions): HollowNodes {
  const prefix = o.namePrefix ?? 'hollow-';
  const log = o.logger ?? createLogger('hollow-nodes');
  const informer = new Informer<Pod>(o.client, { apiVersion: 'v1', kind: 'Pod' }, { logger: log });
  const index = new NodePodIndex(informer);
  informer.start(o.signal);
  // One Service watch for every hollow node, as one pod watch.
  const services = new Informer<Service>(o.client, { apiVersion: 'v1', kind: 'Service' }, { logger: log });
  services.start(o.signal);
  const metrics = new AgentMetrics();
  const agents: Agent[] = [];
  const runtimes: FakeRuntime[] = [];
  const nodeNames: string[] = [];
  const dropEvents = o.events === false ? new DroppingEventRecorder(o.client, { component: 'kubelet' }) : undefined;
  for (let i = 0; i < o.count; i++) {
    const nodeName = `${prefix}${i}`;
    const runtime = new FakeRuntime({ ipPrefix: `10.${100 + ((i >> 8) & 127)}.${i & 255}`, ...o.runtime });
    const agent = new Agent({
      config: {
        heartbeatIntervalMs: 10_000,
        // Kubernetes' nodeStatusReportFrequency: the Lease is the heartbeat, a Node status write (GET + PUT) every 5 min is enough.
        nodeStatusIntervalMs: 300_000,
        relistIntervalMs: 30_000,
        workers: 2,
        ...o.config,
        nodeName,
        nodeIP: `10.250.${(i >> 8) & 255}.${i & 255}`,
        logger: log,
      },
      client: o.client,
      runtime,
      pods: index,
      services,
      metrics,
      probeRunner: async () => ({ ok: true, message: '' }),
      advertisedPort: 10250,
      ...(dropEvents ? { recorder: dropEvents } : {}),
    });
    agents.push(agent);
    runtimes.push(runtime);
    nodeNames.push(nodeName);
  }
  const runs = agents.map((a) => a.run(o.signal).catch((err: unknown) => log.error({ node: a.config.nodeName, err: (err as Error)?.message ?? String(err) }, 'hollow node failed')));
  return {
    nodeNames,
    agents,
    runtimes,
    metrics,
    ready: Promise.all(agents.map((a) => a.whenReady())).then(() => undefined),
    done: Promise.all(runs).then(() => undefined),
  };
}
