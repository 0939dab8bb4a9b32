/**
 * Which Secrets and ConfigMaps each node may read, after Kubernetes' node
 * authorizer graph: a node may get exactly those referenced by the pods
 * bound to it (env key refs, envFrom, configMap/secret volumes). Kept from a
 * watch on every pod; `confirm` re-checks one namespace against the store
 * for a request the watch has not caught up with (a pod bound a moment ago).
 */
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import type { KubeObject, Pod } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';
import type { Storage } from '@flotilla/store';

/** The resources the graph answers for. */
export type NodeReadableRef = 'secrets' | 'configmaps';

/** `secrets/ns/name` keys of what a pod references (pods reference objects of their own namespace only). */
export function podReferences(pod: Pod): string[] {
  const ns = pod.metadata?.namespace ?? '';
  const out = new Set<string>();
  const spec = pod.spec;
  const add = (kind: NodeReadableRef, name: unknown) => {
    if (typeof name === 'string' && name !== '') out.add(`${kind}/${ns}/${name}`);
  };
  const list = (l: unknown) => (Array.isArray(l) ? (l as NonNullable<typeof spec>['containers']) : []);
  for (const c of [...list(spec?.initContainers), ...list(spec?.containers), ...list(spec?.ephemeralContainers)]) {
    for (const e of Array.isArray(c?.env) ? c.env : []) {
      add('configmaps', e?.valueFrom?.configMapKeyRef?.name);
      add('secrets', e?.valueFrom?.secretKeyRef?.name);
    }
    for (const f of Array.isArray(c?.envFrom) ? c.envFrom : []) {
      add('configmaps', f?.configMapRef?.name);
      add('secrets', f?.secretRef?.name);
    }
  }
  for (const v of Array.isArray(spec?.volumes) ? spec!.volumes : []) {
    add('configmaps', v?.configMap?.name);
    add('secrets', v?.secret?.secretName);
  }
  return [...out];
}

/**
 * False when the stored JSON of a pod cannot reference a Secret or ConfigMap:
 * every field podReferences reads is named `configMap…` or `secret…`. The
 * apiserver writes pods as JSON.stringify does, so such a name appears as is;
 * a pod written otherwise and missed here only makes a node's read of it go
 * to `confirm`, which reads the pods themselves. (Without the key's opening
 * quote: JSON is full of quotes, and the search was ten times slower.)
 */
export function mayReference(podJson: string): boolean {
  return podJson.includes('configMap') || podJson.includes('secret');
}

const nodeOf = (pod: KubeObject): string | undefined => {
  const n = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
  return typeof n === 'string' && n !== '' ? n : undefined;
};

/** Pods of the first list looked at between two turns of the event loop. */
const APPLY_YIELD_EVERY = 2_000;

/** The node → referenced objects graph, fed by a watch on pods. */
export class NodeGraph {
  private readonly pods = new Map<string, { node: string; refs: string[] }>();
  private readonly edges = new Map<string, Map<string, number>>();
  private synced = false;

  constructor(
    private readonly storage: Storage,
    private readonly log?: Logger,
  ) {}

  /** True when a pod bound to `node` references `resource/namespace/name`. */
  allows(node: string, resource: NodeReadableRef, namespace: string, name: string): boolean {
    return (this.edges.get(node)?.get(`${resource}/${namespace}/${name}`) ?? 0) > 0;
  }

  /** A consistent answer for one object: the pods of its namespace, read from the store now. */
  async confirm(node: string, resource: NodeReadableRef, namespace: string, name: string): Promise<boolean> {
    const ref = `${resource}/${namespace}/${name}`;
    const { items } = await this.storage.list('pods', namespace, { predicate: (p) => nodeOf(p) === node });
    return items.some((p) => podReferences(p as Pod).includes(ref));
  }

  /** Keeps the graph until `signal` aborts: list, then watch; a failed watch lists again. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        // As text: only a pod that may reference a Secret or ConfigMap is decoded (at 150,000 pods, decoding
        // every one was a second of the restarted apiserver's event loop for a graph of a few hundred edges).
        // From the read cache, once loaded: at a restart the cache loads every pod anyway.
        const list = await this.storage.list('pods', undefined, { jsonOnly: true, fromCache: true });
        this.pods.clear();
        this.edges.clear();
        for (const p of list.items) this.apply(p, false);
        const texts = list.json ?? [];
        for (let i = 0; i < texts.length; i++) {
          // The requests waiting meanwhile get a turn now and then.
          if (i > 0 && i % APPLY_YIELD_EVERY === 0) await setImmediatePromise();
          if (mayReference(texts[i]!)) this.apply(JSON.parse(texts[i]!) as KubeObject, false);
        }
        this.synced = true;
        for await (const ev of this.storage.watch('pods', undefined, { resourceVersion: list.resourceVersion, signal })) {
          this.apply(ev.object, ev.type === 'DELETED');
        }
      } catch (err) {
        if (signal.aborted) return;
        this.log?.warn({ err: (err as Error).message }, 'node authorizer graph: pod watch failed; listing again');
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  }

  /** True once the first list has been applied. */
  get ready(): boolean {
    return this.synced;
  }

  private apply(pod: KubeObject, deleted: boolean): void {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const before = this.pods.get(key);
    if (before) {
      const m = this.edges.get(before.node);
      for (const r of before.refs) {
        const n = (m?.get(r) ?? 1) - 1;
        if (n <= 0) m?.delete(r);
        else m?.set(r, n);
      }
      this.pods.delete(key);
    }
    const node = nodeOf(pod);
    if (deleted || !node) return;
    const refs = podReferences(pod as Pod);
    // A pod that references nothing adds no edge, and there is nothing to take back when it changes.
    if (refs.length === 0) return;
    this.pods.set(key, { node, refs });
    const m = this.edges.get(node) ?? new Map<string, number>();
    this.edges.set(node, m);
    for (const r of refs) m.set(r, (m.get(r) ?? 0) + 1);
  }
}
