/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format (version 0.0.4).
 */

import { runtimeMetrics } from './runtime-metrics.js';

type Labels = Record<string, string | number>;

// Most label values need no escaping: one scan instead of three replaces (every request records two series).
const NEEDS_ESCAPE = /[\\\n"]/;
const escapeLabel = (v: string) => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(',')}}`;
}

function withLabel(key: string, extra: string): string {
  return key ? `${key.slice(0, -1)},${extra}}` : `{${extra}}`;
}

interface Metric {
  readonly name: string;
  render(): string;
}

/** A monotonically increasing count. */
export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

/** A value that goes up and down. */
export class Gauge implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  set(value: number, labels?: Labels): void {
    this.values.set(labelKey(labels), value);
  }
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels?: Labels, by = 1): void {
    this.inc(labels, -by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

/** A counter or gauge whose values are read from elsewhere (another object's statistics) each time it is rendered. */
export class CallbackMetric implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly type: 'counter' | 'gauge',
    private readonly read: () => Array<[Labels | undefined, number]>,
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [labels, v] of this.read()) lines.push(`${this.name}${labelKey(labels)} ${v}`);
    return lines.join('\n');
  }
}

/** Default buckets in seconds, as Kubernetes uses for request latency. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A distribution of observations in cumulative buckets. */
export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[] = DEFAULT_BUCKETS) {}
  observe(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${withLabel(k, `le="${b}"`)} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${withLabel(k, 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.name}_sum${k} ${s.sum}`);
      lines.push(`${this.name}_count${k} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** A set of metrics served together on `/metrics`. */
export class Registry {
  private readonly metrics: Metric[] = [];
  /** The process's GC pauses and event-loop delay, shared by every registry of the process. */
  private readonly runtime = runtimeMetrics((name, help, buckets) => new Histogram(name, help, buckets));
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  /** A counter (`type` counter) or gauge read by `read` at each render: one sample per labels. */
  callback(name: string, help: string, type: 'counter' | 'gauge', read: () => Array<[Labels | undefined, number]>): CallbackMetric {
    return this.add(new CallbackMetric(name, help, type, read));
  }
  /** The exposition text, with the process metrics every server reports. */
  render(): string {
    const mem = process.memoryUsage();
    const gauge = (name: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
    const proc = [
      ...gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', mem.rss),
      ...gauge('nodejs_heap_used_bytes', 'V8 heap in use.', mem.heapUsed),
      ...gauge('nodejs_heap_total_bytes', 'V8 heap reserved (used and free).', mem.heapTotal),
      ...gauge('nodejs_external_memory_bytes', 'Memory outside the V8 heap held by JS objects (Buffers, ArrayBuffers).', mem.external),
      ...gauge('process_uptime_seconds', 'Seconds since the process started.', process.uptime()),
    ];
    return [...this.metrics.map((m) => m.render()), this.runtime.gc.render(), this.runtime.eventLoopDelay.render(), ...proc].join('\n') + '\n';
  }
  private add<T extends Metric>(m: T): T {
    this.metrics.push(m);
    return m;
  }
}

/** The content type of the exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
