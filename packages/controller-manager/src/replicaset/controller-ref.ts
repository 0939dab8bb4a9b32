/**
 * Claiming dependents the way Kubernetes' ControllerRefManager does: a
 * controller owns the objects whose controller ownerReference names it,
 * adopts orphans its selector matches, and releases owned objects its
 * selector no longer matches. Used for ReplicaSet → Pods and
 * Deployment → ReplicaSets.
 */
import { ApiError, controllerRef, isReason, type KubeObject, type OwnerReference, type Selector } from '@flotilla/api';
import type { ResourceClient } from '@flotilla/client';

/** What claim() needs to know about the owner and its dependents. */
export interface ClaimOptions<T extends KubeObject> {
  owner: KubeObject;
  ownerApiVersion: string;
  ownerKind: string;
  selector: Selector;
  /** The dependents' resource, for the adopt/release patches. */
  dependents: ResourceClient<T>;
  /** A fresh read of the owner: adoption stops if it is gone or being deleted (stale caches must not adopt). */
  getOwner(): Promise<KubeObject>;
}

/** The controller ownerReference an owner puts on its dependents. */
export function newControllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/**
 * Returns the objects the owner controls after adopting matching orphans
 * and releasing non-matching owned ones. Objects owned by another
 * controller are never touched. Throws the first write error after trying
 * every object (a NotFound just means the object is gone).
 */
export async function claim<T extends KubeObject>(opts: ClaimOptions<T>, objects: readonly T[]): Promise<T[]> {
  const { owner, selector } = opts;
  const claimed: T[] = [];
  const errors: unknown[] = [];
  let adoptable: Promise<void> | undefined;
  const canAdopt = () =>
    (adoptable ??= opts.getOwner().then((fresh) => {
      if (fresh.metadata.uid !== owner.metadata.uid) throw new ApiError('Conflict', `original ${opts.ownerKind} ${owner.metadata.namespace}/${owner.metadata.name} is gone: got uid ${fresh.metadata.uid}, wanted ${owner.metadata.uid}`);
      if (fresh.metadata.deletionTimestamp) throw new ApiError('Conflict', `${opts.ownerKind} ${owner.metadata.namespace}/${owner.metadata.name} has just been deleted at ${fresh.metadata.deletionTimestamp}`);
    }));
  for (const obj of objects) {
    const ref = controllerRef(obj);
    const matches = selector.matches(obj.metadata.labels);
    try {
      if (ref) {
        if (ref.uid !== owner.metadata.uid) continue;
        if (matches) {
          claimed.push(obj);
          continue;
        }
        if (owner.metadata.deletionTimestamp) continue;
        await release(opts, obj);
        continue;
      }
      if (owner.metadata.deletionTimestamp || !matches || obj.metadata.deletionTimestamp) continue;
      if (obj.metadata.namespace !== owner.metadata.namespace) continue;
      await canAdopt();
      await adopt(opts, obj);
      claimed.push(obj);
    } catch (err) {
      if (!isReason(err, 'NotFound')) errors.push(err);
    }
  }
  if (errors.length) throw errors[0];
  return claimed;
}

async function adopt<T extends KubeObject>(opts: ClaimOptions<T>, obj: T): Promise<void> {
  const refs = [...(obj.metadata.ownerReferences ?? []), newControllerRef(opts.owner, opts.ownerApiVersion, opts.ownerKind)];
  // The resourceVersion makes it compare-and-swap: the list is replaced whole, so it must be the list we saw.
  await opts.dependents.patch(obj.metadata.namespace, obj.metadata.name!, { metadata: { ownerReferences: refs, resourceVersion: obj.metadata.resourceVersion } }, 'merge');
}

async function release<T extends KubeObject>(opts: ClaimOptions<T>, obj: T): Promise<void> {
  const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== opts.owner.metadata.uid);
  await opts.dependents.patch(
    obj.metadata.namespace,
    obj.metadata.name!,
    { metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: obj.metadata.resourceVersion } },
    'merge',
  );
}
