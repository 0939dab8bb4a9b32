/**
 * Shared pieces of the control-loop end-to-end tests: namespaces, a
 * Deployment builder, a pods watch that records what every moment of a
 * rollout looked like, and the Deployment checks `kubectl rollout status`
 * relies on.
 */
import { randomBytes } from 'node:crypto';
import type { Deployment, Pod, ReplicaSet } from '@flotilla/api';
import type { RestClient } from '@flotilla/client';
import { waitFor } from '../../src/wait-for.js';

/** Creates a namespace `<base>-<random>` and returns its name. */
export async function createNamespace(client: RestClient, base: string): Promise<string> {
  const name = `${base}-${randomBytes(3).toString('hex')}`;
  await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

/** Options of deployment(). */
export interface DeploymentOptions {
  replicas?: number;
  image?: string;
  cpu?: string;
  maxSurge?: number | string;
  maxUnavailable?: number | string;
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
}

/** A Deployment of `replicas` pods labelled app=<name>, RollingUpdate strategy. */
export function deployment(namespace: string, name: string, o: DeploymentOptions = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: o.replicas ?? 1,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: o.maxSurge ?? 1, maxUnavailable: o.maxUnavailable ?? 0 } },
      ...(o.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: o.progressDeadlineSeconds } : {}),
      ...(o.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: o.revisionHistoryLimit } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'web', image: o.image ?? 'flotilla/echo:1', resources: { requests: { cpu: o.cpu ?? '100m', memory: '16Mi' } } }],
        },
      },
    },
  } as Deployment;
}

/** A pod counts while it exists and is not being deleted, as the ReplicaSet controller counts. */
export const isActive = (p: Pod) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

/** Ready condition True on an active pod. */
export const isReady = (p: Pod) => isActive(p) && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** What the pods looked like after one watch event. */
export interface PodMoment {
  at: number;
  active: number;
  ready: number;
}

/**
 * Watches the pods of a namespace (optionally one label selector) and keeps
 * the current set plus, after every event, how many were active and ready:
 * the history a rollout's guarantees are checked against. Events come in
 * etcd revision order, so every moment is a state the cluster really had.
 */
export class PodRecorder {
  readonly pods = new Map<string, Pod>();
  readonly moments: PodMoment[] = [];
  /** Every node a pod uid was ever bound to (a second entry would be a re-binding). */
  readonly bindings = new Map<string, Set<string>>();
  private readonly ac = new AbortController();
  private done: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly client: RestClient,
    private readonly namespace: string,
    private readonly labelSelector?: string,
  ) {}

  /** Lists, then follows changes from the list's resourceVersion (re-watching when a watch ends). */
  async start(): Promise<this> {
    const list = await this.client.resource<Pod>('pods').list(this.namespace, this.labelSelector ? { labelSelector: this.labelSelector } : {});
    for (const p of list.items) this.apply('ADDED', p);
    let rv = list.metadata?.resourceVersion;
    this.done = (async () => {
      while (!this.ac.signal.aborted) {
        try {
          for await (const ev of this.client.resource<Pod>('pods').watch(this.namespace, {
            resourceVersion: rv,
            signal: this.ac.signal,
            ...(this.labelSelector ? { labelSelector: this.labelSelector } : {}),
          })) {
            if (ev.type === 'BOOKMARK') {
              rv = ev.object.metadata.resourceVersion;
              continue;
            }
            if (ev.type === 'ERROR') throw new Error(`watch error: ${JSON.stringify(ev.object)}`);
            rv = ev.object.metadata.resourceVersion;
            this.apply(ev.type, ev.object);
          }
        } catch (err) {
          if (this.ac.signal.aborted) return;
          this.failure = err;
          return;
        }
      }
    })();
    return this;
  }

  private apply(type: string, p: Pod): void {
    const uid = p.metadata.uid ?? p.metadata.name!;
    if (type === 'DELETED') this.pods.delete(uid);
    else this.pods.set(uid, p);
    if (p.spec?.nodeName) {
      const nodes = this.bindings.get(uid) ?? new Set<string>();
      nodes.add(p.spec.nodeName);
      this.bindings.set(uid, nodes);
    }
    const all = [...this.pods.values()];
    this.moments.push({ at: Date.now(), active: all.filter(isActive).length, ready: all.filter(isReady).length });
  }

  /** Pods currently active. */
  active(): Pod[] {
    this.check();
    return [...this.pods.values()].filter(isActive);
  }

  /** The largest active count and smallest ready count from moment `from` on. */
  extremes(from = 0): { maxActive: number; minReady: number } {
    this.check();
    const slice = this.moments.slice(from);
    return { maxActive: Math.max(0, ...slice.map((m) => m.active)), minReady: Math.min(Infinity, ...slice.map((m) => m.ready)) };
  }

  /** Pods bound to more than one node over the recording. */
  rebound(): string[] {
    return [...this.bindings.entries()].filter(([, nodes]) => nodes.size > 1).map(([uid, nodes]) => `${uid}: ${[...nodes].join(',')}`);
  }

  private check(): void {
    if (this.failure) throw this.failure instanceof Error ? this.failure : new Error(String(this.failure));
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.done;
  }
}

/** The Deployment's condition of `type`. */
export const condition = (d: Deployment, type: string) => (d.status?.conditions ?? []).find((c) => c.type === type);

/**
 * Waits until the Deployment's rollout is complete the way `kubectl rollout
 * status` decides it: observedGeneration caught up, all replicas updated,
 * no old ones left, all available, and Available=True.
 */
export async function waitForRollout(client: RestClient, namespace: string, name: string, timeout = 60_000): Promise<Deployment> {
  return waitFor(
    async () => {
      const d = await client.resource<Deployment>('deployments').get(namespace, name);
      const want = d.spec?.replicas ?? 1;
      const s = d.status ?? {};
      const done =
        (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        (s.updatedReplicas ?? 0) === want &&
        (s.replicas ?? 0) === want &&
        (s.availableReplicas ?? 0) === want &&
        condition(d, 'Available')?.status === 'True';
      if (!done) throw new Error(`status ${JSON.stringify(s)}`);
      return d;
    },
    { timeout, interval: 100, message: `deployment ${namespace}/${name} to finish its rollout` },
  );
}

/** The ReplicaSets a Deployment owns. */
export async function replicaSetsOf(client: RestClient, namespace: string, d: Deployment): Promise<ReplicaSet[]> {
  const list = await client.resource<ReplicaSet>('replicasets').list(namespace);
  return list.items.filter((rs) => (rs.metadata.ownerReferences ?? []).some((o) => o.uid === d.metadata.uid && o.controller));
}

/** Active pods of a namespace with a label selector. */
export async function activePods(client: RestClient, namespace: string, labelSelector?: string): Promise<Pod[]> {
  const list = await client.resource<Pod>('pods').list(namespace, labelSelector ? { labelSelector } : {});
  return list.items.filter(isActive);
}

/** Counts of items by key. */
export function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}
