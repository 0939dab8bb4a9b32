/**
 * The lookups every owning controller makes to map an event on a dependent
 * back to its owner: parse (once) the owners' selectors, resolve a
 * controller ownerReference against the owner cache, and run over the
 * informers they asked the shared factory for. owning-controller.ts builds
 * the shared handlers and harness on them.
 */
import { labelSelectorFromObject, type KubeObject, type LabelSelector, type OwnerReference, type Selector } from '@flotilla/api';
import type { Informer, ReadonlyStore } from '@flotilla/client';

/** An owner whose spec carries a label selector (ReplicaSet, Deployment, DaemonSet, Job). */
export type SelectingObject = KubeObject & { spec?: { selector?: LabelSelector | null } };

/**
 * Parsed selectors per cached object, null when the selector is invalid.
 * Cache entries are replaced on update, never mutated, so keying by the
 * object itself is never stale and drops with it.
 */
export class SelectorCache<T extends SelectingObject> {
  private readonly selectors = new WeakMap<T, Selector | null>();

  /** The selector of `obj`, parsed on first use. */
  get(obj: T): Selector | null {
    let s = this.selectors.get(obj);
    if (s === undefined) {
      try {
        s = labelSelectorFromObject(obj.spec?.selector);
      } catch {
        s = null;
      }
      this.selectors.set(obj, s);
    }
    return s;
  }
}

/** The `kind` owner a controller ref points at, if it is in `store` with the same uid. */
export function resolveControllerRef<T extends KubeObject>(store: Pick<ReadonlyStore<T>, 'get'>, kind: string, namespace: string | undefined, ref: OwnerReference | undefined): T | undefined {
  if (!ref || ref.kind !== kind || !namespace) return undefined;
  const owner = store.get(`${namespace}/${ref.name}`);
  return owner && owner.metadata.uid === ref.uid ? owner : undefined;
}

/** Starts each informer unless something (the manager's factory) already runs it. */
export function startInformers(informers: readonly Informer<KubeObject>[], signal: AbortSignal): void {
  for (const inf of informers) if (!inf.isRunning()) inf.start(signal);
}

/** Resolves true once every informer has synced (false if `signal` aborts first). */
export async function informersSynced(informers: readonly Informer<KubeObject>[], signal?: AbortSignal): Promise<boolean> {
  const r = await Promise.all(informers.map((i) => i.waitForSync(signal)));
  return r.every(Boolean);
}
