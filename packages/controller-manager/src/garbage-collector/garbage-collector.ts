/**
 * The garbage collector: cascading deletion over ownerReferences.
 *
 * The owner → dependents graph is two indexes on the shared informers of
 * every resource that can be owned or own (by uid, and by each owner uid),
 * so it is always exactly what the caches hold.
 *
 * - An owner deleted with Background (the default) simply disappears; its
 *   dependents then have no owner left and are deleted (Background).
 * - An owner with a deletionTimestamp and the `foregroundDeletion` finalizer:
 *   its dependents are deleted (Foreground when they have dependents of
 *   their own), and once none with `blockOwnerDeletion` remain, the
 *   finalizer is removed so the owner goes too.
 * - An owner with the `orphan` finalizer: the ownerReference is removed
 *   from every dependent, then the finalizer.
 * - A dependent whose owners are all gone (checked by a live GET with the
 *   uid, never by the cache alone, which may simply lag) is deleted; owners
 *   that are gone while others remain are dropped from its ownerReferences.
 */
import {
  jsonEqual,
  isReason,
  objectKey,
  resourceForKind,
  RESOURCES,
  type KubeObject,
  type OwnerReference,
  type ResourceInfo,
} from '@flotilla/api';
import { Controller, type ApiClient, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import { errMessage, type ControllerDeps } from '../context.js';

/** Finalizer of an owner deleted with propagationPolicy Foreground. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** Finalizer of an owner deleted with propagationPolicy Orphan. */
export const ORPHAN_FINALIZER = 'orphan';

const UID_INDEX = 'gc-uid';
const OWNER_INDEX = 'gc-owner-uids';

/** The resources the collector watches: everything but Events and Namespaces (the namespace controller's). */
export function collectedResources(): ResourceInfo[] {
  return RESOURCES.filter((r) => r.kind !== 'Event' && r.plural !== 'namespaces');
}

const resId = (r: Pick<ResourceInfo, 'group' | 'plural'>) => `${r.group}/${r.plural}`;

type OwnerState = 'present' | 'absent' | 'unknown';

interface Tracked {
  info: ResourceInfo;
  informer: Informer<KubeObject>;
  api: ResourceClient<KubeObject>;
}

/** Deletes dependents of deleted owners, and honours the foregroundDeletion and orphan finalizers. */
export class GarbageCollector {
  /** The work queue and workers (key: `group/plural|namespace/name`). */
  readonly controller: Controller;
  private readonly tracked = new Map<string, Tracked>();
  private readonly log: Logger;
  private readonly client: ApiClient;

  constructor(deps: ControllerDeps & { resources?: ResourceInfo[] }) {
    this.log = deps.logger;
    this.client = deps.client;
    for (const info of deps.resources ?? collectedResources()) {
      const informer = deps.informers.informer<KubeObject>(info);
      informer.addIndexer(UID_INDEX, (o) => (o.metadata.uid ? [o.metadata.uid] : []));
      informer.addIndexer(OWNER_INDEX, (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid).filter(Boolean));
      const t: Tracked = { info, informer, api: deps.client.resource<KubeObject>(info) };
      this.tracked.set(resId(info), t);
      informer.addEventHandler({
        onAdd: (o) => this.onChange(t, undefined, o),
        onUpdate: (old, o) => this.onChange(t, old, o),
        onDelete: (o) => this.onDelete(o),
      });
    }
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'garbage-collector',
      reconcile: deps.metrics ? deps.metrics.instrument('garbage-collector', reconcile) : reconcile,
      informers: [...this.tracked.values()].map((t) => t.informer),
      workers: deps.workers ?? 4,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('garbage-collector', this.controller.queue);
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private keyOf(t: Tracked, o: KubeObject): string {
    return `${resId(t.info)}|${objectKey(o)}`;
  }

  private onChange(t: Tracked, old: KubeObject | undefined, o: KubeObject): void {
    const refsChanged = !old || !jsonEqual(old.metadata.ownerReferences ?? [], o.metadata.ownerReferences ?? []);
    if (refsChanged && o.metadata.ownerReferences?.length) this.controller.enqueue(this.keyOf(t, o));
    if (o.metadata.deletionTimestamp && hasFinalizer(o, FOREGROUND_FINALIZER, ORPHAN_FINALIZER)) this.controller.enqueue(this.keyOf(t, o));
    // A dependent that let go of an owner, or started going, may unblock a foreground deletion.
    if (old && (refsChanged || (!old.metadata.deletionTimestamp && o.metadata.deletionTimestamp))) this.enqueueDeletingOwners(old);
  }

  private onDelete(o: KubeObject): void {
    if (o.metadata.uid) for (const d of this.dependentsOf(o.metadata.uid)) this.controller.enqueue(this.keyOf(d.t, d.obj));
    this.enqueueDeletingOwners(o);
  }

  /** Queues those owners of `o` that wait for their dependents (foreground deletion). */
  private enqueueDeletingOwners(o: KubeObject): void {
    for (const ref of o.metadata.ownerReferences ?? []) {
      const found = this.findByUid(ref.uid);
      if (found && found.obj.metadata.deletionTimestamp && hasFinalizer(found.obj, FOREGROUND_FINALIZER)) this.controller.enqueue(this.keyOf(found.t, found.obj));
    }
  }

  private findByUid(uid: string): { t: Tracked; obj: KubeObject } | undefined {
    for (const t of this.tracked.values()) {
      const hit = t.informer.store.byIndex(UID_INDEX, uid)[0];
      if (hit) return { t, obj: hit };
    }
    return undefined;
  }

  /** Every cached object with an ownerReference to `uid`. */
  dependentsOf(uid: string): Array<{ t: Tracked; obj: KubeObject }> {
    const out: Array<{ t: Tracked; obj: KubeObject }> = [];
    for (const t of this.tracked.values()) for (const obj of t.informer.store.byIndex(OWNER_INDEX, uid)) out.push({ t, obj });
    return out;
  }

  /** One object: process its finalizers if it is being deleted, otherwise check that its owners still exist. */
  async sync(key: string): Promise<{ requeueAfter?: number } | void> {
    const bar = key.indexOf('|');
    const t = this.tracked.get(key.slice(0, bar));
    const obj = t?.informer.store.get(key.slice(bar + 1));
    if (!t || !obj) return;
    if (obj.metadata.deletionTimestamp) {
      if (hasFinalizer(obj, ORPHAN_FINALIZER)) return this.orphanDependents(t, obj);
      if (hasFinalizer(obj, FOREGROUND_FINALIZER)) return this.deleteDependents(t, obj);
      return;
    }
    if (obj.metadata.ownerReferences?.length) await this.checkOwners(t, obj);
  }

  /** Orphan: drop the ownerReference from every dependent, then the finalizer. */
  private async orphanDependents(t: Tracked, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    for (const d of this.dependentsOf(uid)) {
      await mutate(d.t.api, d.obj, (o) => {
        const refs = o.metadata.ownerReferences ?? [];
        const kept = refs.filter((r) => r.uid !== uid);
        if (kept.length === refs.length) return false;
        if (kept.length) o.metadata.ownerReferences = kept;
        else delete o.metadata.ownerReferences;
        return true;
      });
    }
    await this.removeFinalizer(t, owner, ORPHAN_FINALIZER);
    this.log.info({ object: objectKey(owner), kind: t.info.kind }, 'orphaned dependents');
  }

  /** Foreground: delete the dependents; remove the finalizer once none that block owner deletion remain. */
  private async deleteDependents(t: Tracked, owner: KubeObject): Promise<void> {
    const uid = owner.metadata.uid!;
    let blocking = 0;
    for (const d of this.dependentsOf(uid)) {
      const ref = d.obj.metadata.ownerReferences?.find((r) => r.uid === uid);
      if (ref?.blockOwnerDeletion) blocking++;
      if (d.obj.metadata.deletionTimestamp) continue;
      // Foreground again where there are grandchildren, so the whole tree goes bottom-up.
      const policy = d.obj.metadata.uid && this.dependentsOf(d.obj.metadata.uid).length > 0 ? 'Foreground' : 'Background';
      await deleteObject(d.t.api, d.obj, policy);
      this.log.info({ object: objectKey(d.obj), kind: d.t.info.kind, owner: objectKey(owner), propagationPolicy: policy }, 'deleting dependent of foreground-deleted owner');
    }
    if (blocking > 0) return; // their DELETED events bring us back
    await this.removeFinalizer(t, owner, FOREGROUND_FINALIZER);
    this.log.info({ object: objectKey(owner), kind: t.info.kind }, 'dependents gone; foreground deletion finished');
  }

  /** Deletes the object if all of its owners are gone; drops the gone ones if some remain. */
  private async checkOwners(t: Tracked, obj: KubeObject): Promise<void> {
    const refs = obj.metadata.ownerReferences ?? [];
    const absent: OwnerReference[] = [];
    for (const ref of refs) if ((await this.ownerState(t, obj, ref)) === 'absent') absent.push(ref);
    if (absent.length === 0) return;
    if (absent.length === refs.length) {
      await deleteObject(t.api, obj, 'Background');
      this.log.info({ object: objectKey(obj), kind: t.info.kind, owners: absent.map((r) => `${r.kind}/${r.name}`) }, 'deleted object whose owners are gone');
      return;
    }
    const gone = new Set(absent.map((r) => r.uid));
    await mutate(t.api, obj, (o) => {
      const kept = (o.metadata.ownerReferences ?? []).filter((r) => !gone.has(r.uid));
      if (kept.length === (o.metadata.ownerReferences ?? []).length) return false;
      o.metadata.ownerReferences = kept;
      return true;
    });
    this.log.info({ object: objectKey(obj), kind: t.info.kind, removed: absent.map((r) => `${r.kind}/${r.name}`) }, 'removed references to owners that are gone');
  }

  /** Whether the owner of `ref` exists: the cache first, then a live GET compared by uid. */
  private async ownerState(t: Tracked, dependent: KubeObject, ref: OwnerReference): Promise<OwnerState> {
    if (!ref.uid || !ref.name) return 'unknown';
    const info = resourceForKind(ref.apiVersion, ref.kind);
    // A kind this cluster does not serve: we cannot tell, so we never delete on its account.
    if (!info) return 'unknown';
    // A namespaced owner of a cluster-scoped dependent is invalid in Kubernetes; leave such objects alone.
    if (info.namespaced && !t.info.namespaced) return 'unknown';
    const cached = this.tracked.get(resId(info));
    if (cached?.informer.store.countIndexed(UID_INDEX, ref.uid)) return 'present';
    const api = cached?.api ?? this.client.resource<KubeObject>(info);
    try {
      const live = await api.get(info.namespaced ? dependent.metadata.namespace : undefined, ref.name);
      return live.metadata.uid === ref.uid ? 'present' : 'absent';
    } catch (err) {
      if (isReason(err, 'NotFound')) return 'absent';
      throw err;
    }
  }

  private async removeFinalizer(t: Tracked, obj: KubeObject, finalizer: string): Promise<void> {
    await mutate(t.api, obj, (o) => {
      const list = o.metadata.finalizers ?? [];
      if (!list.includes(finalizer)) return false;
      o.metadata.finalizers = list.filter((f) => f !== finalizer);
      return true;
    });
  }
}

function hasFinalizer(o: KubeObject, ...names: string[]): boolean {
  return (o.metadata.finalizers ?? []).some((f) => names.includes(f));
}

/** Deletes one object by uid precondition; gone already (or replaced by a namesake) counts as done. */
async function deleteObject(api: ResourceClient<KubeObject>, obj: KubeObject, propagationPolicy: 'Background' | 'Foreground'): Promise<void> {
  try {
    await api.delete(obj.metadata.namespace, obj.metadata.name!, { propagationPolicy, preconditions: { uid: obj.metadata.uid } });
  } catch (err) {
    if (isReason(err, 'NotFound') || (isReason(err, 'Conflict') && /UID/i.test(errMessage(err)))) return;
    throw err;
  }
}

/**
 * Read-modify-write of the live object with compare-and-swap, retried on
 * 409; `change` edits it in place and returns false when nothing is to do.
 */
async function mutate(api: ResourceClient<KubeObject>, obj: KubeObject, change: (o: KubeObject) => boolean): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let cur: KubeObject;
    try {
      cur = await api.get(obj.metadata.namespace, obj.metadata.name!);
    } catch (err) {
      if (isReason(err, 'NotFound')) return;
      throw err;
    }
    if (cur.metadata.uid !== obj.metadata.uid) return;
    if (!change(cur)) return;
    try {
      await api.update(cur);
      return;
    } catch (err) {
      if (isReason(err, 'NotFound')) return;
      if (!isReason(err, 'Conflict') || attempt === 4) throw err;
    }
  }
}
