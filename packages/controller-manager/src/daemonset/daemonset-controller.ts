/**
 * The DaemonSet controller: one pod per eligible Node. Pods are placed as
 * Kubernetes places them since 1.12 — created without a node, pinned by a
 * required node affinity on `metadata.name` and bound by the default
 * scheduler — so resource fit and host-port clashes are judged in one
 * place. Pods of nodes that stop being eligible, or whose Node is gone,
 * are deleted; failed daemon pods are replaced. Template changes roll out
 * with RollingUpdate (maxUnavailable, maxSurge) or wait for OnDelete; each
 * pod carries the template hash as `controller-revision-hash`.
 */
import {
  canonicalJson,
  isPodReady,
  isReason,
  objectKey,
  podTemplateHash,
  type ControllerRevision,
  type DaemonSet,
  type DaemonSetStatus,
  type KubeObject,
  type Node,
  type Pod,
} from '@flotilla/api';
import type { Informer, ReconcileResult, ResourceClient } from '@flotilla/client';
import { errMessage } from '../context.js';
import type { ControllerMetrics } from '../controller-metrics.js';
import { ownedBy, OwningController, watchDependents, type OwningControllerOptions } from '../owning-controller.js';
import { newControllerRef } from '../replicaset/controller-ref.js';
import { Expectations } from '../replicaset/expectations.js';
import { isPodAvailable, msUntilFirstAvailable } from '../replicaset/pod-util.js';
import {
  CONTROLLER_REVISION_HASH_LABEL,
  daemonPodSpec,
  nodeShouldRunDaemonPod,
  POD_TEMPLATE_GENERATION_LABEL,
  scaledValue,
  targetNode,
} from './daemon-pods.js';

/** Options of a DaemonSetController. */
export interface DaemonSetControllerOptions extends OwningControllerOptions {
  /** Parallel reconciles. Default 2, like kube-controller-manager's --concurrent-daemonset-syncs. */
  workers?: number;
  /** Reconcile counts, durations and queue depth; none recorded when unset. */
  metrics?: ControllerMetrics;
}

const DS_API_VERSION = 'apps/v1';
const DS_KIND = 'DaemonSet';

/** What one sync decided for one DaemonSet. */
export interface DaemonSetPlan {
  /** Nodes that get a new pod. */
  create: string[];
  /** Pods to delete, with why. */
  delete: Array<{ pod: Pod; reason: 'failed' | 'excess' | 'not-eligible' | 'node-gone' | 'update' }>;
}

const isTerminating = (p: Pod) => !!p.metadata.deletionTimestamp;

/** The template hash a DaemonSet's current pods carry. */
export function daemonSetHash(ds: DaemonSet): string {
  return podTemplateHash(ds.spec!.template, ds.status?.collisionCount);
}

/**
 * Decides creations and deletions for one DaemonSet: pure over the nodes,
 * its pods and the time. Exposed for tests.
 */
export function planDaemonSet(ds: DaemonSet, nodes: readonly Node[], pods: readonly Pod[], now: number): DaemonSetPlan {
  const plan: DaemonSetPlan = { create: [], delete: [] };
  const hash = daemonSetHash(ds);
  const minReady = ds.spec?.minReadySeconds ?? 0;
  const byNode = new Map<string, Pod[]>();
  for (const p of pods) {
    const n = targetNode(p);
    if (!n) continue;
    const list = byNode.get(n) ?? [];
    list.push(p);
    byNode.set(n, list);
  }
  const nodeNames = new Set(nodes.map((n) => n.metadata.name!));
  // Pods of Nodes that no longer exist (no pod GC runs here to remove them).
  for (const [n, list] of byNode) if (!nodeNames.has(n)) for (const p of list) if (!isTerminating(p)) plan.delete.push({ pod: p, reason: 'node-gone' });

  const eligible: string[] = [];
  for (const node of nodes) {
    const name = node.metadata.name!;
    const fit = nodeShouldRunDaemonPod(node, ds);
    const live = (byNode.get(name) ?? []).filter((p) => !isTerminating(p));
    if (fit.shouldRun) eligible.push(name);
    if (!fit.shouldContinueRunning || (!fit.shouldRun && live.length === 0)) {
      for (const p of live) plan.delete.push({ pod: p, reason: 'not-eligible' });
      continue;
    }
    const failed = live.filter((p) => p.status?.phase === 'Failed');
    for (const p of failed) plan.delete.push({ pod: p, reason: 'failed' });
    const running = live.filter((p) => p.status?.phase !== 'Failed');
    if (running.length === 0) {
      if (fit.shouldRun) plan.create.push(name);
      continue;
    }
    if (running.length > 1) {
      // Keep one: an up-to-date one if any, else the oldest (a surge leaves two until the new one is available).
      const surging = running.length === 2 && running.filter((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash).length === 1;
      if (!surging) {
        const keep = [...running].sort((a, b) => rank(a, hash) - rank(b, hash) || String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)))[0]!;
        for (const p of running) if (p !== keep) plan.delete.push({ pod: p, reason: 'excess' });
      }
    }
  }

  const st = ds.spec?.updateStrategy;
  if (st?.type !== 'OnDelete') rollingUpdate(ds, hash, eligible, byNode, plan, minReady, now);
  return plan;
}

