/**
 * Objects and a FakeApiClient harness for the controllers' unit tests and
 * for benchmarks: a fake cluster with shared informers already synced.
 */
import type { KubeObject, Lease, Node, Pod, Service } from '@flotilla/api';
import { EventRecorder, InformerFactory, silentLogger, type ResourceClient } from '@flotilla/client';
import { FakeApiClient, FakeClock, waitFor } from '@flotilla/client/testing';
import type { ControllerDeps } from './context.js';

/** A fake cluster: client, clock, informers (started and synced), recorder. */
export interface FakeCluster {
  client: FakeApiClient;
  clock: FakeClock;
  informers: InformerFactory;
  recorder: EventRecorder;
  deps: ControllerDeps;
  /** Aborts the informers (and anything else run with `signal`). */
  stop(): void;
  signal: AbortSignal;
  /** Starts the informers requested so far and waits for them to sync, then forgets the seeding actions. */
  sync(): Promise<void>;
  /** Writes (not reads, not Events) the fake served, as `verb resource[/sub] ns/name`. */
  writes(): string[];
  /** Resolves once the informer of `resource` holds an object satisfying `pred` (or none when `absent`). */
  cached<T extends KubeObject>(resource: string, key: string, pred?: (o: T | undefined) => boolean): Promise<void>;
}

/** Builds a fake cluster holding `objects`. */
export function fakeCluster(objects: KubeObject[] = []): FakeCluster {
  const clock = new FakeClock();
  const client = new FakeApiClient({ objects, clock });
  const informers = new InformerFactory(client, { clock });
  const recorder = new EventRecorder(client, { component: 'test', clock });
  const ac = new AbortController();
  return {
    client,
    clock,
    informers,
    recorder,
    deps: { client, informers, recorder, logger: silentLogger, clock },
    stop: () => ac.abort(),
    signal: ac.signal,
    async sync() {
      informers.start(ac.signal);
      await informers.waitForSync(ac.signal);
      client.clearActions();
    },
    writes() {
      return client.actions
        .filter((a) => a.resource !== 'events')
        .map((a) => `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''} ${a.namespace ? `${a.namespace}/` : ''}${a.name ?? ''}`);
    },
    async cached(resource, key, pred = (o) => o !== undefined) {
      const inf = informers.informer<KubeObject>(resource);
      await waitFor(() => pred(inf.store.get(key) as never), { what: `${resource} ${key} in cache` });
    },
  };
}

/** A Ready node. */
export function node(name: string, extra: Partial<Node['spec']> = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: { ...extra },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2024-01-01T00:00:00Z' }] },
  };
}

/** A node heartbeat Lease in kube-node-lease. */
export function lease(name: string, renewTime = '2024-01-01T00:00:00.000000Z'): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime },
  };
}

/** A running pod; `ready` sets its Ready condition, `ip` its podIP. */
export function pod(name: string, opts: { ns?: string; node?: string; labels?: Record<string, string>; ready?: boolean; ip?: string; spec?: Partial<Pod['spec']>; meta?: Partial<Pod['metadata']> } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: opts.ns ?? 'default', labels: opts.labels ?? { app: 'web' }, ...opts.meta },
    spec: { containers: [{ name: 'c', image: 'flotilla/busybox:latest' }], ...(opts.node ? { nodeName: opts.node } : {}), ...opts.spec },
    status: {
      phase: 'Running',
      ...(opts.ip ? { podIP: opts.ip } : {}),
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

/**
 * Creates a pod and then writes its status through `/status`, as an agent
 * would: a create starts every pod Pending (the Pod strategy), on the fake
 * as on a real server.
 */
export async function createRunning(pods: ResourceClient<Pod>, p: Pod): Promise<Pod> {
  const created = await pods.create(p);
  return pods.updateStatus({ ...created, status: p.status });
}

/** A ClusterIP service selecting `selector`. */
export function service(name: string, selector: Record<string, string> | undefined, ports: NonNullable<Service['spec']>['ports'] = [{ name: 'http', port: 80, targetPort: 8080 }], ns = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ...(selector ? { selector } : {}), ports } };
}
