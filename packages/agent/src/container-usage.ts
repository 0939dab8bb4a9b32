/**
 * One sampling of the engine's per-container CPU and memory, shared by its
 * two readers: the resource summary (`/stats/summary`, which feeds
 * metrics.k8s.io and `kubectl top`) and the agent's Prometheus `/metrics`
 * (cAdvisor's `container_cpu_usage_seconds_total` and
 * `container_memory_working_set_bytes`). A sample younger than the asked-for
 * age is reused and concurrent readers share one in-flight sampling, so
 * Docker is never polled twice for the same moment.
 */
import type { ContainerInfo, ContainerRuntime, ContainerUsage } from './runtime/types.js';

/** One running app container and what the engine measured for it. */
export interface ContainerSample {
  container: ContainerInfo;
  usage: ContainerUsage;
}

/** The samples of one moment. */
export interface UsageSnapshot {
  /** Milliseconds since the epoch when the sampling started. */
  at: number;
  samples: ContainerSample[];
}

/** Samples every running app container on demand, at most once per `maxAgeMs` a reader accepts. */
export class UsageSampler {
  private last: UsageSnapshot | undefined;
  private inFlight: Promise<UsageSnapshot> | undefined;

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly now: () => number = Date.now,
  ) {}

  /** The newest snapshot, without sampling (undefined before the first). */
  latest(): UsageSnapshot | undefined {
    return this.last;
  }

  /** A snapshot at most `maxAgeMs` old: the last one, or a new sampling (joined if one is under way). */
  async sample(maxAgeMs: number): Promise<UsageSnapshot> {
    if (this.last && this.now() - this.last.at <= maxAgeMs) return this.last;
    this.inFlight ??= this.take().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async take(): Promise<UsageSnapshot> {
    const at = this.now();
    const running = (await this.runtime.listContainers({ type: 'container' })).filter((c) => c.state === 'running');
    // In parallel: each engine sample takes about a second.
    const measured = await Promise.all(running.map(async (c) => ({ container: c, usage: await this.runtime.usage?.(c.id).catch(() => undefined) })));
    const snap: UsageSnapshot = { at, samples: measured.filter((m): m is ContainerSample => m.usage !== undefined) };
    this.last = snap;
    return snap;
  }
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/**
 * The per-container series in the Prometheus text format, named and
 * labelled as cAdvisor (the kubelet's `/metrics/cadvisor`) does:
 * `namespace`, `pod`, `container`, `image`, plus the engine `id`.
 */
export function containerMetricsText(snap: UsageSnapshot | undefined): string {
  const samples = snap?.samples ?? [];
  const labels = (s: ContainerSample) => {
    const c = s.container;
    return `{container="${escape(c.containerName)}",id="${escape(c.id)}",image="${escape(c.image)}",namespace="${escape(c.podNamespace)}",pod="${escape(c.podName)}"}`;
  };
  const ts = snap ? ` ${snap.at}` : '';
  const lines = [
    '# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.',
    '# TYPE container_cpu_usage_seconds_total counter',
    ...samples.filter((s) => s.usage.cpuSecondsTotal !== undefined).map((s) => `container_cpu_usage_seconds_total${labels(s)} ${s.usage.cpuSecondsTotal}${ts}`),
    '# HELP container_memory_working_set_bytes Current working set in bytes.',
    '# TYPE container_memory_working_set_bytes gauge',
    ...samples.map((s) => `container_memory_working_set_bytes${labels(s)} ${s.usage.memoryBytes}${ts}`),
  ];
  return `${lines.join('\n')}\n`;
}
