/**
 * Per-kind work around writes that needs I/O, and so cannot live in the api
 * registry's pure strategies (Kubernetes wraps such kinds' generic REST
 * storage the same way, and runs admission plugins): a Service's cluster IP
 * and node ports, a pod's priority from its PriorityClass. The REST handlers
 * call these around the store for the kinds that have them, and know no kind
 * by name.
 */
import { ApiError, isReason, SYSTEM_PRIORITY_CLASSES, type KubeObject, type PodSpec, type PriorityClass, type ResourceInfo, type Service } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { ServiceAllocator } from './service-allocator.js';

/** Gives back what a hook took, when the write it was taken for failed. */
export type Undo = () => Promise<void>;

/** What a kind needs done around its writes besides its strategy. Every hook is optional. */
export interface KindHooks {
  /** Mutating admission of a create, after the strategy's prepareForCreate and before validation (a pod's priority). */
  admitCreate?(obj: KubeObject): Promise<void>;
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

/** The hook table of an apiserver: Service allocation when an allocator is given, pod priority admission over the store. */
export function kindHooks(options: { services?: ServiceAllocator | undefined; storage?: Storage | undefined } = {}): KindHookTable {
  const table = new Map<string, KindHooks>();
  if (options.services) table.set(hookKey({ group: '', plural: 'services' }), serviceHooks(options.services));
  if (options.storage) table.set(hookKey({ group: '', plural: 'pods' }), podPriorityHooks(options.storage));
  return table;
}

/** How long the global default PriorityClass read is reused. */
const DEFAULT_CLASS_CACHE_MS = 1000;

/** Kubernetes' Priority admission's refusal. */
function priorityForbidden(pod: KubeObject, why: string): ApiError {
  const name = pod.metadata.name ?? pod.metadata.generateName ?? '';
  return new ApiError('Forbidden', `pods "${name}" is forbidden: ${why}`, { name, kind: 'pods' });
}

/**
 * Kubernetes' Priority admission plugin: a pod naming a PriorityClass gets
 * its value in spec.priority (and its preemptionPolicy when the pod sets
 * none); a pod naming none gets the global default class, if one exists. An
 * unknown class, or a spec.priority other than the class's, is refused. The
 * system classes resolve even when not stored.
 */
export function podPriorityHooks(storage: Storage): KindHooks {
  const lookup = async (name: string): Promise<PriorityClass | undefined> => {
    const cached = storage.getCached?.('priorityclasses', undefined, name);
    if (cached) return cached as PriorityClass;
    try {
      return (await storage.get('priorityclasses', undefined, name)) as PriorityClass;
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
      const value = SYSTEM_PRIORITY_CLASSES[name];
      return value === undefined ? undefined : { metadata: { name }, value, preemptionPolicy: 'PreemptLowerPriority' };
    }
  };
  // Several defaults: the lowest value wins, as Kubernetes does.
  const lowest = (items: KubeObject[]) =>
    (items as PriorityClass[]).reduce<PriorityClass | undefined>((low, c) => (low === undefined || c.value < low.value ? c : low), undefined);
  const isDefault = (o: KubeObject) => (o as PriorityClass).globalDefault === true;
  // Read at most once a second: every pod create asks, and Kubernetes' admission reads a lister that lags as well.
  // From the store's in-memory copy when it can answer: a consistent list waits for the copy to catch up with
  // etcd (seconds under load), and every create of that second would wait with it.
  let defaultRead: { at: number; pc: Promise<PriorityClass | undefined> } | undefined;
  const globalDefault = (): Promise<PriorityClass | undefined> => {
    if (defaultRead && Date.now() - defaultRead.at < DEFAULT_CLASS_CACHE_MS) return defaultRead.pc;
    const cached = storage.listCached?.('priorityclasses', undefined, isDefault);
    const pc = cached ? Promise.resolve(lowest(cached)) : storage.list('priorityclasses', undefined, { predicate: isDefault }).then(({ items }) => lowest(items));
    defaultRead = { at: Date.now(), pc };
    pc.catch(() => (defaultRead = undefined));
    return pc;
  };
  return {
    admitCreate: async (pod) => {
      const spec = pod.spec as PodSpec | undefined;
      if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return;
      const named = typeof spec.priorityClassName === 'string' && spec.priorityClassName !== '' ? spec.priorityClassName : undefined;
      const pc = named !== undefined ? await lookup(named) : await globalDefault();
      if (named !== undefined && !pc) throw priorityForbidden(pod, `no PriorityClass with name ${named} was found`);
      // No class and no default: the pod is left as sent (priority 0 to the scheduler).
      if (!pc) return;
      const requested = spec.priority as unknown;
      if (requested !== undefined && requested !== null && requested !== pc.value) {
        throw priorityForbidden(pod, `the integer value of priority (${String(requested)}) must not be provided in pod spec; priority admission controller computed ${pc.value} from the given PriorityClass name`);
      }
      spec.priorityClassName = pc.metadata.name;
      spec.priority = pc.value;
      const withPolicy = spec as PodSpec & { preemptionPolicy?: string };
      if (withPolicy.preemptionPolicy === undefined && pc.preemptionPolicy) withPolicy.preemptionPolicy = pc.preemptionPolicy;
    },
  };
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