/** Sort key: up-to-date pods first. */
function rank(p: Pod, hash: string): number {
  return p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash ? 0 : 1;
}

/**
 * RollingUpdate: old pods go while at most maxUnavailable eligible nodes
 * lack an available pod; with maxSurge a new pod starts beside the old
 * one, which goes once the new one is available.
 */
function rollingUpdate(ds: DaemonSet, hash: string, eligible: string[], byNode: Map<string, Pod[]>, plan: DaemonSetPlan, minReady: number, now: number): void {
  const ru = ds.spec?.updateStrategy?.rollingUpdate;
  const desired = eligible.length;
  const maxSurge = scaledValue(ru?.maxSurge, desired, 0);
  let maxUnavailable = scaledValue(ru?.maxUnavailable, desired, 1);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  const deleting = new Set(plan.delete.map((d) => d.pod));
  const creating = new Set(plan.create);
  let unavailable = 0;
  const oldAvailable: Array<{ node: string; pod: Pod }> = [];
  const oldUnavailable: Pod[] = [];
  let surged = 0;
  for (const node of eligible) {
    const pods = (byNode.get(node) ?? []).filter((p) => !isTerminating(p) && !deleting.has(p) && p.status?.phase !== 'Failed');
    const fresh = pods.find((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash);
    const old = pods.filter((p) => p !== fresh);
    const freshAvailable = fresh ? isPodAvailable(fresh, minReady, now) : false;
    if (fresh && old.length > 0) {
      // A surge in progress: the old pod goes once the new one is available.
      surged++;
      if (freshAvailable) for (const p of old) plan.delete.push({ pod: p, reason: 'update' });
      continue;
    }
    if (creating.has(node) || (!fresh && old.length === 0)) {
      unavailable++;
      continue;
    }
    if (fresh) {
      if (!freshAvailable) unavailable++;
      continue;
    }
    const o = old[0]!;
    if (isPodAvailable(o, minReady, now)) oldAvailable.push({ node, pod: o });
    else {
      unavailable++;
      oldUnavailable.push(o);
    }
  }
  // Old pods that are not available anyway cost nothing to replace.
  for (const p of oldUnavailable) plan.delete.push({ pod: p, reason: 'update' });
  if (maxSurge > 0) {
    for (const { node } of oldAvailable) {
      if (surged >= maxSurge) break;
      plan.create.push(node);
      surged++;
    }
    return;
  }
  for (const { pod } of oldAvailable) {
    if (unavailable >= maxUnavailable) break;
    plan.delete.push({ pod, reason: 'update' });
    unavailable++;
  }
}

/** Status of a DaemonSet from its nodes and pods. Exposed for tests. */
export function daemonSetStatus(ds: DaemonSet, nodes: readonly Node[], pods: readonly Pod[], now: number): DaemonSetStatus {
  const hash = daemonSetHash(ds);
  const minReady = ds.spec?.minReadySeconds ?? 0;
  let desired = 0;
  let current = 0;
  let misscheduled = 0;
  let ready = 0;
  let available = 0;
  let updated = 0;
  for (const node of nodes) {
    const fit = nodeShouldRunDaemonPod(node, ds);
    const onNode = pods.filter((p) => targetNode(p) === node.metadata.name && !isTerminating(p));
    if (fit.shouldRun) {
      desired++;
      if (onNode.length === 0) continue;
      current++;
      // The newest pod speaks for the node (it is the one that stays after a surge).
      const pod = [...onNode].sort((a, b) => rank(a, hash) - rank(b, hash))[0]!;
      if (isPodReady(pod)) ready++;
      if (isPodAvailable(pod, minReady, now)) available++;
      if (pod.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL] === hash) updated++;
    } else if (onNode.length > 0) misscheduled++;
  }
  return {
    currentNumberScheduled: current,
    numberMisscheduled: misscheduled,
    desiredNumberScheduled: desired,
    numberReady: ready,
    observedGeneration: ds.metadata.generation ?? 1,
    updatedNumberScheduled: updated,
    numberAvailable: available,
    numberUnavailable: desired - available,
  };
}

