/**
 * Recording core/v1 Events about objects, deduplicated as Kubernetes does:
 * the same object, type, reason and message within a window bumps `count`
 * and `lastTimestamp` of the existing Event instead of creating another.
 * Recording never blocks nor throws: writes run in the background, failures
 * are logged.
 */
import { groupVersion, isReason, nowTimestamp, type Event, type KubeObject } from '@flotilla/api';
import { resolveResource, type ApiClient, type ResourceClient } from './api-client.js';
import { realClock, type Clock } from './clock.js';
import { silentLogger, type Logger } from './logger.js';

/** Options of an EventRecorder. */
export interface EventRecorderOptions {
  /** `source.component` / `reportingComponent`, e.g. `replicaset-controller`. */
  component: string;
  /** `source.host`, set by agents (the node name). */
  host?: string;
  /** `reportingInstance`; defaults to the host or component. */
  instance?: string;
  /** Events repeated within this window are merged (Kubernetes: 10 minutes). */
  dedupeWindowMs?: number;
  /** Writes queued beyond this are dropped with a warning, so a storm cannot grow memory. */
  maxPending?: number;
  clock?: Clock;
  logger?: Logger;
}

/** The event types Kubernetes defines. */
export type EventType = 'Normal' | 'Warning';

interface Seen {
  namespace: string;
  name: string;
  count: number;
  lastSeen: number;
}

const CACHE_LIMIT = 4096;

/** Records Events for involved objects in the background. */
export class EventRecorder {
  private readonly events: ResourceClient<Event>;
  private readonly opts: Required<Pick<EventRecorderOptions, 'component' | 'dedupeWindowMs' | 'maxPending'>> & EventRecorderOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly seen = new Map<string, Seen>();
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private seq = 0;

  constructor(client: ApiClient, options: EventRecorderOptions) {
    this.events = client.resource<Event>({ apiVersion: 'v1', kind: 'Event' });
    this.opts = { dedupeWindowMs: 10 * 60_000, maxPending: 1000, ...options };
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
  }

  /** Records an event about `obj`. Returns at once; the write happens in the background. */
  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.pending >= this.opts.maxPending) {
      this.log.warn({ object: describe(obj), reason }, 'event dropped: too many pending');
      return;
    }
    this.pending++;
    const at = this.clock.now();
    this.tail = this.tail
      .then(() => this.write(obj, type, reason, message, at))
      .catch((err: unknown) => this.log.warn({ object: describe(obj), reason, err: (err as Error)?.message ?? String(err) }, 'could not record event'))
      .finally(() => {
        this.pending--;
      });
  }

  /** Resolves when every event recorded so far has been written (or has failed). */
  flush(): Promise<void> {
    return this.tail;
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string, at: number): Promise<void> {
    const md = obj.metadata ?? {};
    // Cluster-scoped objects (nodes) get their events in `default`, as in Kubernetes.
    const namespace = md.namespace || 'default';
    const key = [obj.apiVersion, obj.kind, md.namespace ?? '', md.name, md.uid ?? '', type, reason, message].join('\u0000');
    const ts = nowTimestamp(new Date(at));
    const prev = this.seen.get(key);
    if (prev && at - prev.lastSeen < this.opts.dedupeWindowMs) {
      try {
        await this.events.patch(prev.namespace, prev.name, { count: prev.count + 1, lastTimestamp: ts, message }, 'merge');
        this.remember(key, { ...prev, count: prev.count + 1, lastSeen: at });
        return;
      } catch (err) {
        // Deleted or expired meanwhile: fall through and create a fresh one.
        if (!isReason(err, 'NotFound')) throw err;
      }
    }
    const name = `${md.name ?? 'unknown'}.${this.suffix(at)}`;
    const ev: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion ?? groupVersionOf(obj),
        kind: obj.kind,
        namespace: md.namespace,
        name: md.name,
        uid: md.uid,
        resourceVersion: md.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: this.opts.component, ...(this.opts.host ? { host: this.opts.host } : {}) },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: this.opts.component,
      reportingInstance: this.opts.instance ?? this.opts.host ?? this.opts.component,
    };
    try {
      await this.events.create(ev);
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
    this.remember(key, { namespace, name, count: 1, lastSeen: at });
  }

  /** Kubernetes names events `<object>.<unix nanoseconds in hex>`; a counter keeps same-ms names apart. */
  private suffix(at: number): string {
    const nanos = BigInt(at) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    return nanos.toString(16);
  }

  private remember(key: string, s: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, s);
    if (this.seen.size > CACHE_LIMIT) this.seen.delete(this.seen.keys().next().value as string);
  }
}

function describe(obj: KubeObject): string {
  return `${obj.kind ?? '?'} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '?'}`;
}

function groupVersionOf(obj: KubeObject): string | undefined {
  try {
    return obj.kind ? groupVersion(resolveResource(obj.kind)) : undefined;
  } catch {
    return undefined;
  }
}
