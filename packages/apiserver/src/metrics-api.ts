/**
 * `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics (what `kubectl top`
 * reads), served by the apiserver itself instead of an aggregated
 * metrics-server: on each request it asks every registered node's agent
 * for its `/stats/summary` (Docker's CPU and working-set memory per
 * container) over the mutually authenticated node channel, in parallel,
 * and shapes the answers. A node that does not answer in time is left out,
 * as metrics-server leaves out nodes it could not scrape.
 */
import { ApiError, type KubeObject, type Node } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import { NodeClient, readAll, type NodeChannelTls, type PodTarget } from './node-client.js';

/** The group and version served. */
export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';

/** The agent's summary (see the agent's node-server.ts). */
interface Summary {
  timestamp: string;
  windowSeconds: number;
  node: { cpuCores: number; memoryBytes: number };
  pods: Array<{ namespace: string; name: string; containers: Array<{ name: string; cpuCores: number; memoryBytes: number }> }>;
}

const cpu = (cores: number) => `${Math.round(cores * 1e9)}n`;
const memory = (bytes: number) => `${Math.round(bytes / 1024)}Ki`;

/** The discovery document of metrics.k8s.io/v1beta1. */
export function metricsResourceList(): Record<string, unknown> {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${METRICS_GROUP}/${METRICS_VERSION}`,
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  };
}

/** Node and pod metrics gathered from the agents. */
export class MetricsApi {
  private readonly nodes: NodeClient;

  constructor(
    private readonly storage: Storage,
    tls: NodeChannelTls,
    private readonly logger?: Logger,
    timeoutMs = 5_000,
  ) {
    this.nodes = new NodeClient(tls, timeoutMs);
  }

  /** Every node's summary that could be had, by node. */
  private async summaries(only?: string): Promise<Array<{ node: Node; summary: Summary }>> {
    const list = (await this.storage.list('nodes', undefined, {})).items as KubeObject[] as Node[];
    const nodes = list.filter((n) => !only || n.metadata.name === only);
    const out = await Promise.all(
      nodes.map(async (node) => {
        const host = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
        const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
        if (!host || !port) return undefined;
        try {
          const t = { nodeName: node.metadata.name!, host, port, container: '', pod: undefined as never } as PodTarget;
          const res = await this.nodes.request(t, '/stats/summary');
          const text = await readAll(res);
          if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${text.slice(0, 200)}`);
          return { node, summary: JSON.parse(text) as Summary };
        } catch (err) {
          this.logger?.warn({ node: node.metadata.name, err: (err as Error).message }, 'no resource metrics from node');
          return undefined;
        }
      }),
    );
    return out.filter((x): x is { node: Node; summary: Summary } => x !== undefined);
  }

  /** NodeMetricsList, or one NodeMetrics. */
  async nodeMetrics(name?: string): Promise<Record<string, unknown>> {
    const items = (await this.summaries(name)).map(({ node, summary }) => ({
      metadata: { name: node.metadata.name, creationTimestamp: summary.timestamp, ...(node.metadata.labels ? { labels: node.metadata.labels } : {}) },
      timestamp: summary.timestamp,
      window: `${summary.windowSeconds}s`,
      usage: { cpu: cpu(summary.node.cpuCores), memory: memory(summary.node.memoryBytes) },
    }));
    if (name !== undefined) {
      if (!items[0]) throw new ApiError('NotFound', `nodemetrics.metrics.k8s.io "${name}" not found`);
      return { kind: 'NodeMetrics', apiVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, ...items[0] };
    }
    return { kind: 'NodeMetricsList', apiVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, metadata: {}, items };
  }

  /** PodMetricsList of a namespace (or all), or one PodMetrics. */
  async podMetrics(namespace?: string, name?: string, matches: (labels: Record<string, string>) => boolean = () => true): Promise<Record<string, unknown>> {
    const pods = (await this.storage.list('pods', namespace, {})).items;
    const labelsOf = new Map(pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.metadata.labels ?? {}]));
    const items: Array<Record<string, unknown>> = [];
    for (const { summary } of await this.summaries()) {
      for (const p of summary.pods) {
        if (namespace !== undefined && p.namespace !== namespace) continue;
        if (name !== undefined && p.name !== name) continue;
        const labels = labelsOf.get(`${p.namespace}/${p.name}`);
        // Containers of pods the API no longer has are not reported.
        if (!labels || !matches(labels)) continue;
        items.push({
          metadata: { name: p.name, namespace: p.namespace, creationTimestamp: summary.timestamp, labels },
          timestamp: summary.timestamp,
          window: `${summary.windowSeconds}s`,
          containers: p.containers.map((c) => ({ name: c.name, usage: { cpu: cpu(c.cpuCores), memory: memory(c.memoryBytes) } })),
        });
      }
    }
    if (name !== undefined) {
      if (!items[0]) throw new ApiError('NotFound', `podmetrics.metrics.k8s.io "${name}" not found`);
      return { kind: 'PodMetrics', apiVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, ...items[0] };
    }
    return { kind: 'PodMetricsList', apiVersion: `${METRICS_GROUP}/${METRICS_VERSION}`, metadata: {}, items };
  }
}
