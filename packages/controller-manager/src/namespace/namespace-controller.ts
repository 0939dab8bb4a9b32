/**
 * The namespace controller: a namespace being deleted (deletionTimestamp,
 * phase Terminating, the `kubernetes` finalizer the apiserver adds on
 * delete) is emptied — every object of every namespaced resource in it is
 * deleted — and then the finalizer is removed so the apiserver lets the
 * namespace go. Pods are deleted with their normal grace period, so the
 * namespace lasts until their agents (or the node lifecycle controller, for
 * lost nodes) finish them.
 */
import { deepCopy, isReason, RESOURCES, type KubeObject, type Namespace, type ResourceInfo } from '@flotilla/api';
import { Controller, type ApiClient, type Informer, type Logger } from '@flotilla/client';
import { errMessage, type ControllerDeps } from '../context.js';

/** The finalizer that keeps a terminating namespace until it is empty. */
export const NAMESPACE_FINALIZER = 'kubernetes';

/** Options of the namespace controller. */
export interface NamespaceControllerOptions extends ControllerDeps {
  /** How soon to look again while objects are still going away. Default 1 s. */
  recheckMs?: number;
}

/** Empties terminating namespaces and then releases them. */
export class NamespaceController {
  /** The work queue and workers (key: the namespace name). */
  readonly controller: Controller;
  private readonly namespaces: Informer<Namespace>;
  private readonly client: ApiClient;
  private readonly log: Logger;
  private readonly recheckMs: number;

  constructor(deps: NamespaceControllerOptions) {
    this.client = deps.client;
    this.log = deps.logger;
    this.recheckMs = deps.recheckMs ?? 1000;
    this.namespaces = deps.informers.informer<Namespace>('namespaces');
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'namespace',
      reconcile: deps.metrics ? deps.metrics.instrument('namespace', reconcile) : reconcile,
      informers: [this.namespaces],
      workers: deps.workers ?? 2,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('namespace', this.controller.queue);
    this.namespaces.addEventHandler({
      onAdd: (ns) => ns.metadata.deletionTimestamp && this.controller.enqueue(ns),
      onUpdate: (_o, ns) => ns.metadata.deletionTimestamp && this.controller.enqueue(ns),
    });
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** One namespace: if terminating, delete what is in it; once empty, remove the finalizer. */
  async sync(name: string): Promise<{ requeueAfter?: number } | void> {
    const ns = this.namespaces.store.get(name);
    if (!ns?.metadata.deletionTimestamp) return;
    const api = this.client.resource<Namespace>('namespaces');
    let cur: Namespace = ns;
    if (ns.status?.phase !== 'Terminating') {
      const next = deepCopy(ns) as Namespace;
      next.status = { ...next.status, phase: 'Terminating' };
      cur = await api.updateStatus(next);
    }
    let remaining = await this.deleteContent(name);
    // Most objects go at once: a second look saves a recheck delay.
    if (remaining > 0) remaining = await this.deleteContent(name);
    if (remaining > 0) {
      this.log.debug({ namespace: name, remaining }, 'namespace not empty yet');
      return { requeueAfter: this.recheckMs };
    }
    const fins = cur.metadata.finalizers ?? [];
    const specFins = cur.spec?.finalizers ?? [];
    if (!fins.includes(NAMESPACE_FINALIZER) && !specFins.includes(NAMESPACE_FINALIZER)) return;
    const next = deepCopy(cur) as Namespace;
    next.metadata.finalizers = fins.filter((f) => f !== NAMESPACE_FINALIZER);
    if (next.spec?.finalizers) next.spec.finalizers = specFins.filter((f) => f !== NAMESPACE_FINALIZER);
    try {
      await api.update(next);
    } catch (err) {
      if (isReason(err, 'NotFound')) return;
      throw err;
    }
    this.log.info({ namespace: name }, 'namespace empty; finalizer removed');
  }

  /** Deletes every object in the namespace (live lists, not caches); returns how many still exist. */
  private async deleteContent(namespace: string): Promise<number> {
    let remaining = 0;
    for (const info of namespacedResources()) {
      const api = this.client.resource<KubeObject>(info);
      const { items } = await api.list(namespace);
      for (const obj of items) {
        remaining++;
        if (obj.metadata.deletionTimestamp) continue;
        try {
          await api.delete(namespace, obj.metadata.name!, { propagationPolicy: 'Background', preconditions: { uid: obj.metadata.uid } });
        } catch (err) {
          if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) continue;
          this.log.warn({ namespace, resource: info.plural, name: obj.metadata.name, err: errMessage(err) }, 'could not delete object of terminating namespace');
          throw err;
        }
      }
    }
    return remaining;
  }
}

/** Every namespaced resource the cluster serves. */
function namespacedResources(): ResourceInfo[] {
  return RESOURCES.filter((r) => r.namespaced);
}
