/**
 * Fixtures shared by the ReplicaSet and Deployment controller tests: object
 * builders, an event sink that remembers, a client whose pod watch can be
 * held back (a lagging informer), and a tiny "kubelet" that makes pods
 * Running and Ready. Test-only; not exported from the package.
 */
import { nowTimestamp, type KubeObject, type Pod, type PodPhase, type ReplicaSet } from '@flotilla/api';
import type { ApiClient, EventType, ResourceClient, ResourceTarget } from '@flotilla/client';
import type { FakeApiClient } from '@flotilla/client/testing';

/** One recorded Event. */
export interface RecordedEvent {
  object: string;
  type: EventType;
  reason: string;
  message: string;
}

/** An EventSink that keeps what it is told. */
export class MemoryEvents {
  readonly events: RecordedEvent[] = [];
  event(obj: { metadata: { name?: string } }, type: EventType, reason: string, message: string): void {
    this.events.push({ object: obj.metadata.name ?? '', type, reason, message });
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

/** A ReplicaSet selecting `app=<app>`. */
export function replicaSet(name: string, replicas: number, opts: { app?: string; uid?: string; minReadySeconds?: number; image?: string; ns?: string } = {}): ReplicaSet {
  const app = opts.app ?? name;
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { namespace: opts.ns ?? 'ns', name, uid: opts.uid ?? `uid-${name}`, generation: 1 },
    spec: {
      replicas,
      minReadySeconds: opts.minReadySeconds ?? 0,
      selector: { matchLabels: { app } },
      template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: opts.image ?? 'img:1' }] } },
    },
    status: { replicas: 0 },
  };
}

/** A pod with `app=<app>` labels, optionally owned, scheduled, running and ready. */
export function pod(
  name: string,
  opts: { app?: string; owner?: ReplicaSet; node?: string; phase?: PodPhase; readySince?: number; created?: number; restarts?: number; ns?: string } = {},
): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: opts.ns ?? 'ns',
      name,
      uid: `uid-${name}`,
      labels: { app: opts.app ?? 'web' },
      ...(opts.created !== undefined ? { creationTimestamp: nowTimestamp(new Date(opts.created)) } : {}),
    },
    spec: { containers: [{ name: 'c', image: 'img:1' }], ...(opts.node ? { nodeName: opts.node } : {}) },
    status: { phase: opts.phase ?? 'Pending' },
  };
  if (opts.owner) {
    p.metadata.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: opts.owner.metadata.name!, uid: opts.owner.metadata.uid!, controller: true, blockOwnerDeletion: true },
    ];
  }
  if (opts.readySince !== undefined) {
    p.status!.conditions = [{ type: 'Ready', status: 'True', lastTransitionTime: nowTimestamp(new Date(opts.readySince)) }];
  }
  if (opts.restarts !== undefined) p.status!.containerStatuses = [{ name: 'c', ready: true, restartCount: opts.restarts, image: 'img:1', imageID: '' }];
  return p;
}

/** An ApiClient over a FakeApiClient whose pod watch events can be held back, as a lagging informer. */
export class GatedClient implements ApiClient {
  private held = false;
  private release: (() => void) | undefined;
  private released: Promise<void> = Promise.resolve();

  constructor(readonly fake: FakeApiClient) {}

  /** Holds pod watch events until resume(). */
  pause(): void {
    if (this.held) return;
    this.held = true;
    this.released = new Promise((r) => (this.release = r));
  }

  /** Lets held events through. */
  resume(): void {
    this.held = false;
    this.release?.();
  }

  resource<T extends KubeObject>(target: ResourceTarget): ResourceClient<T> {
    const inner = this.fake.resource<T>(target);
    if (inner.resource.plural !== 'pods') return inner;
    const self = this;
    return new Proxy(inner, {
      get(t, prop) {
        if (prop === 'watch') {
          return (ns?: string, o?: Parameters<ResourceClient<T>['watch']>[1]) =>
            (async function* () {
              for await (const ev of t.watch(ns, o)) {
                while (self.held) await self.released;
                yield ev;
              }
            })();
        }
        const v = (t as unknown as Record<string | symbol, unknown>)[prop];
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  }

  bind(namespace: string, podName: string, nodeName: string): Promise<void> {
    return this.fake.bind(namespace, podName, nodeName);
  }
}

/**
 * A tiny kubelet: binds every unbound pod to a node and makes it Running
 * and Ready at `now` (unless `healthy` says no). Returns how many pods it touched.
 */
export async function kubeletStep(fake: FakeApiClient, now: number, healthy: (p: Pod) => boolean = () => true, nodes = ['node-1', 'node-2', 'node-3']): Promise<number> {
  const pods = fake.resource<Pod>('pods');
  let touched = 0;
  let i = 0;
  for (const p of fake.peekAll<Pod>('pods')) {
    if (p.metadata.deletionTimestamp) continue;
    if (!p.spec?.nodeName) {
      await fake.bind(p.metadata.namespace!, p.metadata.name!, nodes[i++ % nodes.length]!);
      touched++;
    }
    const ok = healthy(p);
    const wantPhase = 'Running';
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (p.status?.phase !== wantPhase || ready !== ok) {
      await pods.patchStatus(p.metadata.namespace, p.metadata.name!, {
        status: { phase: wantPhase, conditions: [{ type: 'Ready', status: ok ? 'True' : 'False', lastTransitionTime: nowTimestamp(new Date(now)) }] },
      });
      touched++;
    }
  }
  return touched;
}
