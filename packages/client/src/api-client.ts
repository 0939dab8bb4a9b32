/**
 * The client contract every component codes against. RestClient speaks
 * HTTP to an apiserver; FakeApiClient (in `@flotilla/client/testing`) keeps
 * everything in memory. Both resolve resources the same way.
 */
import {
  groupVersion,
  resourceByName,
  resourceForKind,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type ResourceInfo,
  type Scale,
  type WatchEvent,
} from '@flotilla/api';

/** What the client needs to know about a resource to address it. */
export type ResourceRef = Pick<ResourceInfo, 'group' | 'version' | 'kind' | 'plural' | 'namespaced'> & Partial<Pick<ResourceInfo, 'fieldLabels'>>;

/** How to name a resource: its info, a name (`pods`, `po`, `deployments.apps`) or an apiVersion+kind. */
export type ResourceTarget = ResourceRef | string | { apiVersion: string; kind: string };

/** Query options of a list (and of the list that starts a watch). */
export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the server returns `metadata.continue` when more remain. */
  limit?: number;
  /** Token from the previous page's `metadata.continue`. */
  continue?: string;
  /** `0` = any (possibly cached) version; unset = most recent. */
  resourceVersion?: string;
  /**
   * Leave out each object's metadata.managedFields (Flotilla's
   * `omitManagedFields=true`; a Kubernetes apiserver ignores it and sends them).
   */
  omitManagedFields?: boolean;
  /** Aborts the request (clients whose requests cannot hang may ignore it). */
  signal?: AbortSignal;
}

/** Options of a get. */
export interface GetOptions {
  /**
   * `0` = any version, possibly the server's cached copy (cheaper, and not
   * held up by a slow etcd; what the kubelet reads its Node with before a
   * status update); unset = the most recent.
   */
  resourceVersion?: string;
  /** Gives the request up (it rejects with the signal's reason; the connection is not reused). */
  signal?: AbortSignal;
}

/** Options of a create or an update. */
export interface WriteOptions {
  /** Gives the request up; whether the write was applied is then unknown, as after a dropped connection. */
  signal?: AbortSignal;
}

/** Options of a watch. */
export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this version; unset = synthetic ADDED events for the current state first. */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /**
   * Leave out each object's metadata.managedFields (Flotilla's
   * `omitManagedFields=true`; a Kubernetes apiserver ignores it and sends them).
   */
  omitManagedFields?: boolean;
  /** Ask the server to end the watch after this many seconds. */
  timeoutSeconds?: number;
  /** Ends the watch (the iterator returns). */
  signal?: AbortSignal;
  /**
   * A cheap prefilter on the raw event line: lines it returns true for are
   * not parsed, and a BOOKMARK carrying the line's resourceVersion stands in
   * for each (so a resumed watch starts after them). Clients that do not read
   * lines (in-memory fakes) may ignore it: it only saves work.
   */
  skipLine?: (line: string) => boolean;
}

/** Patch flavours and their content types. */
export type PatchType = 'merge' | 'json' | 'strategic';

/** Content type of each patch flavour. */
export const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** Operations on one resource type. Namespace `undefined` means all namespaces, or cluster-scoped. */
export interface ResourceClient<T extends KubeObject = KubeObject> {
  readonly resource: ResourceRef;
  get(namespace: string | undefined, name: string, options?: GetOptions): Promise<T>;
  list(namespace?: string, options?: ListOptions): Promise<KubeList<T>>;
  /** Creates in `obj.metadata.namespace` (namespaced resources default to `default`). */
  create(obj: T, options?: WriteOptions): Promise<T>;
  /** Replaces the object; `metadata.resourceVersion` makes it compare-and-swap (409 Conflict). */
  update(obj: T, options?: WriteOptions): Promise<T>;
  /** Writes only `.status` through the status subresource. */
  updateStatus(obj: T, options?: WriteOptions): Promise<T>;
  patch(namespace: string | undefined, name: string, patch: unknown, type?: PatchType): Promise<T>;
  /** Patches through the status subresource. */
  patchStatus(namespace: string | undefined, name: string, patch: unknown, type?: PatchType): Promise<T>;
  /** Deletes; resolves with the object when the server returns it (e.g. pending finalizers), else undefined. */
  delete(namespace: string | undefined, name: string, options?: DeleteOptions): Promise<T | undefined>;
  /** A stream of changes; 410 Gone (and other ERROR events) throw ApiError, a dropped connection ends it. */
  watch(namespace?: string, options?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  getScale(namespace: string, name: string): Promise<Scale>;
  updateScale(namespace: string, name: string, scale: Scale): Promise<Scale>;
}

/** The whole API as clients see it. */
export interface ApiClient {
  /** Operations on one resource type. */
  resource<T extends KubeObject = KubeObject>(target: ResourceTarget): ResourceClient<T>;
  /** Binds a pod to a node (POST pods/{name}/binding): what the scheduler writes. */
  bind(namespace: string, podName: string, nodeName: string): Promise<void>;
  /**
   * This client with every request made through it aborted when `signal`
   * aborts (RestClient.withSignal). Optional: a client whose requests
   * cannot hang (the in-memory one of tests) need not have it.
   */
  withSignal?(signal: AbortSignal): ApiClient;
}

/**
 * The requests of work that finishes what it has in hand when it stops (a
 * controller's item, a scheduler's bindings): made through `client`, those
 * still in flight `graceMs` after the stop are given up, rather than held
 * for the response timeout by an apiserver that stopped answering.
 */
export class StopGrace {
  /** What the work makes its requests through. */
  readonly client: ApiClient;
  private readonly requests = new AbortController();

  constructor(
    client: ApiClient,
    private readonly graceMs: number,
  ) {
    this.client = client.withSignal?.(this.requests.signal) ?? client;
  }

  /** Gives the requests up `graceMs` after `stop` aborts, unless the returned function (the work is over) is called first. */
  arm(stop: AbortSignal): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const giveUp = () => {
      timer = setTimeout(() => this.requests.abort(), this.graceMs);
      timer.unref();
    };
    if (stop.aborted) giveUp();
    else stop.addEventListener('abort', giveUp, { once: true });
    return () => {
      stop.removeEventListener('abort', giveUp);
      clearTimeout(timer);
    };
  }
}

/** Resolves a target to its resource; throws a plain Error naming what was not found. */
export function resolveResource(target: ResourceTarget): ResourceRef {
  if (typeof target === 'string') {
    const info = resourceByName(target);
    if (!info) throw new Error(`unknown resource "${target}"`);
    return info;
  }
  if ('plural' in target) return target;
  const info = resourceForKind(target.apiVersion, target.kind);
  if (!info) throw new Error(`unknown kind "${target.kind}" in "${target.apiVersion}"`);
  return info;
}

/** The URL path of a collection, an object, or one of its subresources. */
export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const prefix = ref.group ? `/apis/${groupVersion(ref)}` : `/api/${ref.version}`;
  let path = prefix;
  if (ref.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${ref.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

/** A query string (with leading `?`) of the defined options, or '' when none. */
export function queryString(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The namespace an object is written to. */
export function namespaceOf(ref: ResourceRef, obj: KubeObject): string | undefined {
  return ref.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
}