/** Keeps one daemon pod on every eligible node. */
export class DaemonSetController extends OwningController<DaemonSet> {
  /** Outstanding creations/deletions per DaemonSet key. */
  readonly expectations: Expectations;
  private readonly pods: ResourceClient<Pod>;
  private readonly daemonSets: ResourceClient<DaemonSet>;
  private readonly podInformer: Informer<Pod>;
  private readonly dsInformer: Informer<DaemonSet>;
  private readonly nodeInformer: Informer<Node>;
  private readonly revisions: ResourceClient<ControllerRevision>;
  private readonly revisionInformer: Informer<ControllerRevision>;

  constructor(options: DaemonSetControllerOptions) {
    super(options);
    this.expectations = new Expectations(this.clock);
    this.pods = options.client.resource<Pod>({ apiVersion: 'v1', kind: 'Pod' });
    this.daemonSets = options.client.resource<DaemonSet>({ apiVersion: DS_API_VERSION, kind: DS_KIND });
    this.podInformer = options.informers.informer<Pod>('pods');
    this.dsInformer = options.informers.informer<DaemonSet>('daemonsets');
    this.nodeInformer = options.informers.informer<Node>('nodes');
    this.revisions = options.client.resource<ControllerRevision>({ apiVersion: DS_API_VERSION, kind: 'ControllerRevision' });
    this.revisionInformer = options.informers.informer<ControllerRevision>('controllerrevisions');
    this.initQueue({
      name: 'daemonset',
      workers: options.workers ?? 2,
      owners: this.dsInformer,
      reads: [this.podInformer, this.nodeInformer, this.revisionInformer],
      metrics: options.metrics,
      expectations: this.expectations,
    });
    const all = () => this.dsInformer.store.list().forEach((ds) => this.controller.enqueue(ds));
    this.nodeInformer.addEventHandler({
      onAdd: all,
      onUpdate: (o, n) => {
        // Only what decides eligibility or placement matters; heartbeats do not.
        const facts = (x: Node) => canonicalJson([x.metadata.labels, x.spec?.taints, x.spec?.unschedulable]);
        if (facts(o) !== facts(n)) all();
      },
      onDelete: all,
    });
    // Daemon pods are not adopted: an orphan queues nothing.
    watchDependents({ dependents: this.podInformer, owners: this.dsInformer.store, ownerKind: DS_KIND, controller: this.controller, expectations: this.expectations });
  }

  /** Reconciles one DaemonSet by key; exposed for tests. */
  override async reconcile(key: string): Promise<ReconcileResult | void> {
    const ds = this.dsInformer.store.get(key);
    if (!ds) {
      this.expectations.delete(key);
      return;
    }
    if (!ds.spec?.template) return;
    const nodes = this.nodeInformer.store.list();
    const pods = ownedBy(this.podInformer.store, ds);
    const now = this.clock.now();
    let manageErr: unknown;
    if (this.expectations.satisfied(key) && !ds.metadata.deletionTimestamp) {
      try {
        await this.syncRevisions(ds, pods);
        await this.apply(key, ds, planDaemonSet(ds, nodes, pods, now));
      } catch (err) {
        manageErr = err;
      }
    }
    await this.writeStatus(ds, daemonSetStatus(ds, nodes, pods, now));
    if (manageErr) throw manageErr;
    const minReady = ds.spec.minReadySeconds ?? 0;
    const next = msUntilFirstAvailable(pods, minReady, now);
    return next === undefined ? undefined : { requeueAfter: next };
  }

