/**
 * Per-kind work around writes that needs I/O, and so cannot live in the api
 * registry's pure strategies (Kubernetes wraps such kinds' generic REST
 * storage the same way): today a Service's cluster IP and node ports. The
 * REST handlers call these around the store for the kinds that have them,
 * and know no kind by name.
 */
import type { KubeObject, ResourceInfo, Service } from '@flotilla/api';
import type { ServiceAllocator } from './service-allocator.js';

/** Gives back what a hook took, when the write it was taken for failed. */
export type Undo = () => Promise<void>;

/** What a kind needs done around its writes besides its strategy. Every hook is optional. */
export interface KindHooks {
  /** Before an update of the object itself is validated (values the client left out carried over). */
  prepareUpdate?(next: KubeObject, cur: KubeObject): void;
  /** Before a create is stored: takes what it needs (and only checks that it could, on a dry run). */
  beforeCreate?(obj: KubeObject, dryRun: boolean): Promise<Undo | undefined>;
  /** Before an update of the object itself is stored, as beforeCreate. */
  beforeUpdate?(next: KubeObject, cur: KubeObject, dryRun: boolean): Promise<Undo | undefined>;
  /** After an update of the object itself was stored; `updated` has no finalizers and a deletionTimestamp when the update deleted it. */
  afterUpdate?(cur: KubeObject, updated: KubeObject): Promise<void>;
  /** After the object was really deleted (not only marked). */
  afterDelete?(deleted: KubeObject): Promise<void>;
}

/** The hooks of each kind that has any, by {@link hookKey}. */
export type KindHookTable = ReadonlyMap<string, KindHooks>;

/** The key of a resource in a KindHookTable: `group/plural` (`/services` for the core group). */
export function hookKey(info: Pick<ResourceInfo, 'group' | 'plural'>): string {
  return `${info.group}/${info.plural}`;
}

/** The hook table of an apiserver: Service allocation when an allocator is given. */
export function kindHooks(services?: ServiceAllocator): KindHookTable {
  const table = new Map<string, KindHooks>();
  if (services) table.set(hookKey({ group: '', plural: 'services' }), serviceHooks(services));
  return table;
}

/**
 * A Service's cluster IP and node ports, as kube-apiserver hands them out:
 * taken before the Service is stored and given back if storing fails, kept
 * across updates, the replaced ones freed after an update, all freed on delete.
 */
export function serviceHooks(alloc: ServiceAllocator): KindHooks {
  const undo = (taken: Awaited<ReturnType<ServiceAllocator['allocateCreate']>>): Undo => () => alloc.release(taken);
  return {
    prepareUpdate: (next, cur) => alloc.prepareUpdate(next as Service, cur as Service),
    beforeCreate: async (obj, dryRun) => {
      const taken = await alloc.allocateCreate(obj as Service, dryRun);
      return dryRun ? undefined : undo(taken);
    },
    beforeUpdate: async (next, cur, dryRun) => {
      const taken = await alloc.allocateUpdate(next as Service, cur as Service, dryRun);
      return dryRun ? undefined : undo(taken);
    },
    afterUpdate: async (cur, updated) => {
      // An update that removed the last finalizer deleted the Service.
      const gone = !!updated.metadata.deletionTimestamp && !updated.metadata.finalizers?.length;
      if (gone) await alloc.release(alloc.valuesOf(updated as Service));
      else await alloc.releaseReplaced(cur as Service, updated as Service);
    },
    afterDelete: (deleted) => alloc.release(alloc.valuesOf(deleted as Service)),
  };
}