  private async apply(key: string, ds: DaemonSet, plan: DaemonSetPlan): Promise<void> {
    if (plan.create.length === 0 && plan.delete.length === 0) return;
    this.log.debug({ daemonset: key, create: plan.create, delete: plan.delete.map((d) => `${d.pod.metadata.name}:${d.reason}`) }, 'syncing daemon pods');
    this.expectations.expectCreations(key, plan.create.length);
    this.expectations.expectDeletions(key, plan.delete.map((d) => objectKey(d.pod)));
    const errors: unknown[] = [];
    await Promise.all([
      ...plan.create.map(async (node) => {
        try {
          await this.createPod(ds, node);
        } catch (err) {
          this.expectations.creationObserved(key);
          errors.push(err);
        }
      }),
      ...plan.delete.map(async ({ pod, reason }) => {
        if (reason === 'failed') {
          this.recorder.event(ds, 'Warning', 'FailedDaemonPod', `Found failed daemon pod ${objectKey(pod)} on node ${pod.spec?.nodeName ?? ''}, will try to kill it`);
        }
        await this.deleteDependentPod(ds, pod, this.pods, this.expectations, errors);
      }),
    ]);
    if (errors.length) throw errors[0];
  }

  private async createPod(ds: DaemonSet, node: string): Promise<void> {
    const t = ds.spec!.template;
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${ds.metadata.name}-`,
        namespace: ds.metadata.namespace,
        labels: {
          ...(t.metadata?.labels ?? {}),
          [CONTROLLER_REVISION_HASH_LABEL]: daemonSetHash(ds),
          [POD_TEMPLATE_GENERATION_LABEL]: String(ds.metadata.generation ?? 1),
        },
        ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
        ownerReferences: [newControllerRef(ds, DS_API_VERSION, DS_KIND)],
      },
      spec: daemonPodSpec(ds, node),
    };
    try {
      const created = await this.pods.create(pod);
      this.recorder.event(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    } catch (err) {
      this.recorder.event(ds, 'Warning', 'FailedCreate', `Error creating: ${errMessage(err)}`);
      throw err;
    }
  }

  /**
   * ControllerRevisions as Kubernetes keeps them for a DaemonSet, so
   * `kubectl rollout history|undo ds` work: one per template, named
   * `<ds>-<hash>`, holding a strategic merge patch that restores the
   * template; the current one has the highest revision; old ones beyond
   * revisionHistoryLimit that no pod uses are deleted.
   */
  private async syncRevisions(ds: DaemonSet, pods: readonly Pod[]): Promise<void> {
    const ns = ds.metadata.namespace;
    const owned = ownedBy(this.revisionInformer.store, ds);
    const hash = daemonSetHash(ds);
    const name = `${ds.metadata.name}-${hash}`;
    const max = owned.reduce((m, r) => Math.max(m, r.revision ?? 0), 0);
    const cur = owned.find((r) => r.metadata.name === name);
    if (!cur) {
      const rev: ControllerRevision = {
        apiVersion: DS_API_VERSION,
        kind: 'ControllerRevision',
        metadata: {
          name,
          namespace: ns,
          labels: { ...(ds.spec!.template.metadata?.labels ?? {}), [CONTROLLER_REVISION_HASH_LABEL]: hash },
          ...(ds.metadata.annotations ? { annotations: { ...ds.metadata.annotations } } : {}),
          ownerReferences: [newControllerRef(ds, DS_API_VERSION, DS_KIND)],
        },
        data: { spec: { template: { ...structuredClone(ds.spec!.template), $patch: 'replace' } } },
        revision: max + 1,
      };
      try {
        await this.revisions.create(rev);
      } catch (err) {
        if (!isReason(err, 'AlreadyExists')) throw err;
      }
    } else if ((cur.revision ?? 0) < max) {
      // Back to an older template (a rollback): it becomes the newest revision again.
      await this.revisions.patch(ns, name, { revision: max + 1 }, 'merge');
    }
    const limit = ds.spec?.revisionHistoryLimit ?? 10;
    const inUse = new Set(pods.map((p) => p.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL]));
    const old = owned
      .filter((r) => r.metadata.name !== name && !inUse.has(r.metadata.labels?.[CONTROLLER_REVISION_HASH_LABEL]))
      .sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
    for (const r of old.slice(0, Math.max(0, old.length - limit))) {
      try {
        await this.revisions.delete(ns, r.metadata.name!);
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
      }
    }
  }

  private async writeStatus(ds: DaemonSet, status: DaemonSetStatus): Promise<void> {
    const cur = ds.status;
    const keys = Object.keys(status) as Array<keyof DaemonSetStatus>;
    if (cur && keys.every((k) => cur[k] === status[k])) return;
    const patch: KubeObject['status'] = { ...status };
    await this.daemonSets.patchStatus(ds.metadata.namespace, ds.metadata.name!, { status: patch }, 'merge');
  }
}
